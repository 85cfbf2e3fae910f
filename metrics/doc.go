// Package metrics defines switchboard's Prometheus metrics on an injected
// registry (two routers in one process never collide): names
// switchboard_<subsystem>_<name>, bounded labels only (realm, transport,
// message type, method, reason, endpoint, status), never a topic,
// procedure or authid.
package metrics
