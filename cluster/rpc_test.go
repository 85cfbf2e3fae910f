package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/dealer"
)

// rpcNode is a node with a dealer of realm1 whose calls it routes.
func rpcNode(t *testing.T, url, name string) (*Node, *dealer.Dealer) {
	t.Helper()
	var node *Node
	d := dealer.New([]dealer.Realm{{Name: "realm1"}}, dealer.Options{RegistrationsChanged: func(realm string) {
		if node != nil {
			node.RegistrationsChanged(realm)
		}
	}})
	n, err := Connect(Options{URL: url, Node: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	node = n
	if err := n.StartRPC(d, []string{"realm1"}); err != nil {
		t.Fatal(err)
	}
	return n, d
}

func joinLocal(t *testing.T, d *dealer.Dealer) *dealer.Local {
	t.Helper()
	l, err := d.JoinLocal("realm1", "test", "trusted", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

// rpcPair is two nodes a and b routing calls on one NATS server, with an
// in-process session on each.
func rpcPair(t *testing.T) (nodeA, nodeB *Node, onA, onB *dealer.Local) {
	t.Helper()
	s := startNATS(t)
	nodeA, dA := rpcNode(t, s.ClientURL(), "a")
	nodeB, dB := rpcNode(t, s.ClientURL(), "b")
	return nodeA, nodeB, joinLocal(t, dA), joinLocal(t, dB)
}

// awaitRoute calls procedure until the caller's node routes it.
func awaitRoute(t *testing.T, caller *dealer.Local, procedure string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := caller.Call(ctx, procedure, nil, nil, nil)
		cancel()
		var ce *dealer.CallError
		if err == nil || !errors.As(err, &ce) || ce.URI != wamp.ErrNoSuchProcedure {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not routed after 10 s", procedure)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRPCNodeDies: a node that stops without a word (its NATS connection
// gone, no snapshot, no answer) is let go within nodeExpiry and a tick:
// the calls pending on it fail with callee_lost, its registrations vanish.
func TestRPCNodeDies(t *testing.T) {
	t.Parallel()
	_, nodeB, caller, callee := rpcPair(t)
	started := make(chan struct{}, 1)
	if _, err := callee.Register("app.block", nil, func(ctx context.Context, _ *wamp.Invocation) (wamp.List, wamp.Dict, *dealer.CallError) {
		started <- struct{}{}
		select {
		case <-ctx.Done():
		case <-time.After(time.Minute):
		}
		return wamp.List{"late"}, nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := callee.Register("app.ok", nil, func(context.Context, *wamp.Invocation) (wamp.List, wamp.Dict, *dealer.CallError) {
		return wamp.List{"ok"}, nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	awaitRoute(t, caller, "app.ok")

	pending := make(chan error, 1)
	go func() {
		_, err := caller.Call(context.Background(), "app.block", nil, nil, nil)
		pending <- err
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not reach the other node's callee")
	}
	// B's NATS connection goes; B's dealer and callee stay (a node cut
	// off, or frozen): nothing tells A.
	nodeB.nc.Close()
	killed := time.Now()
	select {
	case err := <-pending:
		var ce *dealer.CallError
		if !errors.As(err, &ce) || ce.URI != wamp.ErrCanceled {
			t.Fatalf("a call pending on a dead node: %v, want %s (callee_lost)", err, wamp.ErrCanceled)
		}
		if reason, _ := ce.Kwargs["reason"].(string); reason != "callee_lost" {
			t.Fatalf("a call pending on a dead node: reason %v, want callee_lost", ce.Kwargs)
		}
		if since := time.Since(killed); since < nodeExpiry-heartbeatEvery {
			t.Fatalf("the call failed %s after B went silent, before its expiry: something else ended it", since)
		}
	case <-time.After(nodeExpiry + 10*time.Second):
		t.Fatal("a call pending on a dead node was not answered")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := caller.Call(ctx, "app.ok", nil, nil, nil)
	var ce *dealer.CallError
	if !errors.As(err, &ce) || ce.URI != wamp.ErrNoSuchProcedure {
		t.Fatalf("a dead node's registration after its expiry: %v, want %s", err, wamp.ErrNoSuchProcedure)
	}
}

// TestRPCSingleConflict: without registration claims (no JetStream), two
// nodes that registered the same single procedure before they knew of
// each other keep routing calls each to its own callee (the conflict is
// logged), and a third node refuses a registration of it.
func TestRPCSingleConflict(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	// Registered on both before either node joins the cluster (so before
	// either can know of the other's; without claims in JetStream KV).
	dA := dealer.New([]dealer.Realm{{Name: "realm1"}}, dealer.Options{})
	dB := dealer.New([]dealer.Realm{{Name: "realm1"}}, dealer.Options{})
	onA, onB := joinLocal(t, dA), joinLocal(t, dB)
	answer := func(who string) dealer.Handler {
		return func(context.Context, *wamp.Invocation) (wamp.List, wamp.Dict, *dealer.CallError) {
			return wamp.List{who}, nil, nil
		}
	}
	if _, err := onA.Register("app.p", nil, answer("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := onB.Register("app.p", nil, answer("b")); err != nil {
		t.Fatal(err)
	}
	for name, d := range map[string]*dealer.Dealer{"a": dA, "b": dB} {
		n, err := Connect(Options{URL: s.ClientURL(), Node: name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Close)
		if err := n.StartRPC(d, []string{"realm1"}); err != nil {
			t.Fatal(err)
		}
	}
	_, dC := rpcNode(t, s.ClientURL(), "c")
	onC := joinLocal(t, dC)
	awaitRoute(t, onC, "app.p")
	for _, tc := range []struct {
		caller *dealer.Local
		want   string
	}{{onA, "a"}, {onB, "b"}} {
		res, err := tc.caller.Call(context.Background(), "app.p", nil, nil, nil)
		if err != nil || len(res.Arguments) != 1 || res.Arguments[0] != tc.want {
			t.Fatalf("a call on node %s of a procedure registered there and elsewhere: %v %v, want its own callee", tc.want, res, err)
		}
	}
	if _, err := onC.Register("app.p", nil, answer("c")); err == nil {
		t.Fatal("a third node registered a single procedure two other nodes hold")
	}
}

// TestRPCLostCallFails: a CALL lost between the nodes (here: B's RPC
// subscription is gone while it is sent) does not leave its caller
// waiting for ever: the in-flight check finds that B does not have it, and
// the call fails with cluster_unavailable. Calls B does have are left
// alone by the check.
func TestRPCLostCallFails(t *testing.T) {
	t.Parallel()
	_, nodeB, caller, callee := rpcPair(t)
	release, started := make(chan struct{}), make(chan struct{}, 1)
	if _, err := callee.Register("app.slow", nil, func(ctx context.Context, _ *wamp.Invocation) (wamp.List, wamp.Dict, *dealer.CallError) {
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return wamp.List{"slow"}, nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := callee.Register("app.ok", nil, func(context.Context, *wamp.Invocation) (wamp.List, wamp.Dict, *dealer.CallError) {
		return wamp.List{"ok"}, nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	awaitRoute(t, caller, "app.ok")

	// A call B has, pending over several checks, is not failed by them.
	slow := make(chan error, 1)
	go func() {
		res, err := caller.Call(context.Background(), "app.slow", nil, nil, nil)
		if err == nil && (len(res.Arguments) != 1 || res.Arguments[0] != "slow") {
			err = errors.New("wrong result")
		}
		slow <- err
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow call did not reach B")
	}

	if err := nodeB.rpc.calls.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	if err := nodeB.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	lost := make(chan error, 1)
	go func() {
		_, err := caller.Call(context.Background(), "app.ok", nil, nil, nil)
		lost <- err
	}()
	time.Sleep(200 * time.Millisecond) // the CALL goes nowhere
	sub, err := nodeB.nc.Subscribe(rpcSubjectPrefix+escapeToken("b"), nodeB.rpc.onMessage)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	select {
	case err := <-lost:
		var ce *dealer.CallError
		if !errors.As(err, &ce) || ce.URI != ErrClusterUnavailable {
			t.Fatalf("a call lost between the nodes: %v, want %s", err, ErrClusterUnavailable)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a call lost between the nodes is still waiting after 10 s")
	}
	select {
	case err := <-slow:
		t.Fatalf("the in-flight check ended a call the other node has: %v", err)
	case <-time.After(2 * heartbeatEvery):
	}
	close(release)
	select {
	case err := <-slow:
		if err != nil {
			t.Fatalf("a slow call across nodes: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the slow call was not answered")
	}
}

// rpcNodeJS is rpcNode on a server with JetStream, with the registration
// claims' bucket open and the dealer claiming through it.
func rpcNodeJS(t *testing.T, url, name string) (*Node, *dealer.Dealer) {
	t.Helper()
	var node *Node
	d := dealer.New([]dealer.Realm{{Name: "realm1"}}, dealer.Options{
		RegistrationsChanged: func(realm string) {
			if node != nil {
				node.RegistrationsChanged(realm)
			}
		},
		Claim: func(realm, uri, match, policy string) error {
			if node != nil {
				return node.ClaimRegistration(realm, uri, match, policy)
			}
			return nil
		},
	})
	n, err := Connect(Options{URL: url, Node: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	if err := n.StartRPC(d, []string{"realm1"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.StartRegistry(ctx, 1); err != nil {
		t.Fatal(err)
	}
	node = n
	return n, d
}

// TestRPCClaimSingleAtOnce: two nodes register the same single procedure
// at the same moment (before either's snapshot can reach the other),
// twenty times over: each time exactly one REGISTER succeeds, the other is
// refused with procedure_already_exists. Once the winner unregisters, the
// other node may register it.
func TestRPCClaimSingleAtOnce(t *testing.T) {
	t.Parallel()
	s := startNATSJetStream(t)
	_, dA := rpcNodeJS(t, s.ClientURL(), "a")
	_, dB := rpcNodeJS(t, s.ClientURL(), "b")
	onA, onB := joinLocal(t, dA), joinLocal(t, dB)
	ok := func(context.Context, *wamp.Invocation) (wamp.List, wamp.Dict, *dealer.CallError) {
		return wamp.List{"ok"}, nil, nil
	}
	var lastA, lastB wamp.ID
	for i := range 20 {
		proc := fmt.Sprintf("app.claimed.%d", i)
		var wg sync.WaitGroup
		var errA, errB error
		var regA, regB wamp.ID
		wg.Add(2)
		go func() { defer wg.Done(); regA, errA = onA.Register(proc, nil, ok) }()
		go func() { defer wg.Done(); regB, errB = onB.Register(proc, nil, ok) }()
		wg.Wait()
		if (errA == nil) == (errB == nil) {
			t.Fatalf("%s registered on both nodes at once: A %v, B %v; want exactly one refused", proc, errA, errB)
		}
		for _, err := range []error{errA, errB} {
			var ce *dealer.CallError
			if err != nil && (!errors.As(err, &ce) || ce.URI != wamp.ErrProcedureAlreadyExists) {
				t.Fatalf("%s: the refused REGISTER: %v, want %s", proc, err, wamp.ErrProcedureAlreadyExists)
			}
		}
		lastA, lastB = regA, regB
	}
	// The last procedure: its winner unregisters, the other node then may.
	proc := "app.claimed.19"
	winner, other := onA, onB
	reg := lastA
	if lastA == 0 {
		winner, other, reg = onB, onA, lastB
	}
	if err := winner.Unregister(reg); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := other.Register(proc, nil, ok)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is still refused 10 s after its only holder unregistered: %v", proc, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
