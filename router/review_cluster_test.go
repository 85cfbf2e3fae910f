package router_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// twoNodes starts two switchboard nodes on one NATS server.
func twoNodes(t *testing.T) (a, b *routertest.Server) {
	t.Helper()
	ns := startNATSCluster(t, 1)[0]
	var nodes []*routertest.Server
	for i := range 2 {
		nodes = append(nodes, routertest.Start(t, func(c *config.Config) {
			c.Cluster.NATS.URL = ns.ClientURL()
			c.Cluster.Node = fmt.Sprintf("review-%d", i)
		}))
	}
	return nodes[0], nodes[1]
}

// nextChanEvent returns the next event on ch, failing after 5 s.
func nextChanEvent(t *testing.T, ch <-chan *wamp.Event, what string) *wamp.Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no event within 5s", what)
		return nil
	}
}

// TestClusterPublisherDisclosure: a publisher on B that discloses itself
// is identified to a subscriber on A (session, authid, authrole, as on
// one node); one that does not is not, though its identity travels in
// the NATS message.
func TestClusterPublisherDisclosure(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	sub := a.Dial(t, 0, "json", client.Config{})
	pub := b.Dial(t, 1, "msgpack", client.Config{})
	events := make(chan *wamp.Event, 100)
	must(t, sub.SubscribeChan("app.who", events, nil))
	awaitInterest(t, pub, "app.who", events)
	pubAuthID, _ := wamp.AsString(pub.RealmDetails()["authid"])

	must(t, pub.Publish("app.who", wamp.Dict{"acknowledge": true}, wamp.List{"hidden"}, nil))
	ev := nextChanEvent(t, events, "undisclosed")
	for _, k := range []string{"publisher", "publisher_authid", "publisher_authrole"} {
		if _, ok := ev.Details[k]; ok {
			t.Errorf("undisclosed publication from another node carries %s: %v", k, ev.Details)
		}
	}
	must(t, pub.Publish("app.who", wamp.Dict{"acknowledge": true, "disclose_me": true}, wamp.List{"shown"}, nil))
	ev = nextChanEvent(t, events, "disclosed")
	if asID(ev.Details["publisher"]) != pub.ID() || ev.Details["publisher_authid"] != pubAuthID || ev.Details["publisher_authrole"] != "anonymous" {
		t.Errorf("disclosed publication from another node: details %v, want publisher %d, authid %s, authrole anonymous",
			ev.Details, pub.ID(), pubAuthID)
	}
}

// TestClusterRetainedAcrossNodes: a retained publication on B, while A
// has a subscriber to its topic (so A receives it), is retained on A too:
// a later subscriber on A that asks for get_retained gets it, as it would
// on B. The retain option is not among those forwarded, so A delivers the
// event live but keeps nothing.
func TestClusterRetainedAcrossNodes(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	first := a.Dial(t, 0, "json", client.Config{})
	pub := b.Dial(t, 0, "json", client.Config{})
	events := make(chan *wamp.Event, 100)
	must(t, first.SubscribeChan("app.retained", events, nil))
	awaitInterest(t, pub, "app.retained", events)

	must(t, pub.Publish("app.retained", wamp.Dict{"acknowledge": true, "retain": true}, wamp.List{"kept"}, nil))
	if ev := nextChanEvent(t, events, "live event on A"); len(ev.Arguments) == 0 || ev.Arguments[0] != "kept" {
		t.Fatalf("live event on A: %v", ev.Arguments)
	}
	// A WAMP wire, not the nexus client: it drops an EVENT that comes
	// right after SUBSCRIBED, which is when retained events come.
	for name, srv := range map[string]*routertest.Server{"B (the publisher's node)": b, "A": a} {
		late := dialWire(t, srv, 1, "msgpack", wireHello{})
		sub := late.subscribe("app.retained", wamp.Dict{"get_retained": true})
		msg, err := late.recvWithin(3 * time.Second)
		if err != nil {
			t.Errorf("%s: a new subscriber with get_retained got no retained event: %v", name, err)
			continue
		}
		ev, ok := msg.(*wamp.Event)
		if !ok || ev.Subscription != sub || len(ev.Arguments) == 0 || ev.Arguments[0] != "kept" || ev.Details["retained"] != true {
			t.Errorf("%s: got %v, want the retained EVENT", name, msg)
		}
	}
}
