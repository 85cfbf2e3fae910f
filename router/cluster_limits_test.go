package router_test

import (
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
	"github.com/nats-io/nats.go"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/dealer"
)

// TestClusterMetaCallsBounded: a node answers at most
// cluster.max_meta_calls meta calls for the whole cluster at once; one more
// is answered switchboard.error.limit_exceeded at once (and counted), and
// once the calls in progress end, meta calls are answered again. A node
// that is heard but never answers (a hung node: its heartbeats on NATS, no
// answers) keeps each call waiting for its answer, up to a second.
func TestClusterMetaCallsBounded(t *testing.T) {
	t.Parallel()
	servers := startNATSCluster(t, 1)
	node := startNodes(t, servers, func(c *config.Config) { c.Cluster.MaxMetaCalls = 2 })[0]
	ghost, err := nats.Connect(servers[0].ClientURL())
	must(t, err)
	defer ghost.Close()
	asked := make(chan *nats.Msg, 64)
	_, err = ghost.ChanSubscribe("switchboard.meta", asked)
	must(t, err)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			_ = ghost.Publish("switchboard.nodes", []byte("ghost"))
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	s := joinJSON(t, node, "", "")
	count := func(request int) {
		s.send(wamp.CALL, request, map[string]any{}, string(wamp.MetaProcSessionCount))
	}
	// The node counts the ghost once a meta call asks it.
	deadline := time.Now().Add(10 * time.Second)
	for request := 1; ; request++ {
		count(request)
		if m, _ := s.reply(request); m[0] != float64(wamp.RESULT) {
			t.Fatalf("wamp.session.count: %v", m)
		}
		if len(asked) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the node never asked the ghost node")
		}
	}
	// Two calls wait for the ghost; the third is refused at once.
	count(100)
	count(101)
	count(102)
	first := s.read()
	if first[0] != float64(wamp.ERROR) || first[2] != float64(102) || first[4] != string(dealer.LimitExceededURI) {
		t.Fatalf("first answer %v, want ERROR %s for request 102", first, dealer.LimitExceededURI)
	}
	answered := map[float64]bool{}
	for range 2 {
		m := s.read()
		if m[0] != float64(wamp.RESULT) {
			t.Fatalf("a call within max_meta_calls: %v, want RESULT", m)
		}
		answered[m[1].(float64)] = true
	}
	if !answered[100] || !answered[101] {
		t.Fatalf("answered %v, want requests 100 and 101", answered)
	}
	if n := limitRefusals(t, node, "cluster_meta_calls"); n != 1 {
		t.Fatalf("switchboard_realm_limit_exceeded_total{limit=cluster_meta_calls} = %v, want 1", n)
	}
	// The places are free again.
	count(103)
	if m, _ := s.reply(103); m[0] != float64(wamp.RESULT) {
		t.Fatalf("a meta call after the others ended: %v, want RESULT", m)
	}
}
