package dealer

import (
	"sync"
	"testing"

	"github.com/gammazero/nexus/v3/wamp"
)

// recordingConn keeps what the dealer sends a session.
type recordingConn struct {
	mu   sync.Mutex
	msgs []wamp.Message
}

func (c *recordingConn) Send(msg wamp.Message) bool {
	c.mu.Lock()
	c.msgs = append(c.msgs, msg)
	c.mu.Unlock()
	return true
}

func (c *recordingConn) count(typ wamp.MessageType) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, m := range c.msgs {
		if m.MessageType() == typ {
			n++
		}
	}
	return n
}

// TestRelayGoesToLocalCalleesOnly: a call relayed from another node goes
// to this node's own callees of the registration chosen, never to a
// Remote one (another node's proxy on the same shared registration): a
// call never travels on between nodes. Calls of this node's own callers
// use the whole registration.
func TestRelayGoesToLocalCalleesOnly(t *testing.T) {
	d := New([]Realm{{Name: "r"}}, Options{})
	local, proxyConn, relayConn, callerConn := &recordingConn{}, &recordingConn{}, &recordingConn{}, &recordingConn{}
	callee := d.Join(local, "r", SessionInfo{ID: 1, Trusted: true})
	proxy := d.Join(proxyConn, "r", SessionInfo{ID: 2, Trusted: true, Remote: true})
	relay := d.Join(relayConn, "r", SessionInfo{ID: 3, Trusted: true, Remote: true})
	caller := d.Join(callerConn, "r", SessionInfo{ID: 4, Trusted: true})
	rr := wamp.Dict{wamp.OptInvoke: wamp.InvokeRoundRobin}
	proxy.Handle(&wamp.Register{Request: 1, Procedure: "p", Options: rr})
	callee.Handle(&wamp.Register{Request: 1, Procedure: "p", Options: rr})
	for i := range 10 {
		relay.Relay(&wamp.Call{Request: wamp.ID(i + 1), Options: wamp.Dict{}, Procedure: "p"},
			Relayed{URI: "p", Match: "exact", Caller: &Caller{Session: 99, AuthID: "a", AuthRole: "r"}})
	}
	if got := proxyConn.count(wamp.INVOCATION); got != 0 {
		t.Fatalf("%d of 10 relayed calls went to another node's proxy, want 0", got)
	}
	if got := local.count(wamp.INVOCATION); got != 10 {
		t.Fatalf("%d of 10 relayed calls reached the local callee, want 10", got)
	}
	for i := range 10 {
		caller.Handle(&wamp.Call{Request: wamp.ID(i + 1), Options: wamp.Dict{}, Procedure: "p"})
	}
	if got := proxyConn.count(wamp.INVOCATION); got != 5 {
		t.Fatalf("%d of 10 calls of a local caller went to the proxy, want 5 (roundrobin)", got)
	}
	// The relayed call named its caller as the other node disclosed it.
	local.mu.Lock()
	inv := local.msgs[1].(*wamp.Invocation)
	local.mu.Unlock()
	if id, _ := wamp.AsID(inv.Details["caller"]); id != 99 {
		t.Fatalf("a relayed call's INVOCATION details: %v, want caller 99", inv.Details)
	}
	// A relayed call for a registration this node does not have fails.
	relay.Relay(&wamp.Call{Request: 100, Options: wamp.Dict{}, Procedure: "q"}, Relayed{URI: "q", Match: "exact"})
	if got := relayConn.count(wamp.ERROR); got != 1 {
		t.Fatalf("a relayed call of an unknown registration: %d ERRORs, want 1", got)
	}
}
