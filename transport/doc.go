// Package transport holds switchboard's own WAMP peers over WebSocket and
// RawSocket: a bounded outbound queue per session, writes with deadlines that
// flush what is queued before the connection closes (so GOODBYE and ABORT
// reach the client), inbound size limits, keepalive pings, and a protocol
// ABORT for messages that cannot be decoded.
//
// Goroutines: a peer's writer (peer_write.go) runs only while there is
// something to write. Its reader (peer_read.go) runs while the client sends;
// with a Poller (Linux, epoll), a client silent for IdleAfter has its
// connection watched by the poller's single goroutine instead, and a reader
// starts again when input arrives. An idle session thus costs no goroutine
// of its own here (nexus keeps one per session).
//
// WebSocket frames are read and written here (websocket.go, RFC 6455);
// gorilla/websocket only performs the opening handshake.
package transport
