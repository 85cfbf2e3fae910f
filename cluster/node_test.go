package cluster

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/switchboard-wamp/switchboard/broker"
	"github.com/switchboard-wamp/switchboard/realms"
)

// startNATS starts a NATS server on 127.0.0.1 for one test.
func startNATS(t *testing.T) *natsserver.Server {
	t.Helper()
	return startNATSWith(t, natsserver.Options{})
}

// startNATSWith starts a NATS server on 127.0.0.1 for one test with opts
// (its address and logging set here).
func startNATSWith(t *testing.T, opts natsserver.Options) *natsserver.Server {
	t.Helper()
	opts.Host, opts.Port, opts.NoLog, opts.NoSigs = "127.0.0.1", -1, true, true
	s, err := natsserver.NewServer(&opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server did not start")
	}
	t.Cleanup(s.Shutdown)
	return s
}

// delivered is a publication a test node handed to its broker.
type delivered struct {
	realm string
	pub   broker.RemotePublication
}

// testObserver reports a node's subject count and connection state.
type testObserver struct {
	nopObserver
	subjects chan int
	mu       sync.Mutex
	lost     map[string]int
	drops    int // Connected(false) reports
}

func (o *testObserver) Subjects(n int) {
	select {
	case o.subjects <- n:
	default:
	}
}

func (o *testObserver) Lost(reason string) {
	o.mu.Lock()
	o.lost[reason]++
	o.mu.Unlock()
}

func (o *testObserver) Connected(up bool) {
	if !up {
		o.mu.Lock()
		o.drops++
		o.mu.Unlock()
	}
}

// testNode is a Node on s whose deliveries arrive on its channel.
type testNode struct {
	*Node
	got chan delivered
	obs *testObserver
}

func connectTestNode(t *testing.T, s *natsserver.Server, name string) *testNode {
	t.Helper()
	tn := &testNode{got: make(chan delivered, 1024), obs: &testObserver{subjects: make(chan int, 64), lost: map[string]int{}}}
	n, err := Connect(Options{URL: s.ClientURL(), Node: name, Observer: tn.obs,
		Deliver: func(realm string, pub broker.RemotePublication) error {
			tn.got <- delivered{realm, pub}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	tn.Node = n
	return tn
}

// interest reports an interest change and waits until the node has
// applied it and its NATS server has it (a round trip).
func (tn *testNode) interest(t *testing.T, realm string, p realms.Pattern, on bool) {
	t.Helper()
	tn.Interest(realm, p, on)
	select {
	case <-tn.obs.subjects:
	case <-time.After(10 * time.Second):
		t.Fatal("the interest change was not applied")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tn.Ping(ctx); err != nil {
		t.Fatalf("after an interest change: %v", err)
	}
}

// next returns the next delivery, failing after 5 s.
func (tn *testNode) next(t *testing.T, what string) delivered {
	t.Helper()
	select {
	case d := <-tn.got:
		return d
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: nothing delivered within 5s", what)
		return delivered{}
	}
}

// TestForgedPublicationIsNotDelivered: a NATS message whose payload names
// another realm or topic than its subject (a NATS user allowed to publish
// on one realm's subjects, or any other client of a shared NATS account)
// is not delivered there; nor is one on a wamp.* topic, which only the
// router publishes and no node forwards. A genuine publication that follows
// is delivered.
func TestForgedPublicationIsNotDelivered(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	victim := connectTestNode(t, s, "victim")
	victim.interest(t, "public", realms.NewPattern("news", realms.MatchExact), true)
	victim.interest(t, "admin", realms.NewPattern("", realms.MatchPrefix), true)
	victim.interest(t, "public", realms.NewPattern("wamp.session.on_join", realms.MatchExact), true)

	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var codec Node
	forge := func(subject, realm, topic string) {
		t.Helper()
		data, err := codec.encode(realm, broker.RemotePublication{ID: wamp.GlobalID(), Topic: topic, Args: wamp.List{"forged"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish(subject, data); err != nil {
			t.Fatal(err)
		}
	}
	// On the public realm's subject: another realm, another topic.
	forge(topicSubject("public", "news"), "admin", "admin.commands")
	forge(topicSubject("public", "news"), "public", "secret.news")
	// The router's own events, on a client topic's subject space (they
	// travel in switchboard.sys.>, which NATS permissions keep to nodes).
	forge(spaceSubject(spacePub, "public", "wamp.session.on_join"), "public", "wamp.session.on_join")
	// The genuine one.
	genuineID := wamp.GlobalID()
	data, err := codec.encode("public", broker.RemotePublication{ID: genuineID, Topic: "news"})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(topicSubject("public", "news"), data); err != nil {
		t.Fatal(err)
	}
	for {
		d := victim.next(t, "the genuine publication")
		if d.pub.ID == genuineID {
			break
		}
		t.Errorf("forged publication delivered: realm %q topic %q", d.realm, d.pub.Topic)
	}
}

// TestLongTopicKeepsTheNodeConnected: a subscription to a long topic
// (limits.max_uri_length has no upper bound; each escaped byte is three
// in the subject) must not cost the node its NATS connection, and a
// publication to such a topic must not either: NATS refuses protocol lines
// over max_control_line (4 KiB) by closing the connection, and the client
// resubscribes on reconnecting, so the node would be out of the cluster
// for good.
func TestLongTopicKeepsTheNodeConnected(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	a := connectTestNode(t, s, "a")
	b := connectTestNode(t, s, "b")
	a.interest(t, "realm1", realms.NewPattern("news", realms.MatchExact), true)

	long := "x." + strings.Repeat("~", 1500) // 512 < 1502 bytes < 4 KiB, 4.5 KiB as a subject
	a.Interest("realm1", realms.NewPattern(long, realms.MatchExact), true)
	select {
	case <-a.obs.subjects:
	case <-time.After(10 * time.Second):
		t.Fatal("the interest change was not applied")
	}
	_ = b.Forward("realm1", broker.RemotePublication{ID: wamp.GlobalID(), Topic: long})
	// Both nodes answer round trips, and a's ordinary subscription still
	// receives b's publications.
	for i := range 5 {
		for _, n := range []*testNode{a, b} {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err := n.Ping(ctx)
			cancel()
			if err != nil {
				t.Fatalf("round trip %d of node %s after a long topic: %v", i, n.Name(), err)
			}
		}
	}
	id := wamp.GlobalID()
	if err := b.Forward("realm1", broker.RemotePublication{ID: id, Topic: "news"}); err != nil {
		t.Fatalf("forward after a long topic: %v", err)
	}
	if d := a.next(t, "news after a long topic"); d.pub.ID != id {
		t.Fatalf("delivered %d (%q), want %d", d.pub.ID, d.pub.Topic, id)
	}
	a.obs.mu.Lock()
	b.obs.mu.Lock()
	defer a.obs.mu.Unlock()
	defer b.obs.mu.Unlock()
	if a.obs.drops+b.obs.drops > 0 {
		t.Errorf("NATS connections lost: node a %d, node b %d", a.obs.drops, b.obs.drops)
	}
}

// TestOnePublicationOnceInOrder: node b's publications to topics that
// several of a's NATS subscriptions match (an exact, a prefix, a wildcard
// one) reach a once each, in publish order, with their fields.
func TestOnePublicationOnceInOrder(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	a := connectTestNode(t, s, "a")
	b := connectTestNode(t, s, "b")
	a.interest(t, "realm1", realms.NewPattern("app.x", realms.MatchExact), true)
	a.interest(t, "realm1", realms.NewPattern("app.", realms.MatchPrefix), true)
	a.interest(t, "realm1", realms.NewPattern("app.", realms.MatchWildcard), true)
	a.interest(t, "realm1", realms.NewPattern("a", realms.MatchPrefix), true)

	const n = 200
	var ids []wamp.ID
	for i := range n {
		topic := []string{"app.x", "app.y", "app.x.z"}[i%3]
		id := wamp.GlobalID()
		ids = append(ids, id)
		pub := broker.RemotePublication{ID: id, Topic: topic, Args: wamp.List{i},
			Publisher: &broker.RemotePublisher{Session: 7, AuthID: "bob", AuthRole: "user"}, Disclose: i%2 == 0,
			Options: wamp.Dict{"exclude": wamp.List{wamp.ID(99)}}}
		if err := b.Forward("realm1", pub); err != nil {
			t.Fatal(err)
		}
	}
	for i, id := range ids {
		d := a.next(t, fmt.Sprintf("publication %d", i))
		if d.pub.ID != id || d.realm != "realm1" {
			t.Fatalf("publication %d: got %d in %q, want %d", i, d.pub.ID, d.realm, id)
		}
		if d.pub.Publisher == nil || d.pub.Publisher.AuthID != "bob" || d.pub.Disclose != (i%2 == 0) || d.pub.Options["exclude"] == nil {
			t.Fatalf("publication %d: fields lost: %+v", i, d.pub)
		}
	}
	// Nothing more: a barrier publication arrives next.
	barrier := wamp.GlobalID()
	if err := b.Forward("realm1", broker.RemotePublication{ID: barrier, Topic: "app.x"}); err != nil {
		t.Fatal(err)
	}
	if d := a.next(t, "barrier"); d.pub.ID != barrier {
		t.Fatalf("after the last publication: got %d (%q), want the barrier", d.pub.ID, d.pub.Topic)
	}
}

// TestInterestIsReferenceCounted: two patterns on one NATS subject keep
// it until both are gone; the node then holds no subscription.
func TestInterestIsReferenceCounted(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	a := connectTestNode(t, s, "a")
	b := connectTestNode(t, s, "b")
	// "app.b" and "app.c" as prefixes share the subject of "app" + ">".
	pb, pc := realms.NewPattern("app.b", realms.MatchPrefix), realms.NewPattern("app.c", realms.MatchPrefix)
	if interestSubject(spacePub, "realm1", pb) != interestSubject(spacePub, "realm1", pc) {
		t.Fatalf("test case: %q and %q have different subjects", interestSubject(spacePub, "realm1", pb), interestSubject(spacePub, "realm1", pc))
	}
	a.interest(t, "realm1", pb, true)
	a.interest(t, "realm1", pc, true)
	a.interest(t, "realm1", pb, false)
	id := wamp.GlobalID()
	if err := b.Forward("realm1", broker.RemotePublication{ID: id, Topic: "app.cx"}); err != nil {
		t.Fatal(err)
	}
	if d := a.next(t, "with one of two patterns left"); d.pub.ID != id {
		t.Fatalf("got %d, want %d", d.pub.ID, id)
	}
	a.Interest("realm1", pc, false)
	deadline := time.Now().Add(10 * time.Second)
	for n := -1; n != 0; {
		select {
		case n = <-a.obs.subjects:
		case <-time.After(time.Until(deadline)):
			t.Fatalf("the node still holds %d NATS subscriptions", n)
		}
	}
}

// TestInboxIsBoundedInBytes: publications received and not yet delivered
// are bounded in bytes, not only in number (65536, each up to NATS's
// max_payload: 64 GiB of 1 MiB publications). One receive goroutine
// delivers what every other node publishes, so a node slower than the
// others together queues; past a bound in bytes (here taken as 64 MiB,
// the NATS client's default per subscription, which SetPendingLimits(-1)
// turns off) it must drop and count, as a client's queue does.
func TestInboxIsBoundedInBytes(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	release := make(chan struct{})
	obs := &testObserver{subjects: make(chan int, 64), lost: map[string]int{}}
	n, err := Connect(Options{URL: s.ClientURL(), Node: "slow", Observer: obs,
		Deliver: func(string, broker.RemotePublication) error {
			<-release // this node's broker is busy
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	t.Cleanup(func() { close(release) }) // before Close: cleanups run last first
	tn := &testNode{Node: n, obs: obs}
	tn.interest(t, "realm1", realms.NewPattern("big", realms.MatchExact), true)

	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var codec Node
	payload := strings.Repeat("x", 900<<10)
	const count = 80 // 72 MB
	for range count {
		data, err := codec.encode("realm1", broker.RemotePublication{ID: wamp.GlobalID(), Topic: "big", Args: wamp.List{payload}})
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish(topicSubject("realm1", "big"), data); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// A round trip of the node: NATS sent it every publication before the PONG.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	queued := len(n.in)
	obs.mu.Lock()
	dropped := obs.lost["slow_consumer"]
	obs.mu.Unlock()
	if queued*(900<<10) > 64<<20 {
		t.Errorf("%d publications of 900 KiB (%d MiB) queued for delivery, %d dropped: want at most 64 MiB queued",
			queued, queued*900>>10, dropped)
	}
}
