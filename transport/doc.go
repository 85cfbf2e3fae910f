// Package transport holds switchboard's own WAMP peers over WebSocket and
// RawSocket: a bounded outbound queue per session, writes with deadlines that
// flush what is queued before the connection closes (so GOODBYE and ABORT
// reach the client), inbound size limits, keepalive pings, and a protocol
// ABORT for messages that cannot be decoded.
package transport
