package router_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// bridgeWithReader is withBridge plus a role "reader" that may call
// app.shown.* with its identity disclosed, as backend may.
func bridgeWithReader(c *config.Config) {
	withBridge(false)(c)
	c.Realms[0].Roles = append(c.Realms[0].Roles, config.Role{Name: "reader", Permissions: []config.Permission{
		{URI: "app.shown.", Match: "prefix", Allow: config.Allow{Call: true}, Disclose: config.Disclose{Caller: true}},
	}})
}

// TestBridgeCallerIdentityAfterReload: a reload that gives a bridge key
// another authid and role (demoting a leaked key, say) changes what
// callees are told about its calls, as it changes what the key may do.
// The bridge's in-process caller sessions were cached by key name with the
// identity of the key's first request, so callees kept seeing the old
// authid and role (a callee that authorizes by caller_authrole would
// still treat the demoted key as its old role).
func TestBridgeCallerIdentityAfterReload(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, bridgeWithReader)
	callee := srv.Dial(t, 1, "json", client.Config{})
	must(t, callee.Register("app.shown.whoami", func(_ context.Context, inv *wamp.Invocation) client.InvokeResult {
		return client.InvokeResult{Kwargs: wamp.Dict{"authid": inv.Details["caller_authid"], "authrole": inv.Details["caller_authrole"]}}
	}, nil))
	b := newBridgeClient(t, srv)
	whoami := func() (any, any) {
		t.Helper()
		r := b.bearer("/call", `{"procedure":"app.shown.whoami"}`)
		r.expect(t, http.StatusOK, "")
		kw, _ := r.body["kwargs"].(map[string]any)
		return kw["authid"], kw["authrole"]
	}
	if id, role := whoami(); id != "worker-1" || role != "backend" {
		t.Fatalf("before the reload the callee saw %v/%v, want worker-1/backend", id, role)
	}

	next := routertest.Config()
	bridgeWithReader(next)
	next.Listeners[0].Bridge.Keys[1].AuthID = "worker-2"
	next.Listeners[0].Bridge.Keys[1].Role = "reader"
	must(t, srv.Reload(next))
	if id, role := whoami(); id != "worker-2" || role != "reader" {
		t.Fatalf("after the reload the callee saw %v/%v, want worker-2/reader", id, role)
	}
}

// TestGoodbyeEndsTheDealerSession: after a callee's GOODBYE its
// registrations are gone (a caller gets no_such_procedure), and whatever
// it still sends on the connection reaches no dealer session.
func TestGoodbyeEndsTheDealerSession(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	callee := dialWire(t, srv, 0, "json", wireHello{callee: []string{"call_canceling"}})
	caller := dialWire(t, srv, 1, "msgpack", wireHello{})
	callee.register("review.bye", nil)
	caller.callResult("wamp.registration.lookup", nil, wamp.List{"review.bye"}, nil)

	callee.send(&wamp.Goodbye{Details: wamp.Dict{}, Reason: wamp.CloseNormal})
	expectMsg[*wamp.Goodbye](callee, "GOODBYE reply")
	// If the connection stays open, a REGISTER after GOODBYE is not
	// answered with REGISTERED.
	_ = callee.sendErr(&wamp.Register{Request: callee.req(), Options: wamp.Dict{}, Procedure: "review.after_bye"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		res := caller.callResult("wamp.registration.lookup", nil, wamp.List{"review.bye"}, nil)
		if len(res.Arguments) > 0 && res.Arguments[0] == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("review.bye is still registered after its callee's GOODBYE")
		}
		time.Sleep(10 * time.Millisecond)
	}
	res := caller.callResult("wamp.registration.lookup", nil, wamp.List{"review.after_bye"}, nil)
	if len(res.Arguments) == 0 || res.Arguments[0] != nil {
		t.Fatalf("a REGISTER sent after GOODBYE was registered: %v", res.Arguments)
	}
	if msg, err := callee.recvWithin(200 * time.Millisecond); err == nil {
		if _, ok := msg.(*wamp.Registered); ok {
			t.Fatalf("REGISTERED after GOODBYE: %v", msg)
		}
	}
}

// TestDealerSelfCall: a session that is its own callee (with
// call_canceling): its CALL comes back to it as an INVOCATION, a kill
// CANCEL interrupts it and its ERROR answers the call; leaving with calls
// to itself pending deadlocks nothing and leaves no registration.
func TestDealerSelfCall(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	for i, c := range combos() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			self := dialWire(t, srv, c.listener, c.ser, wireHello{callee: []string{"call_canceling"}, caller: []string{"call_canceling"}})
			proc := fmt.Sprintf("review.self.%d", i)
			self.register(proc, nil)

			req := self.call(proc, nil, wamp.List{"ping"}, nil)
			inv := expectMsg[*wamp.Invocation](self, "own INVOCATION")
			self.yield(inv.Request, nil, inv.Arguments, nil)
			if r := self.expectResult(req, "own RESULT"); len(r.Arguments) != 1 || r.Arguments[0] != "ping" {
				t.Fatalf("own RESULT %v", r.Arguments)
			}

			req = self.call(proc, nil, nil, nil)
			inv = expectMsg[*wamp.Invocation](self, "own INVOCATION to cancel")
			self.send(&wamp.Cancel{Request: req, Options: wamp.Dict{"mode": "kill"}})
			if intr := expectMsg[*wamp.Interrupt](self, "own INTERRUPT"); intr.Request != inv.Request {
				t.Fatalf("INTERRUPT of %d, want %d", intr.Request, inv.Request)
			}
			self.send(&wamp.Error{Type: wamp.INVOCATION, Request: inv.Request, Details: wamp.Dict{}, Error: "review.error.stopped"})
			self.expectError(wamp.CALL, req, "review.error.stopped", "own ERROR after kill")

			// Calls to itself pending, then it leaves.
			for range 20 {
				self.call(proc, wamp.Dict{"timeout": 600000}, nil, nil)
			}
			for range 20 {
				expectMsg[*wamp.Invocation](self, "pending own INVOCATION")
			}
			self.close()
			other := dialWire(t, srv, c.listener, c.ser, wireHello{})
			deadline := time.Now().Add(10 * time.Second)
			for {
				res := other.callResult("wamp.registration.lookup", nil, wamp.List{proc}, nil)
				if len(res.Arguments) > 0 && res.Arguments[0] == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s still registered after its callee (and caller) left", proc)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestDealerOddTimeouts: timeouts a MessagePack client can send (NaN,
// infinities, huge, negative, not a number) neither time a call out at
// once nor panic; a fraction of a millisecond still times out.
func TestDealerOddTimeouts(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	callee := dialWire(t, srv, 1, "msgpack", wireHello{callee: []string{"call_canceling", "call_timeout"}})
	caller := dialWire(t, srv, 1, "msgpack", wireHello{})
	callee.register("review.timeouts", nil)
	for _, timeout := range []any{math.NaN(), math.Inf(1), math.Inf(-1), 1e300, -1, "soon", uint64(math.MaxUint64)} {
		req := caller.call("review.timeouts", wamp.Dict{"timeout": timeout}, wamp.List{"ok"}, nil)
		inv := expectMsg[*wamp.Invocation](callee, fmt.Sprintf("timeout %v", timeout))
		callee.yield(inv.Request, nil, inv.Arguments, nil)
		caller.expectResult(req, fmt.Sprintf("timeout %v", timeout))
	}
	req := caller.call("review.timeouts", wamp.Dict{"timeout": 0.25}, nil, nil)
	expectMsg[*wamp.Invocation](callee, "timeout 0.25 ms")
	caller.expectError(wamp.CALL, req, wamp.ErrTimeout, "timeout 0.25 ms")
}

// TestReloadProtectsNewAuthorizerFromOldPatterns: a reload that gives a
// role a dynamic authorizer on a procedure that a registration made
// earlier covers (a prefix the registering role was allowed, since it
// covered no protected procedure then) must not let that registration
// answer the authorizer's questions: only an exact register permission
// may (security.md), and mayCover is checked at REGISTER time only.
// Here eve (role member: register by prefix "") registered com.auth.
// before the reload; she then receives the router's calls of
// com.auth.decide and allows sam everything.
func TestReloadProtectsNewAuthorizerFromOldPatterns(t *testing.T) {
	t.Parallel()
	const eveTicket = "eve-ticket-0123456789abcdef"
	const samTicket = "sam-ticket-0123456789abcdef"
	withEve := func(c *config.Config) {
		dynamicRealm(c)
		r := &c.Realms[0]
		r.Roles[0].Permissions[0].Allow.Register = false // anonymous sessions register nothing
		r.Roles = append(r.Roles, config.Role{Name: "member", Permissions: []config.Permission{
			{URI: "", Match: "prefix", Allow: config.Allow{Register: true, Call: true}}}})
		r.Auth.Ticket.Principals["eve"] = config.TicketPrincipal{Ticket: eveTicket, Role: "member"}
	}
	srv := routertest.Start(t, withEve)
	eve := srv.Dial(t, 1, "json", ticketAuth("eve", eveTicket))
	var mu sync.Mutex
	questions := 0
	must(t, eve.Register("com.auth.", func(context.Context, *wamp.Invocation) client.InvokeResult {
		mu.Lock()
		questions++
		mu.Unlock()
		return client.InvokeResult{Args: wamp.List{true}}
	}, wamp.Dict{"match": "prefix"}))

	next := routertest.Config()
	withEve(next)
	r := &next.Realms[0]
	r.Roles = append(r.Roles, config.Role{Name: "staff", Authorizer: "com.auth.decide", AuthorizerCache: time.Minute})
	r.Auth.Ticket.Principals["sam"] = config.TicketPrincipal{Ticket: samTicket, Role: "staff"}
	must(t, srv.Reload(next))

	sam := srv.Dial(t, 0, "json", ticketAuth("sam", samTicket))
	err := sam.Subscribe("com.example.anything", func(*wamp.Event) {}, nil)
	mu.Lock()
	n := questions
	mu.Unlock()
	if err == nil || n > 0 {
		t.Fatalf("sam's SUBSCRIBE: %v; eve's prefix registration answered %d authorization questions (want not_authorized, none)", err, n)
	}
}

// TestDealerProgressiveChunkAfterEarlyAnswer: a callee may end a
// progressive call before the caller's last chunk (an ERROR: the upload
// is refused). The caller's chunks already on their way belong to that
// call (rpc.md: CALLs with the same request ID and progress continue it;
// reusing the ID for a new call is only after the call, and these are
// not a new call): they must not start a new call, which the callee
// would see as a fresh INVOCATION with a new request ID and no first
// chunk, and whose answer the caller would get as a second answer to the
// request it already has an ERROR for.
func TestDealerProgressiveChunkAfterEarlyAnswer(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	feats := []string{"progressive_call_invocations", "call_canceling"}
	callee := dialWire(t, srv, 0, "json", wireHello{callee: feats})
	caller := dialWire(t, srv, 1, "cbor", wireHello{caller: []string{"progressive_call_invocations"}})
	callee.register("review.upload", nil)

	req := caller.req()
	caller.send(&wamp.Call{Request: req, Options: wamp.Dict{"progress": true}, Procedure: "review.upload", Arguments: wamp.List{"a"}})
	inv := expectMsg[*wamp.Invocation](callee, "first chunk")
	callee.send(&wamp.Error{Type: wamp.INVOCATION, Request: inv.Request, Details: wamp.Dict{}, Error: "review.error.refused"})
	caller.expectError(wamp.CALL, req, "review.error.refused", "early ERROR")
	// The caller had sent these before it read the ERROR.
	caller.send(&wamp.Call{Request: req, Options: wamp.Dict{"progress": true}, Procedure: "review.upload", Arguments: wamp.List{"b"}})
	caller.send(&wamp.Call{Request: req, Options: wamp.Dict{}, Procedure: "review.upload", Arguments: wamp.List{"c"}})
	// The caller's reader has handled them (and queued whatever they
	// cause for the callee) once it answers the barrier.
	caller.sync("late chunks handled")
	if before := callee.untilSync("late chunks"); len(before) > 0 {
		t.Fatalf("the callee got %d messages for the ended call's late chunks, the first %s %v", len(before), before[0].MessageType(), before[0])
	}
}
