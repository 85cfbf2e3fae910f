// Package dealer routes remote procedure calls: registrations (single,
// shared with an invocation policy, prefix and wildcard patterns with the
// WAMP precedence), calls with caller disclosure, timeouts, cancelling,
// progressive results and invocations and payload passthru, and the
// registration meta API and events.
//
// The dealer sits in front of nexus the way the broker does: a session's
// CALL, CANCEL, REGISTER, UNREGISTER, YIELD and INVOCATION ERROR are handed
// to its Session by the reader goroutine of the session's connection, and
// every answer is queued on the receiving session's Conn (a byte-bounded
// queue for clients). There is no goroutine per realm: calls of different
// sessions proceed on different cores, and each call is guarded by its own
// lock. In-process sessions (the HTTP bridge, the router's own callers)
// join with JoinLocal and use the same path.
package dealer
