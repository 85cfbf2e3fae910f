package router_test

import (
	"fmt"
	"testing"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/dealer"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// rpcRoles gives anonymous sessions call-only, register-only and both
// permissions under three prefixes, and neither on one procedure inside
// the third (the most specific permission wins).
func rpcRoles(c *config.Config) {
	c.Realms[0].Roles[0].Permissions = []config.Permission{
		{URI: "app.call.", Match: "prefix", Allow: config.Allow{Call: true}},
		{URI: "app.reg.", Match: "prefix", Allow: config.Allow{Register: true}},
		{URI: "app.both.", Match: "prefix", Allow: config.Allow{Call: true, Register: true}},
		{URI: "app.both.secret", Match: "exact", Allow: config.Allow{Publish: true}},
	}
}

// TestDealerPermissions: REGISTER without the register permission and CALL
// without the call permission are wamp.error.not_authorized; with them they
// work (a CALL allowed to a procedure nobody may register is
// no_such_procedure, not not_authorized); a pattern registration needs the
// permission for every procedure it can match; procedures under wamp. are
// the router's: wamp.error.invalid_uri.
func TestDealerPermissions(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, rpcRoles)
	for i, c := range combos() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			callee := dialWire(t, srv, c.listener, c.ser, wireHello{})
			caller := dialWire(t, srv, c.listener, c.ser, wireHello{})
			n := fmt.Sprint(i)

			callee.registerErr("app.call.p"+n, nil, wamp.ErrNotAuthorized, "REGISTER with call permission only")
			callee.registerErr("app.other.p"+n, nil, wamp.ErrNotAuthorized, "REGISTER without any permission")
			callee.registerErr("app.both.secret", nil, wamp.ErrNotAuthorized, "REGISTER where the exact permission denies it")
			callee.registerErr("app.both.", wamp.Dict{"match": "prefix"}, wamp.ErrNotAuthorized, "a prefix registration covering a denied procedure")
			callee.registerErr("app..p"+n, wamp.Dict{"match": "wildcard"}, wamp.ErrNotAuthorized, "a wildcard registration covering call-only procedures")
			reg := callee.register("app.reg.p"+n, nil)
			both := callee.register("app.both.p"+n, nil)
			callee.register("app.reg.pattern"+n+".", wamp.Dict{"match": "prefix"})

			caller.callError("app.reg.p"+n, nil, nil, wamp.ErrNotAuthorized, "CALL with register permission only")
			caller.callError("app.reg.pattern"+n+".x", nil, nil, wamp.ErrNotAuthorized, "CALL of a pattern registration with register permission only")
			caller.callError("app.other.p"+n, nil, nil, wamp.ErrNotAuthorized, "CALL without any permission")
			caller.callError("app.both.secret", nil, nil, wamp.ErrNotAuthorized, "CALL where the exact permission denies it")
			caller.callError("app.call.p"+n, nil, nil, wamp.ErrNoSuchProcedure, "CALL allowed, nothing registered")
			callee.sync("no INVOCATION for a refused call")

			req := caller.call("app.both.p"+n, nil, wamp.List{"ok"}, nil)
			inv := expectMsg[*wamp.Invocation](callee, "an allowed call")
			if inv.Registration != both {
				t.Fatalf("INVOCATION of registration %d, want %d (not %d)", inv.Registration, both, reg)
			}
			callee.yield(inv.Request, nil, inv.Arguments, nil)
			caller.expectResult(req, "an allowed call")
		})
	}
}

// TestDealerReservedProcedures: nobody registers under wamp., whatever its
// permissions (the default config allows everything); a CALL of an unknown
// wamp. procedure is no_such_procedure.
func TestDealerReservedProcedures(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	for i, c := range combos() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := dialWire(t, srv, c.listener, c.ser, wireHello{})
			w.registerErr(fmt.Sprintf("wamp.mine.%d", i), nil, wamp.ErrInvalidURI, "REGISTER wamp.*")
			w.registerErr("wamp.registration.list", nil, wamp.ErrInvalidURI, "REGISTER a meta procedure")
			w.registerErr("wamp.", wamp.Dict{"match": "prefix"}, wamp.ErrInvalidURI, "REGISTER prefix wamp.")
			w.registerErr("wamp..list", wamp.Dict{"match": "wildcard"}, wamp.ErrInvalidURI, "REGISTER wildcard wamp..list")
			w.registerErr("com..bad", nil, wamp.ErrInvalidURI, "REGISTER an exact URI with an empty component")
			w.registerErr("com.x", wamp.Dict{"match": "glob"}, wamp.ErrInvalidArgument, "REGISTER with an unknown match policy")
			w.callError(fmt.Sprintf("wamp.mine.%d", i), nil, nil, wamp.ErrNoSuchProcedure, "CALL wamp.*")
		})
	}
}

// TestDealerPendingCallsLimit: with max_pending_calls_per_session 4, a
// caller with 4 calls pending gets switchboard.error.limit_exceeded for the
// 5th at once (the callee is not invoked), and after one of them ends a new
// call works, until it is 4 again; another caller is not bounded by the
// first's calls; each refusal is counted in
// switchboard_realm_limit_exceeded_total{limit="pending_calls_per_session"}.
func TestDealerPendingCallsLimit(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, func(c *config.Config) { c.Realms[0].Options.MaxPendingCallsPerSession = 4 })
	c := comboAt(4)
	callee := dialWire(t, srv, c.listener, c.ser, wireHello{})
	caller := dialWire(t, srv, c.listener, c.ser, wireHello{})
	other := dialWire(t, srv, 0, "json", wireHello{})
	callee.register("com.dealer.limit.hold", nil)

	var reqs []wamp.ID
	var invs []*wamp.Invocation
	for range 4 {
		reqs = append(reqs, caller.call("com.dealer.limit.hold", nil, nil, nil))
		invs = append(invs, expectMsg[*wamp.Invocation](callee, "a call within the limit"))
	}
	caller.callError("com.dealer.limit.hold", nil, nil, dealer.LimitExceededURI, "the 5th call in flight")
	callee.sync("the 5th call does not reach the callee")

	// Another session is not bounded by the first's calls.
	req := other.call("com.dealer.limit.hold", nil, nil, nil)
	inv := expectMsg[*wamp.Invocation](callee, "another caller")
	callee.yield(inv.Request, nil, nil, nil)
	other.expectResult(req, "another caller")

	// One ends: one more fits, then the bound holds again.
	callee.yield(invs[0].Request, nil, wamp.List{"first"}, nil)
	caller.expectResult(reqs[0], "the first call")
	reqs = append(reqs[1:], caller.call("com.dealer.limit.hold", nil, nil, nil))
	invs = append(invs[1:], expectMsg[*wamp.Invocation](callee, "a call after one ended"))
	caller.callError("com.dealer.limit.hold", nil, nil, dealer.LimitExceededURI, "the 5th call in flight, again")

	// A cancelled call is not in flight either.
	caller.send(&wamp.Cancel{Request: reqs[0], Options: wamp.Dict{"mode": "skip"}})
	caller.expectError(wamp.CALL, reqs[0], wamp.ErrCanceled, "cancel")
	reqs = append(reqs[1:], caller.call("com.dealer.limit.hold", nil, nil, nil))
	invs = append(invs[1:], expectMsg[*wamp.Invocation](callee, "a call after a cancel"))
	for _, inv := range invs {
		callee.yield(inv.Request, nil, nil, nil)
	}
	for _, r := range reqs {
		caller.expectResult(r, "the held calls")
	}

	if n := limitRefusals(t, srv, dealer.LimitCallsPerSession); n != 2 {
		t.Fatalf("switchboard_realm_limit_exceeded_total{limit=pending_calls_per_session} = %v, want 2", n)
	}
}

// TestDealerPendingCallsLimitBackToBack: a caller at a bound of 1 that
// sends its next CALL the moment it reads each RESULT is never refused: the
// call has left the caller's count before its RESULT is sent.
func TestDealerPendingCallsLimitBackToBack(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, func(c *config.Config) { c.Realms[0].Options.MaxPendingCallsPerSession = 1 })
	callee := dialWire(t, srv, 1, "msgpack", wireHello{})
	caller := dialWire(t, srv, 1, "msgpack", wireHello{})
	callee.register("com.dealer.limit.echo", nil)
	go answerWith(callee, 1)
	for n := range 500 {
		req := caller.call("com.dealer.limit.echo", nil, nil, nil)
		msg := caller.recv("a call back to back")
		if r, ok := msg.(*wamp.Result); !ok || r.Request != req {
			t.Fatalf("call %d: got %s %v, want its RESULT", n, msg.MessageType(), msg)
		}
	}
}

// TestDealerPendingCallsLimitReusedRequestID: a caller that reuses the
// request ID of a call still pending (a protocol error, unless it is a
// progressive call invocation) does not get around
// max_pending_calls_per_session: of 8 CALLs with request ID 1 at a bound of
// 4, at most 4 reach the callee, and every other one is answered with an
// ERROR.
func TestDealerPendingCallsLimitReusedRequestID(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, func(c *config.Config) { c.Realms[0].Options.MaxPendingCallsPerSession = 4 })
	callee := dialWire(t, srv, 1, "cbor", wireHello{})
	caller := dialWire(t, srv, 0, "json", wireHello{})
	callee.register("com.dealer.limit.reuse", nil)
	const sent = 8
	for range sent {
		caller.send(&wamp.Call{Request: 1, Options: wamp.Dict{}, Procedure: "com.dealer.limit.reuse"})
	}
	// The caller's barrier is answered after the dealer has handled all 8,
	// and queued whatever they sent the callee.
	refused, invoked := 0, 0
	for _, msg := range caller.untilSync("the answers to the reused request ID") {
		if e, ok := msg.(*wamp.Error); !ok || e.Type != wamp.CALL || e.Request != 1 {
			t.Fatalf("got %s %v, want ERROR CALL 1", msg.MessageType(), msg)
		}
		refused++
	}
	for _, msg := range callee.untilSync("the invocations") {
		if _, ok := msg.(*wamp.Invocation); !ok {
			t.Fatalf("callee got %s %v", msg.MessageType(), msg)
		}
		invoked++
	}
	if invoked > 4 || invoked+refused != sent {
		t.Fatalf("of %d CALLs with request ID 1 at a bound of 4: %d reached the callee, %d were refused", sent, invoked, refused)
	}
}
