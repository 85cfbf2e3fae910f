package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-wamp/switchboard/broker"
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
	err = n.StartHistory(ctx, []HistoryRealm{{Name: "realm1", History: []broker.History{{Topic: "", Match: "prefix", Limit: 10}}}}, 1)
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
