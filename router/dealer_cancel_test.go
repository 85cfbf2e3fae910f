package router_test

import (
	"fmt"
	"testing"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// TestDealerCancel: CANCEL in each mode to a callee that announced
// call_canceling and to one that did not, over every transport and
// serializer, as the WAMP advanced profile says. With call_canceling:
// skip answers the caller wamp.error.canceled at once and sends no
// INTERRUPT; kill sends INTERRUPT (mode kill) and the caller gets the
// callee's answer to it, only then; killnowait answers the caller at once
// and sends INTERRUPT (mode killnowait). Without: every mode is skip, and
// no INTERRUPT is ever sent. Always: the callee's late YIELD does not reach
// the caller, whose next call on the session returns normally.
func TestDealerCancel(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	modes := []string{wamp.CancelModeSkip, wamp.CancelModeKill, wamp.CancelModeKillNoWait}
	for i, c := range combos() {
		for _, canceling := range []bool{true, false} {
			kind := "without call_canceling"
			var calleeFeatures []string
			if canceling {
				kind = "with call_canceling"
				calleeFeatures = []string{"call_canceling"}
			}
			for _, mode := range modes {
				t.Run(c.name+"/"+kind+"/"+mode, func(t *testing.T) {
					t.Parallel()
					callee := dialWire(t, srv, c.listener, c.ser, wireHello{callee: calleeFeatures})
					caller := dialWire(t, srv, c.listener, c.ser, wireHello{caller: []string{"call_canceling"}})
					proc := fmt.Sprintf("com.dealer.cancel.%d.%t.%s", i, canceling, mode)
					callee.register(proc, nil)

					req := caller.call(proc, nil, wamp.List{"slow"}, nil)
					inv := expectMsg[*wamp.Invocation](callee, "invocation")
					caller.send(&wamp.Cancel{Request: req, Options: wamp.Dict{"mode": mode}})

					if canceling && mode == wamp.CancelModeKill {
						intr := expectMsg[*wamp.Interrupt](callee, "kill")
						if intr.Request != inv.Request || intr.Options["mode"] != wamp.CancelModeKill {
							t.Fatalf("INTERRUPT %d %v, want %d mode kill", intr.Request, intr.Options, inv.Request)
						}
						// The caller waits for the callee's answer.
						caller.sync("before the callee answers a kill")
						callee.send(&wamp.Error{Type: wamp.INVOCATION, Request: inv.Request, Details: wamp.Dict{}, Error: "com.example.stopped",
							Arguments: wamp.List{"stopped"}})
						if e := caller.expectError(wamp.CALL, req, "com.example.stopped", "kill: the callee's answer"); !samePayload(e.Arguments, wamp.List{"stopped"}) {
							t.Fatalf("kill: ERROR args %v, want the callee's", e.Arguments)
						}
					} else {
						caller.expectError(wamp.CALL, req, wamp.ErrCanceled, "cancel "+mode)
						if canceling && mode == wamp.CancelModeKillNoWait {
							intr := expectMsg[*wamp.Interrupt](callee, "killnowait")
							if intr.Request != inv.Request || intr.Options["mode"] != wamp.CancelModeKillNoWait {
								t.Fatalf("INTERRUPT %d %v, want %d mode killnowait", intr.Request, intr.Options, inv.Request)
							}
						}
					}
					// The callee answers late; nothing more reaches the callee
					// (no INTERRUPT for skip or a callee that cannot take one).
					callee.yield(inv.Request, nil, wamp.List{"late"}, nil)
					callee.sync("after the cancel")

					// The next call returns normally: no stray RESULT of the
					// cancelled request comes first.
					next := caller.call(proc, nil, wamp.List{"next"}, nil)
					inv = expectMsg[*wamp.Invocation](callee, "next invocation")
					callee.yield(inv.Request, nil, inv.Arguments, nil)
					if r := caller.expectResult(next, "the call after the cancel"); !samePayload(r.Arguments, wamp.List{"next"}) {
						t.Fatalf("the call after the cancel: %v", r.Arguments)
					}
					caller.sync("after the next call")
				})
			}
		}
	}
}

// TestDealerCancelEdges: an unknown cancel mode is
// wamp.error.invalid_argument and the call goes on; a CANCEL of a request
// that has ended, or never was, is ignored; CANCEL with no mode is
// killnowait, as in nexus (interrupts a callee that can take it); after a
// kill, a callee that finishes before it reads the INTERRUPT answers with
// YIELD, and that RESULT is the caller's answer (the spec allows either).
func TestDealerCancelEdges(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	for i, c := range combos() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			callee := dialWire(t, srv, c.listener, c.ser, wireHello{callee: []string{"call_canceling"}})
			caller := dialWire(t, srv, c.listener, c.ser, wireHello{caller: []string{"call_canceling"}})
			proc := fmt.Sprintf("com.dealer.cancel.edges.%d", i)
			callee.register(proc, nil)

			req := caller.call(proc, nil, nil, nil)
			inv := expectMsg[*wamp.Invocation](callee, "invocation")
			caller.send(&wamp.Cancel{Request: req, Options: wamp.Dict{"mode": "obliterate"}})
			caller.expectError(wamp.CANCEL, req, wamp.ErrInvalidArgument, "an unknown cancel mode")
			callee.sync("no INTERRUPT for an unknown mode")
			callee.yield(inv.Request, nil, wamp.List{"still here"}, nil)
			if r := caller.expectResult(req, "the call goes on"); !samePayload(r.Arguments, wamp.List{"still here"}) {
				t.Fatalf("RESULT %v", r.Arguments)
			}

			caller.send(&wamp.Cancel{Request: req, Options: wamp.Dict{"mode": "kill"}})
			caller.send(&wamp.Cancel{Request: 424242, Options: wamp.Dict{"mode": "skip"}})
			caller.sync("CANCEL of an ended or unknown request")
			callee.sync("no INTERRUPT for an ended call")

			req = caller.call(proc, nil, nil, nil)
			inv = expectMsg[*wamp.Invocation](callee, "invocation")
			caller.send(&wamp.Cancel{Request: req, Options: wamp.Dict{}})
			caller.expectError(wamp.CALL, req, wamp.ErrCanceled, "CANCEL without a mode")
			if intr := expectMsg[*wamp.Interrupt](callee, "CANCEL without a mode"); intr.Request != inv.Request || intr.Options["mode"] != wamp.CancelModeKillNoWait {
				t.Fatalf("INTERRUPT %d %v, want %d mode killnowait", intr.Request, intr.Options, inv.Request)
			}

			req = caller.call(proc, nil, nil, nil)
			inv = expectMsg[*wamp.Invocation](callee, "invocation")
			caller.send(&wamp.Cancel{Request: req, Options: wamp.Dict{"mode": "kill"}})
			expectMsg[*wamp.Interrupt](callee, "kill")
			callee.yield(inv.Request, nil, wamp.List{"finished first"}, nil)
			if r := caller.expectResult(req, "kill answered by YIELD"); !samePayload(r.Arguments, wamp.List{"finished first"}) {
				t.Fatalf("RESULT %v", r.Arguments)
			}
			caller.sync("after the kill")
		})
	}
}

// TestDealerCancelTwice: a caller that sends CANCEL (kill) twice, as
// impatient callers do, gets one INTERRUPT sent to the callee; a
// killnowait after the kill answers the caller at once without another
// INTERRUPT.
func TestDealerCancelTwice(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	callee := dialWire(t, srv, 0, "cbor", wireHello{callee: []string{"call_canceling"}})
	caller := dialWire(t, srv, 1, "json", wireHello{caller: []string{"call_canceling"}})
	callee.register("com.dealer.cancel.twice", nil)
	req := caller.call("com.dealer.cancel.twice", nil, nil, nil)
	inv := expectMsg[*wamp.Invocation](callee, "invocation")
	caller.send(&wamp.Cancel{Request: req, Options: wamp.Dict{"mode": "kill"}})
	caller.send(&wamp.Cancel{Request: req, Options: wamp.Dict{"mode": "kill"}})
	caller.sync("two kills")
	if intr := expectMsg[*wamp.Interrupt](callee, "kill"); intr.Request != inv.Request {
		t.Fatalf("INTERRUPT %d, want %d", intr.Request, inv.Request)
	}
	callee.sync("one INTERRUPT for two kills")
	caller.send(&wamp.Cancel{Request: req, Options: wamp.Dict{"mode": "killnowait"}})
	caller.expectError(wamp.CALL, req, wamp.ErrCanceled, "killnowait after kill")
	callee.sync("no INTERRUPT after the first")
}
