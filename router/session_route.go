package router

import (
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/broker"
	"github.com/switchboard-wamp/switchboard/dealer"
	"github.com/switchboard-wamp/switchboard/transport"
)

// sessionRoute is what a welcomed session's messages meet before nexus:
// the broker takes publish/subscribe and the subscription meta API, the
// dealer takes the RPC messages and the registration meta API; nexus keeps
// GOODBYE and the session meta API (wamp.session.*).
type sessionRoute struct {
	broker *broker.Session
	dealer *dealer.Session
	// clusterMeta answers the session and subscription meta procedures for
	// every node of a cluster (nil on a single node).
	clusterMeta func(*wamp.Call) bool
	onLeave     func()
}

var _ transport.Route = (*sessionRoute)(nil)

func (r *sessionRoute) Handle(msg wamp.Message) bool {
	// In a cluster, the session and subscription meta procedures answer for
	// every node.
	if call, ok := msg.(*wamp.Call); ok && r.clusterMeta != nil && r.clusterMeta(call) {
		return true
	}
	if r.broker.Handle(msg) { // pub/sub, wamp.subscription.*, testaments
		return true
	}
	return r.dealer.Handle(msg)
}

func (r *sessionRoute) Leave() {
	r.broker.Leave()
	r.dealer.Leave()
	if r.onLeave != nil {
		r.onLeave()
	}
}

// helloInfo is what the router takes from a client's HELLO before nexus
// sees it.
type helloInfo struct {
	// publisherIdentification: the subscriber accepts publisher details.
	publisherIdentification bool
	// caller and callee are the RPC features the client announced.
	caller, callee dealer.Features
}

// readHello notes what switchboard's broker and dealer need from the
// HELLO, then removes every role's features: nexus copies and keeps every
// announced feature for the session's lifetime (about 1 KiB for
// autobahn.js's), but routes neither publish/subscribe nor calls of remote
// sessions. The roles themselves stay (nexus requires one).
func readHello(hello *wamp.Hello) helloInfo {
	roles := childMap(hello.Details, "roles")
	var info helloInfo
	info.publisherIdentification, _ = childMap(childMap(roles, wamp.RoleSubscriber), "features")[wamp.FeaturePubIdent].(bool)
	info.caller = dealer.ReadFeatures(hello.Details, wamp.RoleCaller)
	info.callee = dealer.ReadFeatures(hello.Details, wamp.RoleCallee)
	for _, role := range []string{wamp.RolePublisher, wamp.RoleSubscriber, wamp.RoleCaller, wamp.RoleCallee} {
		if m := childMap(roles, role); m != nil {
			delete(m, "features")
		}
	}
	return info
}

// childMap returns m[key] if it is a map, without copying it.
func childMap(m map[string]any, key string) map[string]any {
	switch c := m[key].(type) {
	case wamp.Dict:
		return c
	case map[string]any:
		return c
	}
	return nil
}
