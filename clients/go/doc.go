// Package switchboard is the Go client for backends that talk to a
// switchboard (or any WAMP v2) router: a session that reconnects by itself
// with exponential backoff and jitter, joins again and restores its
// subscriptions and registrations; calls that fail fast with ErrNotConnected
// while the router is away (or wait, by option) and never hang; typed
// errors; context-aware calls. It wraps the nexus client and imports no
// other package of switchboard. Package httpbridge is the HTTP bridge
// client, for services that do not keep a WAMP session.
package switchboard
