// Package bridge is the HTTP bridge: backends publish (POST /publish, one
// event or a batch) and call procedures (POST /call) with plain HTTP,
// authenticated by Crossbar-compatible request signatures or bearer tokens,
// each key acting with its own authid and role. WAMP errors map to a
// documented table of HTTP statuses, always with Crossbar's error body
// {"error", "args", "kwargs"}.
package bridge
