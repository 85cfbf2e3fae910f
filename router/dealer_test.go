package router_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// The tests of switchboard's dealer (issue #15): a real router, real
// sockets, every {transport} x {serializer} pair where the wire matters.
// Other dealer tests are in dealer_*_test.go; the raw session helper is
// in dealer_wire_test.go.

// norm makes a decoded payload comparable across serializers: integers
// become int64, dicts map[string]any, lists []any.
func norm(v any) any {
	switch x := v.(type) {
	case wamp.Dict:
		return norm(map[string]any(x))
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = norm(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = norm(e)
		}
		return out
	case wamp.List:
		return norm([]any(x))
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = norm(e)
		}
		return out
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
		return x
	case string, bool, nil:
		return x
	}
	if n, ok := wamp.AsInt64(v); ok {
		return n
	}
	return v
}

func samePayload(a, b any) bool { return reflect.DeepEqual(norm(a), norm(b)) }

// absentKeys fails unless none of keys is in d.
func absentKeys(t *testing.T, d wamp.Dict, what string, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := d[k]; ok {
			t.Fatalf("%s: details %v carry %q", what, d, k)
		}
	}
}

var callerKeys = []string{"caller", "caller_authid", "caller_authrole"}

// TestDealerCallPath: args and kwargs (nested, of several types) reach the
// callee and come back; the callee's ERROR with args and kwargs reaches
// the caller; an INVOCATION of an exact registration carries no procedure,
// no caller identity, no progress or timeout; an unknown procedure is
// wamp.error.no_such_procedure.
func TestDealerCallPath(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	for i, c := range combos() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			callee := dialWire(t, srv, c.listener, c.ser, wireHello{})
			caller := dialWire(t, srv, c.listener, c.ser, wireHello{})
			proc := fmt.Sprintf("com.dealer.path.%d", i)
			reg := callee.register(proc, nil)

			args := wamp.List{int64(1), "two", wamp.List{"x", true, nil}, wamp.Dict{"nested": wamp.Dict{"n": int64(-7)}}, 2.5}
			kwargs := wamp.Dict{"k": "v", "n": int64(3), "list": wamp.List{int64(1), int64(2)}}
			req := caller.call(proc, nil, args, kwargs)
			inv := expectMsg[*wamp.Invocation](callee, "invocation")
			if inv.Registration != reg {
				t.Fatalf("INVOCATION of registration %d, want %d", inv.Registration, reg)
			}
			absentKeys(t, inv.Details, "INVOCATION of an exact registration", append([]string{"procedure", "receive_progress", "timeout", "progress"}, callerKeys...)...)
			if !samePayload(inv.Arguments, args) || !samePayload(inv.ArgumentsKw, kwargs) {
				t.Fatalf("INVOCATION payload %v %v, want %v %v", inv.Arguments, inv.ArgumentsKw, args, kwargs)
			}
			callee.yield(inv.Request, nil, inv.Arguments, inv.ArgumentsKw)
			res := caller.expectResult(req, "result")
			if !samePayload(res.Arguments, args) || !samePayload(res.ArgumentsKw, kwargs) {
				t.Fatalf("RESULT payload %v %v, want %v %v", res.Arguments, res.ArgumentsKw, args, kwargs)
			}
			absentKeys(t, res.Details, "final RESULT", "progress")

			req = caller.call(proc, nil, wamp.List{"fail"}, nil)
			inv = expectMsg[*wamp.Invocation](callee, "invocation to fail")
			callee.send(&wamp.Error{Type: wamp.INVOCATION, Request: inv.Request, Details: wamp.Dict{}, Error: "com.example.invalid",
				Arguments: wamp.List{"bad input"}, ArgumentsKw: wamp.Dict{"min": int64(3)}})
			e := caller.expectError(wamp.CALL, req, "com.example.invalid", "callee's ERROR")
			if !samePayload(e.Arguments, wamp.List{"bad input"}) || !samePayload(e.ArgumentsKw, wamp.Dict{"min": int64(3)}) {
				t.Fatalf("ERROR payload %v %v", e.Arguments, e.ArgumentsKw)
			}

			caller.callError(proc+".missing", nil, nil, wamp.ErrNoSuchProcedure, "unknown procedure")

			// Pipelined calls are answered out of order, each to its
			// request.
			reqs := []wamp.ID{caller.call(proc, nil, wamp.List{"a"}, nil), caller.call(proc, nil, wamp.List{"b"}, nil), caller.call(proc, nil, wamp.List{"c"}, nil)}
			invs := []*wamp.Invocation{expectMsg[*wamp.Invocation](callee, "1st"), expectMsg[*wamp.Invocation](callee, "2nd"), expectMsg[*wamp.Invocation](callee, "3rd")}
			for _, j := range []int{2, 0, 1} {
				callee.yield(invs[j].Request, nil, invs[j].Arguments, nil)
				r := caller.expectResult(reqs[j], fmt.Sprintf("pipelined call %d", j))
				if !samePayload(r.Arguments, invs[j].Arguments) || !samePayload(r.Arguments, wamp.List{string(rune('a' + j))}) {
					t.Fatalf("pipelined call %d: RESULT %v", j, r.Arguments)
				}
			}
		})
	}
}

// TestDealerSingleRegistration: a single registration has one callee: a
// second REGISTER (by another session, by the same one, or asking for a
// shared policy) is wamp.error.procedure_already_exists; UNREGISTER of an
// ID the session does not hold is wamp.error.no_such_registration; once
// unregistered, the procedure is free.
func TestDealerSingleRegistration(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	for i, c := range combos() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			a := dialWire(t, srv, c.listener, c.ser, wireHello{})
			b := dialWire(t, srv, c.listener, c.ser, wireHello{})
			proc := fmt.Sprintf("com.dealer.single.%d", i)
			reg := a.register(proc, nil)
			b.registerErr(proc, nil, wamp.ErrProcedureAlreadyExists, "another session registering a single procedure")
			b.registerErr(proc, wamp.Dict{"invoke": "single"}, wamp.ErrProcedureAlreadyExists, "invoke single, explicitly")
			b.registerErr(proc, wamp.Dict{"invoke": "roundrobin"}, wamp.ErrProcedureAlreadyExists, "a shared REGISTER of a single procedure")
			a.registerErr(proc, nil, wamp.ErrProcedureAlreadyExists, "the same session registering twice")

			// b does not hold a's registration; nobody holds 12345.
			req := b.req()
			b.send(&wamp.Unregister{Request: req, Registration: reg})
			b.expectError(wamp.UNREGISTER, req, wamp.ErrNoSuchRegistration, "UNREGISTER of another session's registration")
			req = a.req()
			a.send(&wamp.Unregister{Request: req, Registration: 12345})
			a.expectError(wamp.UNREGISTER, req, wamp.ErrNoSuchRegistration, "UNREGISTER of an unknown ID")

			a.unregister(reg)
			req = a.req()
			a.send(&wamp.Unregister{Request: req, Registration: reg})
			a.expectError(wamp.UNREGISTER, req, wamp.ErrNoSuchRegistration, "UNREGISTER twice")
			if again := b.register(proc, nil); again == reg {
				t.Fatalf("a new registration reuses the ID %d", reg)
			}
		})
	}
}

// TestDealerSharedPolicyMismatch: the callees of a shared registration
// must ask for the same policy; the same session cannot join twice.
func TestDealerSharedPolicyMismatch(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	policies := []string{"roundrobin", "random", "first", "last"}
	for i, policy := range policies {
		c := comboAt(i)
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			a := dialWire(t, srv, c.listener, c.ser, wireHello{})
			b := dialWire(t, srv, c.listener, c.ser, wireHello{})
			proc := "com.dealer.mismatch." + policy
			reg := a.register(proc, wamp.Dict{"invoke": policy})
			for _, other := range append(slices.Clone(policies), "single") {
				if other != policy {
					b.registerErr(proc, wamp.Dict{"invoke": other}, wamp.ErrProcedureAlreadyExists, "invoke "+other+" on a "+policy+" registration")
				}
			}
			b.registerErr(proc, nil, wamp.ErrProcedureAlreadyExists, "a REGISTER without invoke on a "+policy+" registration")
			a.registerErr(proc, wamp.Dict{"invoke": policy}, wamp.ErrProcedureAlreadyExists, "the same session joining its shared registration twice")
			if got := b.register(proc, wamp.Dict{"invoke": policy}); got != reg {
				t.Fatalf("joining a shared registration: ID %d, want %d", got, reg)
			}
			b.registerErr(proc+".x", wamp.Dict{"invoke": "sometimes"}, wamp.ErrInvalidArgument, "an unknown policy")
		})
	}
}

// policyCallees registers n nexus clients on proc with policy, in order;
// each answers with its index.
func policyCallees(t *testing.T, srv *routertest.Server, c combo, proc, policy string, n int) []*client.Client {
	t.Helper()
	callees := make([]*client.Client, n)
	for i := range n {
		callees[i] = srv.Dial(t, c.listener, c.ser, client.Config{})
		must(t, callees[i].Register(proc, func(context.Context, *wamp.Invocation) client.InvokeResult {
			return client.InvokeResult{Args: wamp.List{int64(i)}}
		}, wamp.Dict{"invoke": policy}))
	}
	return callees
}

// calleeCount asks wamp.registration.count_callees of proc's exact
// registration (0 if there is none).
func calleeCount(t *testing.T, c *client.Client, proc string) int {
	t.Helper()
	res, err := c.Call(t.Context(), "wamp.registration.lookup", nil, wamp.List{proc}, nil, nil)
	must(t, err)
	if len(res.Arguments) == 0 || res.Arguments[0] == nil {
		return 0
	}
	res, err = c.Call(t.Context(), "wamp.registration.count_callees", nil, wamp.List{res.Arguments[0]}, nil, nil)
	must(t, err)
	return int(asInt(res.Arguments[0]))
}

// answerer calls proc and returns the index of the callee that answered.
func answerer(t *testing.T, caller *client.Client, proc string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	res, err := caller.Call(ctx, proc, nil, nil, nil, nil)
	if err != nil {
		t.Fatalf("call %s: %v", proc, err)
	}
	return int(asInt(res.Arguments[0]))
}

// TestDealerInvokePolicies: how a shared registration picks its callee.
// roundrobin: in registration order, in turn; random: each call goes to
// one of the callees, and over 200 calls to both (the odds of one getting
// none are 2^-199); first and last: the first or last registered callee,
// and the next one once it unregisters or leaves.
func TestDealerInvokePolicies(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)

	t.Run("roundrobin", func(t *testing.T) {
		t.Parallel()
		c := comboAt(0)
		proc := "com.dealer.policy.roundrobin"
		callees := policyCallees(t, srv, c, proc, "roundrobin", 3)
		caller := srv.Dial(t, c.listener, c.ser, client.Config{})
		first := answerer(t, caller, proc)
		for n := 1; n < 9; n++ {
			if got, want := answerer(t, caller, proc), (first+n)%3; got != want {
				t.Fatalf("call %d went to callee %d, want %d (in turn after %d)", n, got, want, first)
			}
		}
		// Two left: they alternate.
		must(t, callees[1].Unregister(proc))
		prev := answerer(t, caller, proc)
		for range 6 {
			got := answerer(t, caller, proc)
			if got == 1 || got == prev {
				t.Fatalf("with callees 0 and 2 left: %d after %d, want them to alternate", got, prev)
			}
			prev = got
		}
	})

	t.Run("random", func(t *testing.T) {
		t.Parallel()
		c := comboAt(1)
		proc := "com.dealer.policy.random"
		policyCallees(t, srv, c, proc, "random", 2)
		caller := srv.Dial(t, c.listener, c.ser, client.Config{})
		var counts [2]int
		for range 200 {
			got := answerer(t, caller, proc)
			if got < 0 || got > 1 {
				t.Fatalf("answer from callee %d", got)
			}
			counts[got]++
		}
		if counts[0] == 0 || counts[1] == 0 {
			t.Fatalf("200 random calls went %v to the two callees", counts)
		}
	})

	for i, policy := range []string{"first", "last"} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			c := comboAt(2 + i)
			proc := "com.dealer.policy." + policy
			callees := policyCallees(t, srv, c, proc, policy, 3)
			caller := srv.Dial(t, c.listener, c.ser, client.Config{})
			order := []int{0, 1, 2}
			if policy == "last" {
				order = []int{2, 1, 0}
			}
			for range 3 {
				if got := answerer(t, caller, proc); got != order[0] {
					t.Fatalf("%s: callee %d answered, want %d", policy, got, order[0])
				}
			}
			must(t, callees[order[0]].Unregister(proc))
			for range 3 {
				if got := answerer(t, caller, proc); got != order[1] {
					t.Fatalf("%s after callee %d unregistered: callee %d answered, want %d", policy, order[0], got, order[1])
				}
			}
			must(t, callees[order[1]].Close())
			waitFor(t, "the leaving callee to be gone", func() bool { return calleeCount(t, caller, proc) == 1 })
			if got := answerer(t, caller, proc); got != order[2] {
				t.Fatalf("%s after callee %d left: callee %d answered, want %d", policy, order[1], got, order[2])
			}
		})
	}
}

// TestDealerPatternPrecedence is the WAMP spec's precedence table (exact,
// then the longest prefix, then the wildcard with the longest fixed
// portions before each wildcard), by call and by wamp.registration.match;
// INVOCATION carries details.procedure for pattern registrations only.
//
// The registrations are the spec's, as corrected by wamp-proto PR #354
// (issue #353: the older text had 5 = 'a1.b2.c3..e5' and sent
// 'a1.b2.c3.d4.e5' there, though prefixes 2 and 3 match it). The
// corrected example still says 'a1.b2.c33.d4.e5' has "no prefix match",
// but the spec defines prefix matching on the URI string
// ('com.myapp.myobject1-mysubobject1' matches prefix 'com.myapp.myobject1'),
// as Crossbar and nexus implement it: 'a1.b2.c3' is a prefix of it, and
// that row expects registration 2. The x1 registrations choose between
// the same two wildcards (the spec's 4 and 5) without a prefix in the way,
// and p1 pins the string prefix.
func TestDealerPatternPrecedence(t *testing.T) {
	t.Parallel()
	regs := []struct{ uri, match string }{
		{"a1.b2.c3.d4.e55", "exact"},
		{"a1.b2.c3", "prefix"},
		{"a1.b2.c3.d4", "prefix"},
		{"a1.b2..d4.e5", "wildcard"},
		{"a1.b2.c33..e5", "wildcard"},
		{"a1.b2..d4.e5..g7", "wildcard"},
		{"a1.b2..d4..f6.g7", "wildcard"},
		{"x1.y2..d4.e5", "wildcard"},
		{"x1.y2.c33..e5", "wildcard"},
		{"p1.obj1", "prefix"},
	}
	calls := []struct {
		uri  string
		want int // index in regs, -1: none
	}{
		{"a1.b2.c3.d4.e55", 0},
		{"a1.b2.c3.d98.e74", 1},
		{"a1.b2.c3.d4.e325", 2},
		{"a1.b2.c55.d4.e5", 3},
		{"a1.b2.c33.d4.e5", 1}, // the spec's example says 5, see above
		{"a1.b2.c88.d4.e5.f6.g7", 5},
		{"a2.b2.c2.d2.e2", -1},
		{"a1.b2.c3.d4.e5", 2},
		{"x1.y2.c33.d4.e5", 8},
		{"x1.y2.c55.d4.e5", 7},
		{"x1.y2.c33.d4.e6", -1},
		{"p1.obj1-sub1", 9},
		{"p1.obj1", 9},
		{"p1.obj", -1},
	}
	for _, c := range combos() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := routertest.Start(t, nil)
			// Each registration by its own callee, which answers with its
			// index and the details it got.
			ids := make([]wamp.ID, len(regs))
			for i, r := range regs {
				callee := dialWire(t, srv, c.listener, c.ser, wireHello{})
				ids[i] = callee.register(r.uri, wamp.Dict{"match": r.match})
				go answerWith(callee, int64(i))
			}
			caller := srv.Dial(t, c.listener, c.ser, client.Config{})
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			for _, call := range calls {
				res, err := caller.Call(ctx, call.uri, nil, nil, nil, nil)
				if call.want < 0 {
					if wampErrorURI(err) != wamp.ErrNoSuchProcedure {
						t.Fatalf("call %s: %v %v, want wamp.error.no_such_procedure", call.uri, res, err)
					}
				} else {
					if err != nil {
						t.Fatalf("call %s: %v", call.uri, err)
					}
					if got := asInt(res.Arguments[0]); got != int64(call.want) {
						t.Fatalf("call %s went to %s %s, want %s %s", call.uri, regs[got].match, regs[got].uri, regs[call.want].match, regs[call.want].uri)
					}
					details, _ := wamp.AsDict(res.Arguments[1])
					proc, has := details["procedure"]
					if regs[call.want].match == "exact" && has {
						t.Fatalf("call %s: INVOCATION of an exact registration carries procedure %v", call.uri, proc)
					}
					if regs[call.want].match != "exact" && proc != call.uri {
						t.Fatalf("call %s: INVOCATION of a %s registration carries procedure %v", call.uri, regs[call.want].match, proc)
					}
				}
				res, err = caller.Call(ctx, "wamp.registration.match", nil, wamp.List{call.uri}, nil, nil)
				must(t, err)
				want := any(nil)
				if call.want >= 0 {
					want = int64(ids[call.want])
				}
				if len(res.Arguments) != 1 || !samePayload(res.Arguments[0], want) {
					t.Fatalf("wamp.registration.match(%s) = %v, want [%v]", call.uri, res.Arguments, want)
				}
			}
			for i, r := range regs {
				res, err := caller.Call(ctx, "wamp.registration.lookup", nil, wamp.List{r.uri, wamp.Dict{"match": r.match}}, nil, nil)
				must(t, err)
				if len(res.Arguments) != 1 || asID(res.Arguments[0]) != ids[i] {
					t.Fatalf("wamp.registration.lookup(%s, %s) = %v, want %d", r.uri, r.match, res.Arguments, ids[i])
				}
			}
		})
	}
}

// answerWith answers every INVOCATION on w with [n, details] until the
// connection ends (run in its own goroutine: it reports no failure, the
// caller sees a wrong or missing answer).
func answerWith(w *wire, n int64) {
	for msg := range w.inbox {
		if inv, ok := msg.(*wamp.Invocation); ok {
			if w.sendErr(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{}, Arguments: wamp.List{n, inv.Details}}) != nil {
				return
			}
		}
	}
}

// discloseRealm adds realm "disclose": alice's role discloses its callers,
// bob's does not; both may call and register everything.
func discloseRealm(c *config.Config) {
	extra, err := config.Parse("disclose", []byte(`
listeners: [{ address: "127.0.0.1:0", websocket: {} }]
realms:
  - name: disclose
    auth:
      ticket:
        principals:
          alice: { ticket: alice-ticket-0123456789abcdef, role: discloser }
          bob: { ticket: bob-ticket-0123456789abcdef, role: plain }
    roles:
      - name: discloser
        permissions:
          - { uri: "", match: prefix, allow: { call: true, register: true }, disclose: { caller: true } }
      - name: plain
        permissions:
          - { uri: "", match: prefix, allow: { call: true, register: true } }
`), nil)
	if err != nil {
		panic(err) // the literal above is valid
	}
	c.Realms = append(c.Realms, extra.Realms[0])
}

// TestDealerCallerDisclosure: INVOCATION.Details carries caller,
// caller_authid and caller_authrole when the caller asks (disclose_me) or
// its role's permission says disclose.caller, and none of them otherwise;
// a callee's disclose_caller REGISTER option reveals nobody.
func TestDealerCallerDisclosure(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, discloseRealm)
	for i, c := range combos() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			join := func(who string) *wire {
				return dialWire(t, srv, c.listener, c.ser, wireHello{realm: "disclose", authid: who, ticket: who + "-ticket-0123456789abcdef"})
			}
			callee, alice, bob := join("bob"), join("alice"), join("bob")
			proc := fmt.Sprintf("com.dealer.disclose.%d", i)
			callee.register(proc, nil)
			callee.register(proc+".asks", wamp.Dict{"disclose_caller": true})

			invocation := func(caller *wire, proc string, options wamp.Dict) wamp.Dict {
				t.Helper()
				req := caller.call(proc, options, nil, nil)
				inv := expectMsg[*wamp.Invocation](callee, "invocation of "+proc)
				callee.yield(inv.Request, nil, nil, nil)
				caller.expectResult(req, "call "+proc)
				return inv.Details
			}
			disclosed := func(d wamp.Dict, caller *wire, authid, authrole, what string) {
				t.Helper()
				if asID(d["caller"]) != caller.id || d["caller_authid"] != authid || d["caller_authrole"] != authrole {
					t.Fatalf("%s: details %v, want caller %d, caller_authid %s, caller_authrole %s", what, d, caller.id, authid, authrole)
				}
			}
			absentKeys(t, invocation(bob, proc, nil), "a call by a role without disclose.caller", callerKeys...)
			disclosed(invocation(bob, proc, wamp.Dict{"disclose_me": true}), bob, "bob", "plain", "disclose_me")
			disclosed(invocation(alice, proc, nil), alice, "alice", "discloser", "a role with disclose.caller")
			disclosed(invocation(alice, proc, wamp.Dict{"disclose_me": false}), alice, "alice", "discloser", "a role with disclose.caller, disclose_me false")
			absentKeys(t, invocation(bob, proc+".asks", nil), "a callee registered with disclose_caller", callerKeys...)
			absentKeys(t, invocation(bob, proc, wamp.Dict{"disclose_me": false}), "disclose_me false", callerKeys...)
		})
	}
}

// TestDealerProgressiveResults: a callee announcing
// progressive_call_results is told receive_progress when the caller asks
// for it, and its progressive YIELDs reach the caller as RESULTs with
// progress, in order, before the final one; a caller that did not ask
// gets only the final RESULT, and its callee no receive_progress.
func TestDealerProgressiveResults(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	for i, c := range combos() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			callee := dialWire(t, srv, c.listener, c.ser, wireHello{callee: []string{"progressive_call_results"}})
			caller := dialWire(t, srv, c.listener, c.ser, wireHello{caller: []string{"progressive_call_results"}})
			proc := fmt.Sprintf("com.dealer.progress.%d", i)
			callee.register(proc, nil)

			req := caller.call(proc, wamp.Dict{"receive_progress": true}, nil, nil)
			inv := expectMsg[*wamp.Invocation](callee, "invocation")
			if inv.Details["receive_progress"] != true {
				t.Fatalf("INVOCATION details %v lack receive_progress", inv.Details)
			}
			for n := range int64(3) {
				callee.yield(inv.Request, wamp.Dict{"progress": true}, wamp.List{n}, wamp.Dict{"step": n})
			}
			callee.yield(inv.Request, nil, wamp.List{"done"}, nil)
			for n := range int64(3) {
				r := caller.expectResult(req, fmt.Sprintf("progress %d", n))
				if r.Details["progress"] != true || !samePayload(r.Arguments, wamp.List{n}) || !samePayload(r.ArgumentsKw, wamp.Dict{"step": n}) {
					t.Fatalf("progressive RESULT %d: %v %v %v", n, r.Details, r.Arguments, r.ArgumentsKw)
				}
			}
			r := caller.expectResult(req, "final")
			if r.Details["progress"] == true || !samePayload(r.Arguments, wamp.List{"done"}) {
				t.Fatalf("final RESULT: %v %v", r.Details, r.Arguments)
			}

			// Without receive_progress: only the final RESULT.
			req = caller.call(proc, nil, nil, nil)
			inv = expectMsg[*wamp.Invocation](callee, "invocation without receive_progress")
			absentKeys(t, inv.Details, "a call without receive_progress", "receive_progress")
			callee.yield(inv.Request, wamp.Dict{"progress": true}, wamp.List{"ignored"}, nil)
			callee.yield(inv.Request, nil, wamp.List{"final"}, nil)
			if r := caller.expectResult(req, "final without receive_progress"); r.Details["progress"] == true || !samePayload(r.Arguments, wamp.List{"final"}) {
				t.Fatalf("a caller that did not ask got %v %v", r.Details, r.Arguments)
			}
			caller.sync("after the final RESULT")
		})
	}
}

// TestDealerProgressiveInvocations: CALLs with progress true and one
// request ID reach a callee announcing progressive_call_invocations (and
// call_canceling, which the spec requires with it) as INVOCATIONs with one
// request ID and registration, progress true on all but the last, all to
// the callee of the first even on a roundrobin registration, and each with
// the details of the initiating CALL (the spec's "freezing of options":
// here the caller's identity and the procedure of a pattern
// registration); the callee's YIELD ends the call.
func TestDealerProgressiveInvocations(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	for i, c := range combos() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			feats := []string{"progressive_call_invocations", "call_canceling"}
			callees := []*wire{dialWire(t, srv, c.listener, c.ser, wireHello{callee: feats}), dialWire(t, srv, c.listener, c.ser, wireHello{callee: feats})}
			caller := dialWire(t, srv, c.listener, c.ser, wireHello{caller: []string{"progressive_call_invocations"}})
			prefix := fmt.Sprintf("com.dealer.invocations.%d.", i)
			options := wamp.Dict{"match": "prefix", "invoke": "roundrobin"}
			reg := callees[0].register(prefix, options)
			if again := callees[1].register(prefix, options); again != reg {
				t.Fatalf("shared registration %d, want %d", again, reg)
			}
			proc := prefix + "upload"

			req := caller.req()
			chunks := []string{"a", "b", "c", "d"}
			var first wamp.ID
			to := -1
			for n, chunk := range chunks {
				options := wamp.Dict{}
				if n == 0 {
					options["disclose_me"] = true
				}
				last := n == len(chunks)-1
				if !last {
					options["progress"] = true
				}
				caller.send(&wamp.Call{Request: req, Options: options, Procedure: wamp.URI(proc), Arguments: wamp.List{chunk}})
				k, msg := firstOf(t, "invocation "+chunk, callees...)
				inv, ok := msg.(*wamp.Invocation)
				if !ok {
					t.Fatalf("chunk %d: callee %d got %s %v, want INVOCATION", n, k, msg.MessageType(), msg)
				}
				if n == 0 {
					first, to = inv.Request, k
				}
				if k != to {
					t.Errorf("chunk %d went to callee %d, the first to callee %d", n, k, to)
				}
				if inv.Request != first || inv.Registration != reg {
					t.Errorf("INVOCATION %d: request %d registration %d, want request %d registration %d", n, inv.Request, inv.Registration, first, reg)
				}
				if progress := inv.Details["progress"] == true; progress == last {
					t.Errorf("INVOCATION %d (last %t): details %v", n, last, inv.Details)
				}
				if inv.Details["procedure"] != proc || asID(inv.Details["caller"]) != caller.id {
					t.Errorf("INVOCATION %d: details %v, want those of the initiating CALL: procedure %s, caller %d", n, inv.Details, proc, caller.id)
				}
				if !samePayload(inv.Arguments, wamp.List{chunk}) {
					t.Errorf("INVOCATION %d: args %v, want [%s]", n, inv.Arguments, chunk)
				}
			}
			callees[to].yield(first, nil, wamp.List{"abcd"}, nil)
			if r := caller.expectResult(req, "result"); !samePayload(r.Arguments, wamp.List{"abcd"}) {
				t.Fatalf("RESULT %v", r.Arguments)
			}
			for _, w := range callees {
				w.sync("after the progressive call")
			}
		})
	}
}

// TestDealerProgressiveInvocationsUnsupported: a progressive CALL to a
// callee that cannot take progressive invocations is refused with
// wamp.error.feature_not_supported and the callee is not invoked. The spec
// counts a callee announcing progressive_call_invocations without
// call_canceling as one that cannot.
func TestDealerProgressiveInvocationsUnsupported(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	kinds := [][]string{nil, {"progressive_call_results"}, {"call_canceling"}, {"progressive_call_invocations"}}
	for i, kind := range kinds {
		c := comboAt(i)
		t.Run(fmt.Sprintf("%v", kind), func(t *testing.T) {
			t.Parallel()
			callee := dialWire(t, srv, c.listener, c.ser, wireHello{callee: kind})
			caller := dialWire(t, srv, c.listener, c.ser, wireHello{caller: []string{"progressive_call_invocations"}})
			proc := fmt.Sprintf("com.dealer.invocations.unsupported.%d", i)
			callee.register(proc, nil)
			req := caller.call(proc, wamp.Dict{"progress": true}, wamp.List{"a"}, nil)
			caller.expectError(wamp.CALL, req, wamp.ErrFeatureNotSupported, fmt.Sprintf("a progressive CALL to a callee announcing %v", kind))
			callee.sync("the callee is not invoked")
			// The request is over: a final CALL with its ID is a new call.
			caller.send(&wamp.Call{Request: req, Options: wamp.Dict{}, Procedure: wamp.URI(proc), Arguments: wamp.List{"whole"}})
			inv := expectMsg[*wamp.Invocation](callee, "a plain call")
			absentKeys(t, inv.Details, "a plain call", "progress")
			callee.yield(inv.Request, nil, inv.Arguments, nil)
			caller.expectResult(req, "a plain call")
		})
	}
}

// TestDealerCallTimeout: a call with the timeout option and a callee that
// never answers ends with wamp.error.timeout; details.timeout reaches only
// a callee announcing call_timeout, an INTERRUPT (killnowait, reason
// wamp.error.timeout) only one announcing call_canceling; the callee's
// late YIELD does not reach the caller, whose next call works.
func TestDealerCallTimeout(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	kinds := [][]string{nil, {"call_timeout"}, {"call_canceling"}, {"call_timeout", "call_canceling"}}
	for i, c := range combos() {
		for j, kind := range kinds {
			t.Run(fmt.Sprintf("%s/%v", c.name, kind), func(t *testing.T) {
				t.Parallel()
				callee := dialWire(t, srv, c.listener, c.ser, wireHello{callee: kind})
				caller := dialWire(t, srv, c.listener, c.ser, wireHello{})
				proc := fmt.Sprintf("com.dealer.timeout.%d.%d", i, j)
				callee.register(proc, nil)
				timeoutAware, canceling := slices.Contains(kind, "call_timeout"), slices.Contains(kind, "call_canceling")

				req := caller.call(proc, wamp.Dict{"timeout": 100}, nil, nil)
				inv := expectMsg[*wamp.Invocation](callee, "invocation")
				if timeoutAware && asInt(inv.Details["timeout"]) != 100 {
					t.Fatalf("a callee announcing call_timeout got details %v, want timeout 100", inv.Details)
				}
				if !timeoutAware {
					absentKeys(t, inv.Details, "a callee without call_timeout", "timeout")
				}
				caller.expectError(wamp.CALL, req, wamp.ErrTimeout, "the callee never answers")
				if canceling {
					intr := expectMsg[*wamp.Interrupt](callee, "interrupt after the timeout")
					if intr.Request != inv.Request || intr.Options["reason"] != string(wamp.ErrTimeout) {
						t.Fatalf("INTERRUPT %d %v, want %d reason wamp.error.timeout", intr.Request, intr.Options, inv.Request)
					}
				}
				callee.yield(inv.Request, nil, wamp.List{"late"}, nil)
				callee.sync("no INTERRUPT for a callee without call_canceling")

				req = caller.call(proc, nil, wamp.List{"next"}, nil)
				inv = expectMsg[*wamp.Invocation](callee, "next invocation")
				callee.yield(inv.Request, nil, inv.Arguments, nil)
				if r := caller.expectResult(req, "the next call (no stray RESULT before it)"); !samePayload(r.Arguments, wamp.List{"next"}) {
					t.Fatalf("next call: %v", r.Arguments)
				}
				caller.sync("after the next call")
			})
		}
	}
}

// TestDealerTimeoutAnsweredInTime: a callee that answers before the
// timeout gives the caller its RESULT, and no INTERRUPT or timeout
// follows.
func TestDealerTimeoutAnsweredInTime(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	callee := dialWire(t, srv, 1, "cbor", wireHello{callee: []string{"call_timeout", "call_canceling"}})
	caller := dialWire(t, srv, 0, "msgpack", wireHello{})
	callee.register("com.dealer.timeout.intime", nil)
	sent := time.Now()
	req := caller.call("com.dealer.timeout.intime", wamp.Dict{"timeout": 2000}, nil, nil)
	inv := expectMsg[*wamp.Invocation](callee, "invocation")
	callee.yield(inv.Request, nil, wamp.List{"ok"}, nil)
	caller.expectResult(req, "answered in time")
	// Nothing comes for the caller until well past the timeout (a timeout
	// ERROR would), and the callee has no INTERRUPT queued by then.
	if msg, err := caller.recvWithin(time.Until(sent.Add(2500 * time.Millisecond))); err == nil || errors.Is(err, errWireClosed) {
		t.Fatalf("after the RESULT, past the timeout: %v %v", msg, err)
	}
	caller.sync("after the timeout")
	callee.sync("no INTERRUPT after the YIELD")
}

// TestDealerPayloadPassthru: a CALL in payload passthru mode reaches a
// callee announcing payload_passthru_mode with its ppt_* options in the
// INVOCATION details, and the YIELD's ppt_* options reach the caller in
// the RESULT, the payload untouched; a callee without the feature is not
// invoked: wamp.error.feature_not_supported.
func TestDealerPayloadPassthru(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	for i, c := range combos() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			callee := dialWire(t, srv, c.listener, c.ser, wireHello{callee: []string{"payload_passthru_mode"}})
			plain := dialWire(t, srv, c.listener, c.ser, wireHello{})
			caller := dialWire(t, srv, c.listener, c.ser, wireHello{caller: []string{"payload_passthru_mode"}})
			proc := fmt.Sprintf("com.dealer.ppt.%d", i)
			callee.register(proc, nil)
			plain.register(proc+".plain", nil)
			ppt := wamp.Dict{"ppt_scheme": "x_custom", "ppt_serializer": "native", "ppt_cipher": "none", "ppt_keyid": "k1"}

			req := caller.call(proc, ppt, wamp.List{"opaque"}, nil)
			inv := expectMsg[*wamp.Invocation](callee, "a passthru invocation")
			for k, v := range ppt {
				if inv.Details[k] != v {
					t.Fatalf("INVOCATION details %v, want %s %v", inv.Details, k, v)
				}
			}
			if !samePayload(inv.Arguments, wamp.List{"opaque"}) {
				t.Fatalf("INVOCATION args %v", inv.Arguments)
			}
			callee.yield(inv.Request, wamp.Dict{"ppt_scheme": "x_custom", "ppt_serializer": "native"}, wamp.List{"opaque answer"}, nil)
			r := caller.expectResult(req, "a passthru result")
			if r.Details["ppt_scheme"] != "x_custom" || r.Details["ppt_serializer"] != "native" || !samePayload(r.Arguments, wamp.List{"opaque answer"}) {
				t.Fatalf("RESULT %v %v", r.Details, r.Arguments)
			}

			caller.callError(proc+".plain", ppt, wamp.List{"opaque"}, wamp.ErrFeatureNotSupported, "passthru to a callee without the feature")
			plain.sync("the callee without the feature is not invoked")
		})
	}
}
