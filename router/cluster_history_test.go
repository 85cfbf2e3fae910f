package router_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// historyNode starts a node on ns whose realm keeps the last 3 events of
// every app.feed. topic, and (on the exact topic app.news) the last 2.
func historyNode(t *testing.T, ns *natsserver.Server, name string) *routertest.Server {
	t.Helper()
	return routertest.Start(t, func(c *config.Config) {
		c.Cluster.NATS.URL = ns.ClientURL()
		c.Cluster.Node = name
		c.Cluster.HistoryReplicas = 3
		c.Realms[0].Options.EventHistory = []config.EventHistory{
			{Topic: "app.feed.", Match: "prefix", Limit: 3}, {Topic: "app.news", Match: "exact", Limit: 2},
		}
	})
}

// awaitHistoryStream waits until a node has created realm1's history
// stream (JetStream elects its leader a moment after the NATS cluster
// starts; the nodes retry until it has).
func awaitHistoryStream(t *testing.T, ns *natsserver.Server) {
	t.Helper()
	awaitStream(t, ns, "SWITCHBOARD_HISTORY_realm1", "switchboard.pub.realm1.app.feed.probe")
}

// awaitStream waits until a node has created the JetStream stream name and
// it stores messages: a probe (no publication: readers skip it) published
// to probeSubject is acknowledged.
func awaitStream(t *testing.T, ns *natsserver.Server, name, probeSubject string) {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL())
	must(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	must(t, err)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.Stream(ctx, name)
		if err == nil {
			_, err = js.Publish(ctx, probeSubject, []byte("probe"))
		}
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s was not created within 30 s: %v", name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func getEvents(t *testing.T, c *client.Client, sub wamp.ID, limit int) []wamp.Dict {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	args := wamp.List{sub}
	if limit > 0 {
		args = append(args, limit)
	}
	res, err := c.Call(ctx, "wamp.subscription.get_events", nil, args, nil, nil)
	must(t, err)
	list, _ := wamp.AsList(res.Arguments[0])
	out := make([]wamp.Dict, len(list))
	for i, v := range list {
		out[i], _ = wamp.AsDict(v)
	}
	return out
}

// TestClusterHistory: events published on one node, with no subscriber
// anywhere, are kept in JetStream: get_events on another node, and on a
// node that started afterwards, answers them, each topic's last Limit,
// restricted publications left out, as one node's history does.
func TestClusterHistory(t *testing.T) {
	t.Parallel()
	servers := startNATSCluster(t, 3)
	a := historyNode(t, servers[0], "hist-a")
	b := historyNode(t, servers[1], "hist-b")
	awaitHistoryStream(t, servers[0])
	pub := a.Dial(t, 0, "json", client.Config{})
	ack := wamp.Dict{"acknowledge": true}
	for i := 1; i <= 5; i++ {
		must(t, pub.Publish("app.feed.1", ack, wamp.List{i}, nil))
	}
	must(t, pub.Publish("app.feed.2", ack, wamp.List{"two"}, nil))
	must(t, pub.Publish("app.feed.2", wamp.Dict{"acknowledge": true, "eligible": wamp.List{pub.ID()}}, wamp.List{"only-me"}, nil))
	for i := 1; i <= 3; i++ {
		must(t, pub.Publish("app.news", ack, wamp.List{fmt.Sprintf("news-%d", i)}, nil))
	}

	check := func(node *routertest.Server, what string) {
		t.Helper()
		reader := node.Dial(t, 0, "msgpack", client.Config{})
		noop := func(*wamp.Event) {}
		must(t, reader.Subscribe("app.feed.1", noop, nil))
		must(t, reader.Subscribe("app.feed.", noop, wamp.Dict{"match": "prefix"}))
		must(t, reader.Subscribe("app.news", noop, nil))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		lookup := func(topic, match string) wamp.ID {
			res, err := reader.Call(ctx, "wamp.subscription.lookup", nil, wamp.List{topic, wamp.Dict{"match": match}}, nil, nil)
			must(t, err)
			id, _ := wamp.AsID(res.Arguments[0])
			return id
		}
		args := func(evs []wamp.Dict) []any {
			var out []any
			for _, e := range evs {
				l, _ := wamp.AsList(e["args"])
				out = append(out, fmt.Sprint(l[0]))
			}
			return out
		}
		// Events reach JetStream through NATS: wait for the last one.
		deadline := time.Now().Add(10 * time.Second)
		for {
			if got := args(getEvents(t, reader, lookup("app.news", "exact"), 0)); len(got) == 2 && got[1] == "news-3" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: app.news's history never showed news-3", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if got := fmt.Sprint(args(getEvents(t, reader, lookup("app.feed.1", "exact"), 0))); got != "[3 4 5]" {
			t.Fatalf("%s: app.feed.1's history %s, want the last 3: [3 4 5]", what, got)
		}
		if got := fmt.Sprint(args(getEvents(t, reader, lookup("app.feed.1", "exact"), 2))); got != "[4 5]" {
			t.Fatalf("%s: app.feed.1's history with limit 2: %s, want [4 5]", what, got)
		}
		// The prefix subscription is the configured entry's pattern: every
		// topic's kept events, in publication order, the restricted one
		// left out.
		if got := fmt.Sprint(args(getEvents(t, reader, lookup("app.feed.", "prefix"), 0))); got != "[3 4 5 two]" {
			t.Fatalf("%s: the prefix subscription's history %s, want [3 4 5 two]", what, got)
		}
	}
	check(b, "another node")
	// A node that starts later, on the third NATS server, reads the same.
	check(historyNode(t, servers[2], "hist-c"), "a node started afterwards")
}

// TestClusterRetainedFromJetStream: a retained event published on one node
// with no subscriber anywhere reaches a new subscriber with get_retained on
// another node, and on a node started afterwards: the newest of each topic,
// for exact and pattern subscriptions, once.
func TestClusterRetainedFromJetStream(t *testing.T) {
	t.Parallel()
	servers := startNATSCluster(t, 3)
	a := historyNode(t, servers[0], "ret-a")
	b := historyNode(t, servers[1], "ret-b")
	awaitStream(t, servers[0], "SWITCHBOARD_RETAINED_realm1", "switchboard.ret.realm1.probe")
	pub := a.Dial(t, 0, "json", client.Config{})
	retain := wamp.Dict{"acknowledge": true, "retain": true}
	must(t, pub.Publish("app.state.1", retain, wamp.List{"v1"}, nil))
	must(t, pub.Publish("app.state.1", retain, wamp.List{"v2"}, nil))
	must(t, pub.Publish("app.state.2", retain, wamp.List{"x"}, nil))

	// received reads the retained EVENTs that follow a SUBSCRIBE, until
	// none comes for a moment.
	received := func(w *wire, sub wamp.ID) []string {
		var got []string
		for {
			msg, err := w.recvWithin(500 * time.Millisecond)
			if err != nil {
				return got
			}
			ev, ok := msg.(*wamp.Event)
			if !ok || ev.Subscription != sub || ev.Details["retained"] != true || len(ev.Arguments) == 0 {
				t.Fatalf("after a SUBSCRIBE with get_retained: %v", msg)
			}
			got = append(got, fmt.Sprint(ev.Arguments[0]))
		}
	}
	check := func(node *routertest.Server, what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for { // the last publication reaches JetStream through NATS
			w := dialWire(t, node, 0, "msgpack", wireHello{})
			got := received(w, w.subscribe("app.state.1", wamp.Dict{"get_retained": true}))
			if fmt.Sprint(got) == "[v2]" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: exact get_retained: %v, want [v2] (the newest, once)", what, got)
			}
			time.Sleep(100 * time.Millisecond)
		}
		w := dialWire(t, node, 0, "cbor", wireHello{})
		got := received(w, w.subscribe("app.state.", wamp.Dict{"get_retained": true, "match": "prefix"}))
		slices.Sort(got)
		if fmt.Sprint(got) != "[v2 x]" {
			t.Fatalf("%s: prefix get_retained: %v, want [v2 x]", what, got)
		}
	}
	check(b, "another node")
	check(a, "the publisher's node")
	check(historyNode(t, servers[2], "ret-c"), "a node started afterwards")
}

// TestClusterResume: a subscriber that resumes (_since) on a node that
// never had a subscriber to the topic gets every event published after its
// position, on whichever node, once and in order, then live ones; a
// position the cluster's history does not hold is a history_gap. A node
// that had a subscriber and lost it (so that its own history misses what
// came meanwhile) replays from the cluster's history too.
func TestClusterResume(t *testing.T) {
	t.Parallel()
	servers := startNATSCluster(t, 3)
	a := historyNode(t, servers[0], "res-a")
	b := historyNode(t, servers[1], "res-b")
	awaitHistoryStream(t, servers[0])

	pubA := dialWire(t, a, 0, "json", wireHello{})
	publish := func(w *wire, topic string, arg any) wamp.ID {
		t.Helper()
		req := w.req()
		w.send(&wamp.Publish{Request: req, Options: wamp.Dict{"acknowledge": true}, Topic: wamp.URI(topic), Arguments: wamp.List{arg}})
		return expectMsg[*wamp.Published](w, "publish "+topic).Publication
	}
	// B has a subscriber to the topic for a while, then loses it: B's own
	// history then stops at "1".
	early := dialWire(t, b, 0, "msgpack", wireHello{})
	early.subscribe("app.feed.r", nil)
	time.Sleep(300 * time.Millisecond) // B's interest reaches the other NATS servers
	position := publish(pubA, "app.feed.r", "1")
	if _, err := early.recvWithin(5 * time.Second); err != nil {
		t.Fatalf("the live event on B: %v", err)
	}
	early.close()
	time.Sleep(300 * time.Millisecond)
	publish(pubA, "app.feed.r", "2")
	publish(pubA, "app.feed.r", "3")
	// The last one reaches JetStream through NATS: wait until get_events
	// on A shows it.
	reader := a.Dial(t, 0, "json", client.Config{})
	noop := func(*wamp.Event) {}
	must(t, reader.Subscribe("app.feed.r", noop, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := reader.Call(ctx, "wamp.subscription.lookup", nil, wamp.List{"app.feed.r"}, nil, nil)
	must(t, err)
	sub, _ := wamp.AsID(res.Arguments[0])
	deadline := time.Now().Add(10 * time.Second)
	for len(getEvents(t, reader, sub, 0)) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the cluster's history never held 3 events")
		}
		time.Sleep(100 * time.Millisecond)
	}

	late := dialWire(t, b, 0, "cbor", wireHello{})
	subID := late.subscribe("app.feed.r", wamp.Dict{"_since": position})
	fourth := publish(pubA, "app.feed.r", "4") // live, after the resume
	var got []string
	for len(got) < 3 {
		msg, err := late.recvWithin(5 * time.Second)
		if err != nil {
			t.Fatalf("resumed on B: got %v, then %v", got, err)
		}
		ev, ok := msg.(*wamp.Event)
		if !ok || ev.Subscription != subID {
			t.Fatalf("resumed on B: %v", msg)
		}
		got = append(got, fmt.Sprint(ev.Arguments[0]))
	}
	if fmt.Sprint(got) != "[2 3 4]" {
		t.Fatalf("resumed on B after publication 1: %v, want [2 3 4] (the cluster's history, then live)", got)
	}
	if msg, err := late.recvWithin(500 * time.Millisecond); err == nil {
		t.Fatalf("after the replay and the live event: %v, want nothing more (no duplicate)", msg)
	}

	// /position on a node that never had a subscriber to the topic is the
	// cluster's: the newest publication ("4"), from which a resume reads.
	withBridgeNode := routertest.Start(t, func(c *config.Config) {
		withBridge(false)(c)
		c.Cluster.NATS.URL = servers[2].ClientURL()
		c.Cluster.Node = "res-c"
		c.Cluster.HistoryReplicas = 3
		c.Realms[0].Options.EventHistory = []config.EventHistory{
			{Topic: "app.feed.", Match: "prefix", Limit: 3}, {Topic: "app.news", Match: "exact", Limit: 2},
		}
	})
	bc := newBridgeClient(t, withBridgeNode)
	deadline = time.Now().Add(10 * time.Second)
	for {
		pos := bc.signed("/position", `{"topic":"app.feed.r"}`)
		got, _ := pos.body["publication"].(float64)
		if pos.status == 200 && wamp.ID(got) == fourth {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/position on a third node: %d %s, want the publication of 4 (%d)", pos.status, pos.raw, fourth)
		}
		time.Sleep(100 * time.Millisecond) // the node's streams are in place a moment after it starts
	}

	// A position the cluster's history does not hold.
	gap := dialWire(t, b, 0, "json", wireHello{})
	req := gap.req()
	gap.send(&wamp.Subscribe{Request: req, Options: wamp.Dict{"_since": 12345}, Topic: "app.feed.r"})
	gap.expectError(wamp.SUBSCRIBE, req, "switchboard.error.history_gap", "resume from an unknown position")
}

// TestClusterRetainedFilters: a retained event from the cluster keeps its
// eligible list: on another node, the eligible session gets it with
// get_retained, another session does not.
func TestClusterRetainedFilters(t *testing.T) {
	t.Parallel()
	servers := startNATSCluster(t, 3)
	a := historyNode(t, servers[0], "rf-a")
	b := historyNode(t, servers[1], "rf-b")
	awaitStream(t, servers[0], "SWITCHBOARD_RETAINED_realm1", "switchboard.ret.realm1.probe")
	eligible := dialWire(t, b, 0, "json", wireHello{})
	other := dialWire(t, b, 0, "json", wireHello{})
	pub := a.Dial(t, 0, "json", client.Config{})
	must(t, pub.Publish("app.only", wamp.Dict{"acknowledge": true, "retain": true, "eligible": wamp.List{eligible.id}},
		wamp.List{"for one"}, nil))
	deadline := time.Now().Add(10 * time.Second)
	for { // the publication reaches JetStream through NATS

		sub := eligible.subscribe("app.only", wamp.Dict{"get_retained": true})
		msg, err := eligible.recvWithin(500 * time.Millisecond)
		if err == nil {
			if ev, ok := msg.(*wamp.Event); !ok || ev.Subscription != sub || ev.Arguments[0] != "for one" {
				t.Fatalf("the eligible session: %v", msg)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the eligible session on another node never got the retained event")
		}
		eligible.send(&wamp.Unsubscribe{Request: eligible.req(), Subscription: sub})
		expectMsg[*wamp.Unsubscribed](eligible, "unsubscribe")
		time.Sleep(100 * time.Millisecond)
	}
	other.subscribe("app.only", wamp.Dict{"get_retained": true})
	if msg, err := other.recvWithin(500 * time.Millisecond); err == nil {
		t.Fatalf("a session not eligible got the retained event: %v", msg)
	}
}
