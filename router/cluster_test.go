package router_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// startNATSCluster starts n NATS servers with JetStream, routed to each
// other as one cluster, and returns them once the routes are up.
func startNATSCluster(t *testing.T, n int) []*natsserver.Server {
	t.Helper()
	for attempt := 1; ; attempt++ {
		servers, err := tryNATSCluster(t, n)
		if err == nil {
			return servers
		}
		if attempt == 4 {
			t.Fatal(err)
		}
		t.Logf("NATS cluster, attempt %d: %v; again with other ports", attempt, err)
	}
}

// tryNATSCluster starts the cluster once. JetStream in a cluster needs
// every server's routes up front, so the cluster ports are picked first;
// another test may take one meanwhile, hence the attempts above.
func tryNATSCluster(t *testing.T, n int) ([]*natsserver.Server, error) {
	var routes []*url.URL
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		ports = append(ports, port)
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", port)})
	}
	var servers []*natsserver.Server
	stopAll := func() {
		for _, s := range servers {
			s.Shutdown()
		}
	}
	for i := range n {
		opts := &natsserver.Options{
			ServerName: fmt.Sprintf("nats-%d", i), Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
			JetStream: true, StoreDir: t.TempDir(),
			Cluster: natsserver.ClusterOpts{Name: "switchboard-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:  routes,
		}
		s, err := natsserver.NewServer(opts)
		if err != nil {
			stopAll()
			return nil, err
		}
		go s.Start()
		servers = append(servers, s)
		if !s.ReadyForConnections(5 * time.Second) {
			stopAll()
			return nil, fmt.Errorf("NATS server %d did not start", i)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, s := range servers {
		for s.NumRoutes() < n-1 {
			if time.Now().After(deadline) {
				stopAll()
				return nil, fmt.Errorf("NATS cluster routes: %d of %d", s.NumRoutes(), n-1)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Cleanup(stopAll)
	return servers, nil
}

// startNodes starts one switchboard node per NATS server, each connected
// to its own server, with the HTTP bridge on listener 0, and returns them
// once every node hears every other (switchboard_cluster_nodes): a node's
// first heartbeat may reach a NATS server before the others' interest in
// it does, and the next comes a second later.
func startNodes(t *testing.T, servers []*natsserver.Server, edits ...func(*config.Config)) []*routertest.Server {
	t.Helper()
	var nodes []*routertest.Server
	for i, ns := range servers {
		nodes = append(nodes, routertest.Start(t, func(c *config.Config) {
			withBridge(false)(c)
			c.Cluster.NATS.URL = ns.ClientURL()
			c.Cluster.Node = fmt.Sprintf("node-%c", 'a'+i)
			for _, edit := range edits {
				edit(c)
			}
		}))
	}
	deadline := time.Now().Add(15 * time.Second)
	for i, n := range nodes {
		for {
			families, _ := scrape(t, n)
			heard := value(families, "switchboard_cluster_nodes", nil)
			if int(heard) == len(nodes)-1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d hears %v other nodes after 15 s, want %d", i, heard, len(nodes)-1)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nodes
}

// awaitInterest publishes probes on pub until sub's handler sees one: the
// subscriber's interest has reached the publisher's NATS server.
func awaitInterest(t *testing.T, pub *client.Client, topic string, probes <-chan *wamp.Event) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var lastErr error
	for {
		// While the publisher's node reconnects to NATS, its acknowledged
		// publications are refused with cluster_unavailable: wait on.
		if err := pub.Publish(topic, wamp.Dict{"acknowledge": true}, wamp.List{"probe"}, nil); err != nil {
			if !strings.Contains(err.Error(), "switchboard.error.cluster_unavailable") {
				t.Fatalf("probe on %s: %v", topic, err)
			}
			lastErr = err
		}
		select {
		case <-probes:
			// Drain the probes still on their way.
			for {
				select {
				case <-probes:
				case <-time.After(200 * time.Millisecond):
					return
				}
			}
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no probe on %s reached the subscriber's node (last refusal: %v)", topic, lastErr)
		}
	}
}

// TestClusterPubSub: three nodes on a three-server NATS cluster behave as
// one broker: events published on B (WAMP) and C (HTTP bridge) reach a
// subscriber on A exactly once, through exact, prefix and wildcard
// subscriptions, with the publish options applied as on one node.
func TestClusterPubSub(t *testing.T) {
	t.Parallel()
	nodes := startNodes(t, startNATSCluster(t, 3))
	a, b, c := nodes[0], nodes[1], nodes[2]
	sub := a.Dial(t, 0, "json", client.Config{})
	alice, _ := wamp.AsString(sub.RealmDetails()["authid"])
	other := a.Dial(t, 1, "msgpack", client.Config{})
	pub := b.Dial(t, 0, "cbor", client.Config{})

	exact := make(chan *wamp.Event, 100)
	prefix := make(chan *wamp.Event, 100)
	wild := make(chan *wamp.Event, 100)
	otherGot := make(chan *wamp.Event, 100)
	must(t, sub.SubscribeChan("app.x", exact, nil))
	must(t, sub.SubscribeChan("app.p", prefix, wamp.Dict{"match": "prefix"}))
	must(t, sub.SubscribeChan("app..w", wild, wamp.Dict{"match": "wildcard"}))
	must(t, other.SubscribeChan("app.x", otherGot, nil))
	awaitInterest(t, pub, "app.x", exact)
	awaitInterest(t, pub, "app.pq", prefix)
	awaitInterest(t, pub, "app.q.w", wild)
	for len(otherGot) > 0 {
		<-otherGot
	}

	expectOne := func(ch chan *wamp.Event, what string, want any) *wamp.Event {
		t.Helper()
		select {
		case ev := <-ch:
			if len(ev.Arguments) == 0 || ev.Arguments[0] != want {
				t.Fatalf("%s: got %v, want [%v]", what, ev.Arguments, want)
			}
			return ev
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no event", what)
		}
		return nil
	}
	expectNone := func(ch chan *wamp.Event, what string) {
		t.Helper()
		select {
		case ev := <-ch:
			t.Fatalf("%s: unexpected event %v", what, ev.Arguments)
		case <-time.After(300 * time.Millisecond):
		}
	}

	// WAMP on B: each kind of subscription on A gets it once.
	must(t, pub.Publish("app.x", wamp.Dict{"acknowledge": true}, wamp.List{"e1"}, nil))
	expectOne(exact, "exact from B", "e1")
	expectOne(otherGot, "second subscriber on A", "e1")
	must(t, pub.Publish("app.pzz.deep", wamp.Dict{"acknowledge": true}, wamp.List{"p1"}, nil))
	ev := expectOne(prefix, "prefix (string prefix across a component) from B", "p1")
	if ev.Details["topic"] != "app.pzz.deep" {
		t.Errorf("prefix event topic = %v", ev.Details["topic"])
	}
	must(t, pub.Publish("app.any.w", wamp.Dict{"acknowledge": true}, wamp.List{"w1"}, nil))
	expectOne(wild, "wildcard from B", "w1")
	must(t, pub.Publish("app.any.w.not", wamp.Dict{"acknowledge": true}, wamp.List{"w2"}, nil))
	must(t, pub.Publish("app.q", wamp.Dict{"acknowledge": true}, wamp.List{"not-p"}, nil))

	// The HTTP bridge on C, with a disclosed publisher.
	bc := newBridgeClient(t, c)
	bc.signed("/publish", `{"topic":"app.x","args":["h1"]}`).expect(t, 200, "")
	expectOne(exact, "exact from C's bridge", "h1")
	expectOne(otherGot, "second subscriber from C's bridge", "h1")

	// Options across nodes: eligible by authid, exclude by session ID.
	must(t, pub.Publish("app.x", wamp.Dict{"acknowledge": true, "eligible_authid": wamp.List{alice}}, wamp.List{"only-alice"}, nil))
	expectOne(exact, "eligible_authid of the first subscriber", "only-alice")
	must(t, pub.Publish("app.x", wamp.Dict{"acknowledge": true, "exclude": wamp.List{sub.ID()}}, wamp.List{"not-alice"}, nil))
	expectOne(otherGot, "the subscriber not excluded", "not-alice")
	expectNone(otherGot, "other after eligible_authid alice") // it was not eligible for "only-alice"
	expectNone(exact, "excluded session, a wildcard mismatch")
	expectNone(wild, "a topic with one component more")
	expectNone(prefix, "a topic the prefix does not match")
}

// TestClusterOrder: 2,000 events of one publisher on B reach a subscriber
// on A in publish order, none lost.
func TestClusterOrder(t *testing.T) {
	t.Parallel()
	nodes := startNodes(t, startNATSCluster(t, 3))
	sub := nodes[0].Dial(t, 0, "msgpack", client.Config{})
	pub := nodes[1].Dial(t, 1, "json", client.Config{})
	events := make(chan *wamp.Event, 2100)
	must(t, sub.SubscribeChan("app.seq", events, nil))
	awaitInterest(t, pub, "app.seq", events)
	const n = 2000
	for i := range n {
		must(t, pub.Publish("app.seq", nil, wamp.List{i}, nil))
	}
	for i := range n {
		select {
		case ev := <-events:
			if got, _ := wamp.AsInt64(ev.Arguments[0]); got != int64(i) {
				t.Fatalf("event %d carries %v: out of order or lost", i, ev.Arguments)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d events arrived", i, n)
		}
	}
}

// TestClusterNATSServerStops: when the NATS server a node uses stops, the
// node reconnects to another and the cluster goes on.
func TestClusterNATSServerStops(t *testing.T) {
	t.Parallel()
	servers := startNATSCluster(t, 3)
	var urls []string
	for _, s := range servers {
		urls = append(urls, s.ClientURL())
	}
	all := urls[0] + "," + urls[1] + "," + urls[2]
	a := routertest.Start(t, func(c *config.Config) { c.Cluster.NATS.URL = urls[0] + "," + urls[2] })
	b := routertest.Start(t, func(c *config.Config) { c.Cluster.NATS.URL = all })
	sub := a.Dial(t, 0, "json", client.Config{})
	pub := b.Dial(t, 0, "json", client.Config{})
	events := make(chan *wamp.Event, 100)
	must(t, sub.SubscribeChan("app.ha", events, nil))
	awaitInterest(t, pub, "app.ha", events)
	servers[0].Shutdown() // node A's server (and maybe B's)
	// A reconnects to server 2, resubscribes; events flow again.
	awaitInterest(t, pub, "app.ha", events)
	must(t, pub.Publish("app.ha", wamp.Dict{"acknowledge": true}, wamp.List{"after"}, nil))
	select {
	case ev := <-events:
		if ev.Arguments[0] != "after" {
			t.Fatalf("got %v", ev.Arguments)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event after the NATS server stopped")
	}
}

// TestClusterUnreachableAtStart: a node whose NATS does not answer does not
// start, and says why.
func TestClusterUnreachableAtStart(t *testing.T) {
	t.Parallel()
	cfg := routertest.Config()
	cfg.Cluster.NATS.URL = "nats://127.0.0.1:1"
	srv, err := router.New(cfg, router.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Start(ctx)
	if err == nil {
		_ = srv.Shutdown(ctx)
		t.Fatal("started without NATS")
	}
	if msg := err.Error(); !strings.Contains(msg, "cluster") || !strings.Contains(msg, "nats://127.0.0.1:1") {
		t.Fatalf("error %q does not name the cluster and its URL", msg)
	}
}

// TestClusterLost: while the node cannot reach NATS, /readyz answers 503
// (a round trip through NATS, not a flag), local delivery goes on, and an
// acknowledged publication that could not reach the cluster is answered
// with switchboard.error.cluster_unavailable; both sides of the rule.
func TestClusterLost(t *testing.T) {
	t.Parallel()
	servers := startNATSCluster(t, 1)
	node := routertest.Start(t, func(c *config.Config) { c.Cluster.NATS.URL = servers[0].ClientURL() })
	readyz := func() int {
		resp, err := http.Get("http://" + node.Addr(0).String() + "/readyz")
		must(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	sub := node.Dial(t, 0, "json", client.Config{})
	pub := node.Dial(t, 0, "json", client.Config{})
	events := make(chan *wamp.Event, 10)
	must(t, sub.SubscribeChan("app.local", events, nil))
	if got := readyz(); got != http.StatusOK {
		t.Fatalf("/readyz with NATS up: %d, want 200", got)
	}
	must(t, pub.Publish("app.local", wamp.Dict{"acknowledge": true}, wamp.List{"up"}, nil))
	<-events

	servers[0].Shutdown()
	deadline := time.Now().Add(10 * time.Second)
	for readyz() != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("/readyz still 200 with NATS down")
		}
		time.Sleep(20 * time.Millisecond)
	}
	err := pub.Publish("app.local", wamp.Dict{"acknowledge": true}, wamp.List{"down"}, nil)
	if err == nil || !strings.Contains(err.Error(), "switchboard.error.cluster_unavailable") {
		t.Fatalf("acknowledged publish with NATS down: %v, want switchboard.error.cluster_unavailable", err)
	}
	select {
	case ev := <-events:
		if ev.Arguments[0] != "down" {
			t.Fatalf("local subscriber got %v", ev.Arguments)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("local delivery stopped with NATS down")
	}
	families := waitForScrape(t, node)
	if got := value(families, "switchboard_cluster_lost_total", map[string]string{"reason": "not_connected"}); got < 1 {
		t.Errorf("lost publications counted: %v, want >= 1", got)
	}
	if got := value(families, "switchboard_cluster_connected", nil); got != 0 {
		t.Errorf("switchboard_cluster_connected = %v, want 0", got)
	}
}

// TestClusterMetaEvents: a subscriber on A sees the meta events of the
// other nodes' sessions: a join on B, a subscription on C.
func TestClusterMetaEvents(t *testing.T) {
	t.Parallel()
	nodes := startNodes(t, startNATSCluster(t, 3))
	watcher := nodes[0].Dial(t, 0, "json", client.Config{})
	joins := make(chan *wamp.Event, 100)
	subs := make(chan *wamp.Event, 100)
	must(t, watcher.SubscribeChan("wamp.session.on_join", joins, nil))
	must(t, watcher.SubscribeChan("wamp.subscription.on_subscribe", subs, nil))
	// The watcher's interest must have reached the others: probe with joins on B.
	deadline := time.Now().Add(10 * time.Second)
	for len(joins) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no join on B reached A")
		}
		c := nodes[1].Dial(t, 0, "json", client.Config{})
		_ = c.Close()
		time.Sleep(50 * time.Millisecond)
	}
	for len(joins) > 0 {
		<-joins
	}
	joiner := nodes[1].Dial(t, 1, "msgpack", client.Config{})
	waitMeta := func(ch chan *wamp.Event, what string, match func(*wamp.Event) bool) {
		t.Helper()
		timeout := time.After(5 * time.Second)
		for {
			select {
			case ev := <-ch:
				if match(ev) {
					return
				}
			case <-timeout:
				t.Fatalf("no %s on A", what)
			}
		}
	}
	waitMeta(joins, "on_join of B's session", func(ev *wamp.Event) bool {
		d, _ := wamp.AsDict(ev.Arguments[0])
		id, _ := wamp.AsID(d["session"])
		return id == joiner.ID()
	})
	other := nodes[2].Dial(t, 0, "cbor", client.Config{})
	must(t, other.Subscribe("app.meta.c", func(*wamp.Event) {}, nil))
	waitMeta(subs, "on_subscribe of C's session", func(ev *wamp.Event) bool {
		id, _ := wamp.AsID(ev.Arguments[0])
		return id == other.ID()
	})
}

// TestClusterSessionMeta: wamp.session.count, list and get on one node
// answer for the sessions of every node.
func TestClusterSessionMeta(t *testing.T) {
	t.Parallel()
	nodes := startNodes(t, startNATSCluster(t, 3))
	asker := nodes[0].Dial(t, 0, "json", client.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	call := func(proc string, args ...any) (wamp.List, error) {
		res, err := asker.Call(ctx, proc, nil, wamp.List(args), nil, nil)
		if err != nil {
			return nil, err
		}
		return res.Arguments, nil
	}
	count := func() int64 {
		t.Helper()
		args, err := call("wamp.session.count")
		must(t, err)
		n, _ := wamp.AsInt64(args[0])
		return n
	}
	// Every node hears the others within a heartbeat or so: the count grows
	// until it is stable.
	var base int64
	deadline := time.Now().Add(10 * time.Second)
	for {
		base = count()
		time.Sleep(1500 * time.Millisecond)
		if count() == base || time.Now().After(deadline) {
			break
		}
	}
	b1 := nodes[1].Dial(t, 0, "json", client.Config{})
	nodes[1].Dial(t, 1, "msgpack", client.Config{})
	c1 := nodes[2].Dial(t, 0, "cbor", client.Config{})
	if got := count(); got != base+3 {
		t.Fatalf("wamp.session.count = %d after 3 joins on other nodes, want %d", got, base+3)
	}
	args, err := call("wamp.session.list")
	must(t, err)
	ids, _ := wamp.AsList(args[0])
	found := 0
	for _, v := range ids {
		if id, _ := wamp.AsID(v); id == b1.ID() || id == c1.ID() {
			found++
		}
	}
	if found != 2 {
		t.Fatalf("wamp.session.list lacks sessions of B and C: %v", ids)
	}
	args, err = call("wamp.session.get", c1.ID())
	must(t, err)
	d, _ := wamp.AsDict(args[0])
	if id, _ := wamp.AsID(d["session"]); id != c1.ID() {
		t.Fatalf("wamp.session.get of C's session = %v", d)
	}
	if _, err := call("wamp.session.get", wamp.ID(1)); err == nil || !strings.Contains(err.Error(), "no_such_session") {
		t.Fatalf("wamp.session.get of an unknown session: %v, want wamp.error.no_such_session", err)
	}
	c2 := nodes[2].Dial(t, 1, "json", client.Config{})
	// A node that dies takes its sessions with it: once its heartbeats stop
	// (within 3 s, the documented bound, plus a second of waiting) the
	// others no longer list them.
	must(t, nodes[2].Shutdown(ctx))
	gone := time.Now().Add(10 * time.Second)
	for {
		args, err := call("wamp.session.list")
		must(t, err)
		ids, _ := wamp.AsList(args[0])
		listed := false
		for _, v := range ids {
			if id, _ := wamp.AsID(v); id == c2.ID() {
				listed = true
			}
		}
		if !listed {
			break
		}
		if time.Now().After(gone) {
			t.Fatal("a dead node's session is still listed after 10 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	// And switchboard_cluster_nodes counts one node fewer (it counted 2).
	for {
		families, _ := scrape(t, nodes[0])
		if n := value(families, "switchboard_cluster_nodes", nil); n == 1 {
			break
		} else if time.Now().After(gone) {
			t.Fatalf("switchboard_cluster_nodes = %v after a node died, want 1", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
