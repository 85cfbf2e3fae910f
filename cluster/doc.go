// Package cluster makes several switchboard nodes one router over NATS.
//
// Publish/subscribe: a node subscribes to NATS subjects only for the
// topics its sessions are subscribed to (reference-counted by the broker's
// Interest calls), one subject per WAMP URI with each component escaped
// (subject.go). A publication accepted on a node is sent once to NATS, on
// its topic's subject; every interested node receives it once (its NATS
// subscriptions share one channel and a publication that several of them
// match is delivered once) and fans it out with the broker's encode-once
// path. Core NATS delivers at most once, in order per publishing node:
// the events of one WAMP publisher reach each subscriber in publish order.
package cluster
