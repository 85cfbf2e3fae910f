package cluster

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-wamp/switchboard/broker"
	"github.com/switchboard-wamp/switchboard/realms"
)

// TestHistoryWithoutJetStream: on NATS servers without JetStream,
// StartHistory says so with JetStream's own error (the router then keeps
// history per node, and stops trying), and the node keeps no history in
// the cluster.
func TestHistoryWithoutJetStream(t *testing.T) {
	t.Parallel()
	s := startNATS(t) // no JetStream
	n, err := Connect(Options{URL: s.ClientURL(), Node: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = n.StartHistory(ctx, []HistoryRealm{{Name: "realm1", History: []broker.History{{Topic: "", Match: "prefix", Limit: 10}}}}, 1)["realm1"]
	if err == nil || !NoJetStream(err) {
		t.Fatalf("StartHistory without JetStream: %v, want an error NoJetStream recognises", err)
	}
	if n.KeepsHistory("realm1") {
		t.Fatal("the node claims to keep history in JetStream without it")
	}
}

// TestSubjectCovers: the stream's subjects leave out those another covers.
func TestSubjectCovers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"s.p.r.>", "s.p.r.app.>", true}, {"s.p.r.app.>", "s.p.r.>", false}, {"s.p.r.*.x", "s.p.r.a.x", true},
		{"s.p.r.a.x", "s.p.r.*.x", false}, {"s.p.r.>", "s.p.r", false}, {"s.p.r.a", "s.p.r.a", true},
		{"s.p.r.*", "s.p.r.a.b", false}, {"s.p.r.>", "s.p.r.*", true},
	} {
		if got := subjectCovers(tc.a, tc.b); got != tc.want {
			t.Errorf("subjectCovers(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
	got := withoutCovered([]string{"s.p.r.app.>", "s.p.r.>", "s.p.r.app.x", "s.p.r.>"})
	if len(got) != 1 || got[0] != "s.p.r.>" {
		t.Fatalf("withoutCovered: %v, want [s.p.r.>]", got)
	}
}

// startNATSJetStream starts a NATS server with JetStream for one test.
func startNATSJetStream(t *testing.T) *natsserver.Server {
	t.Helper()
	return startNATSWith(t, natsserver.Options{JetStream: true, StoreDir: t.TempDir()})
}

// TestRetainedInJetStream: retained publications forwarded by one node are
// read back by another, the last of each topic, for exact and pattern
// subscriptions; a publication that is not retained is not.
func TestRetainedInJetStream(t *testing.T) {
	t.Parallel()
	s := startNATSJetStream(t)
	a := connectTestNode(t, s, "a")
	b := connectTestNode(t, s, "b")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, n := range []*Node{a.Node, b.Node} {
		if err := n.StartRetained(ctx, []RetainedRealm{{Name: "realm1"}}, 1)["realm1"]; err != nil {
			t.Fatal(err)
		}
	}
	retain := wamp.Dict{"retain": true}
	for i, pub := range []broker.RemotePublication{
		{ID: 1, Topic: "app.s.1", Args: wamp.List{"v1"}, Options: retain},
		{ID: 2, Topic: "app.s.1", Args: wamp.List{"v2"}, Options: retain},
		{ID: 3, Topic: "app.s.2", Args: wamp.List{"x"}, Options: retain},
		{ID: 4, Topic: "app.s.3", Args: wamp.List{"not retained"}},
	} {
		if err := a.Forward("realm1", pub); err != nil {
			t.Fatalf("publication %d: %v", i, err)
		}
	}
	if err := a.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	read := func(p realms.Pattern) []string {
		t.Helper()
		var got []string
		deadline := time.Now().Add(5 * time.Second)
		for {
			evs, err := b.RetainedEvents(ctx, "realm1", p)
			if err != nil {
				t.Fatal(err)
			}
			got = got[:0]
			for _, ev := range evs {
				got = append(got, fmt.Sprint(ev.Publication.Args[0]))
			}
			if len(got) > 0 || time.Now().After(deadline) {
				return got
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if got := fmt.Sprint(read(realms.NewPattern("app.s.1", realms.MatchExact))); got != "[v2]" {
		t.Fatalf("exact: %s, want [v2]", got)
	}
	got := read(realms.NewPattern("app.s.", realms.MatchPrefix))
	slices.Sort(got)
	if fmt.Sprint(got) != "[v2 x]" {
		t.Fatalf("prefix: %v, want [v2 x]", got)
	}
}

// historyNode is a node on s whose realm1 keeps history as entries say.
func historyNode(t *testing.T, s *natsserver.Server, name string, entries ...broker.History) *Node {
	t.Helper()
	n, err := Connect(Options{URL: s.ClientURL(), Node: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.StartHistory(ctx, []HistoryRealm{{Name: "realm1", History: entries}}, 1)["realm1"]; err != nil {
		t.Fatal(err)
	}
	return n
}

// publishHistory publishes count events to topic as Forward does, and
// waits until the stream holds at least total messages.
func publishHistory(t *testing.T, n *Node, topic string, count int, total uint64) {
	t.Helper()
	for i := 1; i <= count; i++ {
		data, err := n.encode("realm1", broker.RemotePublication{ID: wamp.ID(i), Topic: topic, Args: wamp.List{i}})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.nc.Publish(topicSubject("realm1", topic), data); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := n.js.Stream(context.Background(), streamName("realm1"))
		if err == nil && st.CachedInfo().State.Msgs >= total {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream does not hold %d messages after 60 s", total)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHistoryStreamWidened: two nodes with different event_history (a
// rolling change of the config) share one stream that keeps both nodes'
// topics: the second node widens it, never narrows it.
func TestHistoryStreamWidened(t *testing.T) {
	t.Parallel()
	s := startNATSJetStream(t)
	a := historyNode(t, s, "a", broker.History{Topic: "app.a", Match: "exact", Limit: 10})
	historyNode(t, s, "b", broker.History{Topic: "app.b", Match: "exact", Limit: 3})
	publishHistory(t, a, "app.a", 5, 5)
	evs, err := a.HistoryEvents(context.Background(), "realm1", realms.NewPattern("app.a", realms.MatchExact))
	if err != nil || len(evs) != 5 {
		t.Fatalf("node a's app.a after node b started with another event_history: %d events (%v), want 5", len(evs), err)
	}
}

// TestHistoryReadEndsWhenConnectionCloses: a read of the stream whose NATS
// connection closes midway returns (an error), within its timeout.
func TestHistoryReadEndsWhenConnectionCloses(t *testing.T) {
	t.Parallel()
	s := startNATSJetStream(t)
	n := historyNode(t, s, "a", broker.History{Topic: "app.t", Match: "exact", Limit: 50_000})
	publishHistory(t, n, "app.t", 40_000, 40_000)
	done := make(chan error, 1)
	go func() {
		_, err := n.HistoryEvents(context.Background(), "realm1", realms.NewPattern("app.t", realms.MatchExact))
		done <- err
	}()
	time.Sleep(30 * time.Millisecond)
	n.nc.Close()
	select {
	case <-done:
	case <-time.After(historyTimeout + 5*time.Second):
		t.Fatalf("a history read still runs %s after its connection closed", historyTimeout+5*time.Second)
	}
}

// TestHistoryPermanentRefusals: what JetStream refuses for good (replicas
// over its servers, subjects another stream has) is told apart from "not
// ready yet", so the router stops trying and logs it.
func TestHistoryPermanentRefusals(t *testing.T) {
	t.Parallel()
	s := startNATSJetStream(t)
	n, err := Connect(Options{URL: s.ClientURL(), Node: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hr := []HistoryRealm{{Name: "realm1", History: []broker.History{{Topic: "app.a", Match: "exact", Limit: 10}}}}
	if err := n.StartHistory(ctx, hr, 3)["realm1"]; !PermanentJetStreamError(err) {
		t.Fatalf("3 replicas on one JetStream server: %v, want a permanent refusal", err)
	}
	js, err := jetstream.New(n.nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OPS_TAP", Subjects: []string{"switchboard.pub.>"}}); err != nil {
		t.Fatal(err)
	}
	if err := n.StartHistory(ctx, hr, 1)["realm1"]; !PermanentJetStreamError(err) {
		t.Fatalf("subjects another stream has: %v, want a permanent refusal", err)
	}
	if n.KeepsHistory("realm1") {
		t.Fatal("the node keeps history in a stream JetStream refused")
	}
}

// TestHistorySkipsForeignEntries: an entry on a history subject that no
// node wrote (undecodable, nested past the bound, or another realm's) is
// left out of the events read, and counted; the nodes' own entries are
// all there.
func TestHistorySkipsForeignEntries(t *testing.T) {
	t.Parallel()
	s := startNATSJetStream(t)
	obs := &testObserver{subjects: make(chan int, 64), lost: map[string]int{}}
	n, err := Connect(Options{URL: s.ClientURL(), Node: "a", Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.StartHistory(ctx, []HistoryRealm{{Name: "realm1", History: []broker.History{{Topic: "app.h", Match: "exact", Limit: 10}}}}, 1)["realm1"]; err != nil {
		t.Fatal(err)
	}
	otherRealm, err := n.encode("realm2", broker.RemotePublication{ID: 99, Topic: "app.h"})
	if err != nil {
		t.Fatal(err)
	}
	foreign := [][]byte{[]byte("not msgpack"), append([]byte{0x95, 0x10, 0x01, 0x80, 0xa1, 't', 0x91}, nestedList(maxNodeNesting)...), otherRealm}
	for _, data := range foreign {
		if err := n.nc.Publish(topicSubject("realm1", "app.h"), data); err != nil {
			t.Fatal(err)
		}
	}
	publishHistory(t, n, "app.h", 2, uint64(len(foreign))+2)
	evs, err := n.HistoryEvents(context.Background(), "realm1", realms.NewPattern("app.h", realms.MatchExact))
	if err != nil || len(evs) != 2 {
		t.Fatalf("history of app.h: %d events (%v), want the 2 a node wrote", len(evs), err)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.lost["undecodable"] != len(foreign) {
		t.Fatalf("counted %d undecodable entries, want %d", obs.lost["undecodable"], len(foreign))
	}
}
