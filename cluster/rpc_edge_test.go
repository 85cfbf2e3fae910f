// Edge cases of RPC across nodes, from an independent review: each test
// failed before its fix.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/dealer"
)

func blockHandler(started chan<- struct{}, interrupted chan<- struct{}) dealer.Handler {
	return func(ctx context.Context, _ *wamp.Invocation) (wamp.List, wamp.Dict, *dealer.CallError) {
		started <- struct{}{}
		select {
		case <-ctx.Done():
			interrupted <- struct{}{}
		case <-time.After(30 * time.Second):
		}
		return wamp.List{"late"}, nil, nil
	}
}

func okHandler(who string) dealer.Handler {
	return func(context.Context, *wamp.Invocation) (wamp.List, wamp.Dict, *dealer.CallError) {
		return wamp.List{who}, nil, nil
	}
}

// forceExpire makes rt let go of peer as if it had not been heard from:
// neither its RPC messages nor its heartbeats (which keep coming, so it
// tries until the peer it knew is gone; the peer may be mirrored again
// afterwards, from its next snapshot).
func forceExpire(rt *rpcRouter, peer string) {
	rt.mu.Lock()
	known := rt.peers[peer]
	rt.mu.Unlock()
	if known == nil {
		panic("forceExpire: " + peer + " is not a peer")
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		past := time.Now().Add(-time.Hour)
		rt.n.members.mu.Lock()
		if _, ok := rt.n.members.seen[peer]; ok {
			rt.n.members.seen[peer] = past
		}
		rt.n.members.mu.Unlock()
		rt.mu.Lock()
		if p := rt.peers[peer]; p == known {
			p.seen = past
		}
		rt.mu.Unlock()
		rt.expire()
		rt.mu.Lock()
		gone := rt.peers[peer] != known
		rt.mu.Unlock()
		if gone {
			return
		}
	}
	panic("forceExpire: " + peer + " is still a peer after 10 s")
}

// blockingPair is two nodes a and b on one NATS server, an in-process
// caller on a and a callee on b with app.block (it waits until
// interrupted) and app.ok.
type blockingPair struct {
	nodeA, nodeB         *Node
	caller, callee       *dealer.Local
	started, interrupted chan struct{}
}

func newBlockingPair(t *testing.T) *blockingPair {
	t.Helper()
	p := &blockingPair{started: make(chan struct{}, 4), interrupted: make(chan struct{}, 4)}
	p.nodeA, p.nodeB, p.caller, p.callee = rpcPair(t)
	if _, err := p.callee.Register("app.block", nil, blockHandler(p.started, p.interrupted)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.callee.Register("app.ok", nil, okHandler("b")); err != nil {
		t.Fatal(err)
	}
	return p
}

// callBlock calls app.block from a in the background; its answer comes
// on the channel.
func (p *blockingPair) callBlock() <-chan error {
	pending := make(chan error, 1)
	go func() {
		_, err := p.caller.Call(context.Background(), "app.block", nil, nil, nil)
		pending <- err
	}()
	return pending
}

// TestRPCProxyReplacedAfterExpiry: A lets B go (B silent for nodeExpiry
// from A's view; B still hears A) and mirrors it again. A's new proxy for B
// numbers its INVOCATIONs from 1 again while B's relay still has A's old
// call 1 in flight: B serves the new proxy with a new relay, and A's next
// call is answered (not refused, not given the old call's answer).
func TestRPCProxyReplacedAfterExpiry(t *testing.T) {
	t.Parallel()
	p := newBlockingPair(t)
	nodeA := p.nodeA
	caller, started := p.caller, p.started
	// wait until mirrored without making a call through the proxy
	deadline := time.Now().Add(5 * time.Second)
	for len(mirrored(nodeA.rpc)) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("not mirrored")
		}
		time.Sleep(10 * time.Millisecond)
	}
	go caller.Call(context.Background(), "app.block", nil, nil, nil) // INVOCATION 1 of A's proxy
	<-started
	forceExpire(nodeA.rpc, "b") // A's call 1 fails callee_lost; B's relay call 1 stays
	deadline = time.Now().Add(5 * time.Second)
	for len(mirrored(nodeA.rpc)) < 2 { // B's next snapshot: a new proxy
		if time.Now().After(deadline) {
			t.Fatal("not mirrored again")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := caller.Call(ctx, "app.ok", nil, nil, nil) // INVOCATION 1 of A's new proxy
	if err != nil {
		t.Fatalf("a call to B after A re-mirrored B failed: %v", err)
	}
	if len(res.Arguments) != 1 || res.Arguments[0] != "b" {
		t.Fatalf("a call to B after A re-mirrored B: %v", res.Arguments)
	}
}

func mirrored(rt *rpcRouter) []regKey {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var out []regKey
	for _, p := range rt.peers {
		for _, pr := range p.realms {
			pr.mu.Lock()
			for k := range pr.regs {
				out = append(out, k)
			}
			pr.mu.Unlock()
		}
	}
	return out
}

// TestRPCRelayExpiryAnswersTheCaller: B lets A go (A silent from B's
// view) while A's call to B is in flight: B's relay interrupts the callee
// and answers the call (canceled), so A's caller, which has no timeout and
// still hears B, does not wait forever.
func TestRPCRelayExpiryAnswersTheCaller(t *testing.T) {
	t.Parallel()
	p := newBlockingPair(t)
	nodeB := p.nodeB
	caller, started, interrupted := p.caller, p.started, p.interrupted
	awaitRoute(t, caller, "app.ok")
	pending := p.callBlock()
	<-started
	forceExpire(nodeB.rpc, "a")
	select {
	case <-interrupted:
		t.Log("B interrupted its callee")
	case <-time.After(2 * time.Second):
	}
	select {
	case err := <-pending:
		var ce *dealer.CallError
		if !errors.As(err, &ce) || ce.URI != wamp.ErrCanceled {
			t.Fatalf("the call B's relay dropped: %v, want %s", err, wamp.ErrCanceled)
		}
	case <-time.After(3 * nodeExpiry):
		t.Fatalf("the caller on A is still waiting %s after B dropped the call", 3*nodeExpiry)
	}
}

// TestRPCSnapshotOverMaxPayload: a client on B registers many procedures
// with long URIs (across sessions, within any per-session bound) until B's
// snapshot exceeds NATS's max_payload: B announces what fits, oldest first,
// and the others keep hearing it (heartbeats): B's earlier procedures stay
// reachable.
func TestRPCSnapshotOverMaxPayload(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	_, dA := rpcNode(t, s.ClientURL(), "a")
	_, dB := rpcNode(t, s.ClientURL(), "b")
	caller := joinLocal(t, dA)
	callee := joinLocal(t, dB)
	if _, err := callee.Register("app.ok", nil, okHandler("b")); err != nil {
		t.Fatal(err)
	}
	awaitRoute(t, caller, "app.ok")
	other := joinLocal(t, dB)
	pad := strings.Repeat("x", 80)
	for i := range 15000 {
		if _, err := other.Register(fmt.Sprintf("app.many.%s.%d", pad, i), nil, okHandler("b")); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(nodeExpiry + 2*heartbeatEvery)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := caller.Call(ctx, "app.ok", nil, nil, nil)
	if err != nil {
		t.Fatalf("B's app.ok is no longer reachable from A after a client registered 15,000 long URIs on B: %v", err)
	}
}

// TestRPCNoFailureWhileMirroring: while B's registration of a roundrobin
// procedure is being mirrored on A, calls on A that pick the new proxy find
// its key (REGISTERED records it before the proxy can be picked).
func TestRPCNoFailureWhileMirroring(t *testing.T) {
	t.Parallel()
	_, _, onA, onB := rpcPair(t)
	rr := wamp.Dict{"invoke": "roundrobin"}
	var failures atomic.Int64
	var firstErr atomic.Value
	for i := range 100 {
		proc := fmt.Sprintf("app.rr.%d", i)
		if _, err := onA.Register(proc, rr, okHandler("a")); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					_, err := onA.Call(context.Background(), proc, nil, nil, nil)
					var ce *dealer.CallError
					if errors.As(err, &ce) && ce.URI == ErrClusterUnavailable {
						failures.Add(1)
						firstErr.CompareAndSwap(nil, fmt.Sprint(ce.URI, ce.Args))
					}
				}
			}()
		}
		time.Sleep(2 * time.Millisecond)
		if _, err := onB.Register(proc, rr, okHandler("b")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond)
		close(stop)
		wg.Wait()
	}
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d calls failed while B's registration was being mirrored (no unregister anywhere): %v", n, firstErr.Load())
	}
}

// TestRPCStaleIncarnationIgnored: a message or a snapshot that names b
// with an older incarnation (a late one of b's earlier run, or a stray) is
// dropped: A keeps b's calls and registrations.
func TestRPCStaleIncarnationIgnored(t *testing.T) {
	t.Parallel()
	p := newBlockingPair(t)
	nodeA := p.nodeA
	nodeB := p.nodeB
	caller, started := p.caller, p.started
	awaitRoute(t, caller, "app.ok")
	pending := p.callBlock()
	<-started
	// an answer to a call that does not exist, from b's "earlier run"
	data, _ := nodeB.codec.Serialize(&wamp.Result{Request: 999, Details: wamp.Dict{optRealm: "realm1", optFrom: "b", optIncarnation: uint64(12345)}})
	if err := nodeB.nc.Publish(rpcSubjectPrefix+escapeToken("a"), data); err != nil {
		t.Fatal(err)
	}
	// A late snapshot of b's earlier run (with none of the registrations
	// b has now) changes nothing either.
	snap, _ := nodeB.codec.SerializeDataItem(map[string]any{"node": "b", "incarnation": uint64(12345), "realms": map[string]any{}})
	if err := nodeB.nc.Publish(regsSubject, snap); err != nil {
		t.Fatal(err)
	}
	// Until b's next snapshot (a second later) nothing could put them back.
	for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if n := len(mirrored(nodeA.rpc)); n != 2 {
			t.Fatalf("after a late snapshot of b's earlier run, A mirrors %d of b's 2 registrations", n)
		}
	}
	select {
	case err := <-pending:
		t.Fatalf("a stray message with another incarnation of b ended a's call in flight to b: %v", err)
	case <-time.After(2 * time.Second):
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := caller.Call(ctx, "app.ok", nil, nil, nil); err != nil {
		t.Fatalf("after a late snapshot of b's earlier run, b's app.ok: %v", err)
	}
}

// TestRPCMirrorNotBoundedPerSession: the realm's
// max_registrations_per_session bounds each session, not the proxy that
// mirrors all of another node's registrations.
func TestRPCMirrorNotBoundedPerSession(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	mk := func(name string) *dealer.Dealer {
		var node *Node
		d := dealer.New([]dealer.Realm{{Name: "realm1", MaxRegistrationsPerSession: 2}}, dealer.Options{RegistrationsChanged: func(realm string) {
			if node != nil {
				node.RegistrationsChanged(realm)
			}
		}})
		n, err := Connect(Options{URL: s.ClientURL(), Node: name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Close)
		node = n
		if err := n.StartRPC(d, []string{"realm1"}); err != nil {
			t.Fatal(err)
		}
		return d
	}
	dA, dB := mk("a"), mk("b")
	caller := joinLocal(t, dA)
	for i := range 3 { // three sessions on B, one registration each
		if _, err := joinLocal(t, dB).Register(fmt.Sprintf("app.p%d", i), nil, okHandler("b")); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(1500 * time.Millisecond)
	for i := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := caller.Call(ctx, fmt.Sprintf("app.p%d", i), nil, nil, nil)
		cancel()
		if err != nil {
			t.Errorf("app.p%d (one registration of each of 3 sessions on B) is not callable from A: %v", i, err)
		}
	}
}

// TestRPCOverCapStable: over maxMirroredPerRealm, the registrations
// mirrored are the same from one snapshot to the next (no churn, no
// flapping calls).
func TestRPCOverCapStable(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	nodeA, _ := rpcNode(t, s.ClientURL(), "a")
	_, dB := rpcNode(t, s.ClientURL(), "b")
	l := joinLocal(t, dB)
	for i := range maxMirroredPerRealm + 2000 {
		if _, err := l.Register(fmt.Sprintf("p.%d", i), nil, okHandler("b")); err != nil {
			t.Fatal(err)
		}
	}
	snap := func() map[regKey]bool {
		m := map[regKey]bool{}
		for _, k := range mirrored(nodeA.rpc) {
			m[k] = true
		}
		return m
	}
	// Mirroring 10,000 registrations takes a while on a loaded machine:
	// compare once A has them all.
	deadline := time.Now().Add(60 * time.Second)
	for len(snap()) < maxMirroredPerRealm {
		if time.Now().After(deadline) {
			t.Fatalf("A mirrors %d of B's registrations after 60 s, want %d", len(snap()), maxMirroredPerRealm)
		}
		time.Sleep(100 * time.Millisecond)
	}
	before := snap()
	time.Sleep(2500 * time.Millisecond)
	after := snap()
	changed := 0
	for k := range after {
		if !before[k] {
			changed++
		}
	}
	if changed > 0 {
		t.Fatalf("%d of %d mirrored registrations replaced within 2.5 s without any change on B", changed, len(after))
	}
}

// evilConn is a callee that answers every INVOCATION with an ERROR whose
// details it chooses (as any WAMP client can).
type evilConn struct {
	s       *dealer.Session
	details wamp.Dict
}

func (c *evilConn) Send(msg wamp.Message) bool {
	if m, ok := msg.(*wamp.Invocation); ok {
		go c.s.Handle(&wamp.Error{Type: wamp.INVOCATION, Request: m.Request, Details: c.details, Error: "app.error.x"})
	}
	return true
}

// TestRPCCalleeCannotPoseAsNode: a callee on B answers with ERROR details
// {"_sb_from": "c"}: the cluster's own keys are dropped from what a callee
// sends, so A takes the answer for B's (its caller gets it) and keeps C's
// calls and registrations.
func TestRPCCalleeCannotPoseAsNode(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	_, dA := rpcNode(t, s.ClientURL(), "a")
	_, dB := rpcNode(t, s.ClientURL(), "b")
	_, dC := rpcNode(t, s.ClientURL(), "c")
	caller := joinLocal(t, dA)
	onC := joinLocal(t, dC)
	started, interrupted := make(chan struct{}, 4), make(chan struct{}, 4)
	if _, err := onC.Register("app.c.block", nil, blockHandler(started, interrupted)); err != nil {
		t.Fatal(err)
	}
	if _, err := onC.Register("app.c.ok", nil, okHandler("c")); err != nil {
		t.Fatal(err)
	}
	ec := &evilConn{details: wamp.Dict{"_sb_from": "c"}}
	ec.s = dB.Join(ec, "realm1", dealer.SessionInfo{ID: wamp.GlobalID(), AuthID: "mallory", AuthRole: "user", Trusted: true})
	ec.s.Handle(&wamp.Register{Request: 1, Procedure: "app.evil", Options: wamp.Dict{}})
	awaitRoute(t, caller, "app.c.ok")
	awaitRoute(t, caller, "app.evil")
	pending := make(chan error, 1)
	go func() {
		_, err := caller.Call(context.Background(), "app.c.block", nil, nil, nil)
		pending <- err
	}()
	<-started
	ectx, ecancel := context.WithTimeout(context.Background(), 3*time.Second)
	_, err := caller.Call(ectx, "app.evil", nil, nil, nil)
	ecancel()
	var ce *dealer.CallError
	if !errors.As(err, &ce) || ce.URI != "app.error.x" {
		t.Fatalf("app.evil, whose callee on B answers with _sb_ details: %v, want its own error app.error.x", err)
	}
	select {
	case err := <-pending:
		t.Fatalf("an ERROR of a callee on B ended a call in flight to C: %v", err)
	case <-time.After(2 * time.Second):
	}
}
