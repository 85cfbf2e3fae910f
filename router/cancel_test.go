package router_test

import (
	"fmt"
	"testing"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// joinWithRoles opens a JSON session on listener 0 announcing roles.
func joinWithRoles(t *testing.T, srv *routertest.Server, roles map[string]any) *jsonSession {
	t.Helper()
	return openJSON(t, srv, map[string]any{"roles": roles}, "")
}

// expectType reads the next message and fails unless it has type typ.
func (s *jsonSession) expectType(typ wamp.MessageType, what string) []any {
	s.t.Helper()
	m := s.read()
	if m[0] != float64(typ) {
		s.t.Fatalf("%s: got %v, want a %s", what, m, typ)
	}
	return m
}

// pingAck publishes with acknowledge and expects PUBLISHED as the next
// message: whatever the router was to send before it has been read.
func (s *jsonSession) pingAck(request int, what string) {
	s.t.Helper()
	s.send(wamp.PUBLISH, request, map[string]any{"acknowledge": true}, "com.cancel.ping")
	if m := s.read(); m[0] != float64(wamp.PUBLISHED) || m[1] != float64(request) {
		s.t.Fatalf("%s: got %v, want PUBLISHED %d (and nothing before it)", what, m, request)
	}
}

// TestCancelModes: CANCEL in each mode, to a callee that announced
// call_canceling and to one that (like autobahn.js) did not, as the WAMP
// advanced profile says: a callee without call_canceling is never sent
// INTERRUPT and the caller gets wamp.error.canceled at once (kill acts as
// skip), its late YIELD is discarded; a callee with it gets INTERRUPT for
// kill and killnowait, and for kill its ERROR is what the caller gets.
func TestCancelModes(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	type calleeKind struct {
		name      string
		canceling bool
	}
	for _, kind := range []calleeKind{{"without call_canceling", false}, {"with call_canceling", true}} {
		for i, mode := range []string{wamp.CancelModeSkip, wamp.CancelModeKill, wamp.CancelModeKillNoWait} {
			t.Run(kind.name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				features := map[string]any{"progressive_call_results": true}
				if kind.canceling {
					features["call_canceling"] = true
				}
				callee := joinWithRoles(t, srv, map[string]any{"callee": map[string]any{"features": features}, "publisher": map[string]any{}})
				caller := joinWithRoles(t, srv, map[string]any{"caller": map[string]any{"features": map[string]any{"call_canceling": true, "progressive_call_results": true}},
					"publisher": map[string]any{}})
				proc := fmt.Sprintf("com.cancel.%t.%d", kind.canceling, i)
				callee.send(wamp.REGISTER, 1, map[string]any{}, proc)
				callee.expectType(wamp.REGISTERED, "register")

				caller.send(wamp.CALL, 1, map[string]any{"receive_progress": true}, proc, []any{})
				inv := callee.expectType(wamp.INVOCATION, "invocation")
				if details, _ := inv[3].(map[string]any); details["receive_progress"] != true {
					t.Fatalf("INVOCATION details %v: receive_progress did not reach a callee announcing progressive_call_results", inv[3])
				}
				invID := inv[1]
				caller.send(wamp.CANCEL, 1, map[string]any{"mode": mode})

				interrupted := kind.canceling && mode != wamp.CancelModeSkip
				if interrupted {
					intr := callee.expectType(wamp.INTERRUPT, "cancel "+mode)
					if intr[1] != invID {
						t.Fatalf("INTERRUPT %v for invocation %v", intr, invID)
					}
					if opts, _ := intr[2].(map[string]any); opts["mode"] != mode {
						t.Fatalf("INTERRUPT options %v, want mode %s", intr[2], mode)
					}
				}
				if interrupted && mode == wamp.CancelModeKill {
					// The caller waits for the callee's answer to INTERRUPT.
					caller.pingAck(2, "before the callee answers a kill")
					callee.send(wamp.ERROR, int(wamp.INVOCATION), invID, map[string]any{}, "com.example.stopped")
					if m := caller.expectType(wamp.ERROR, "kill"); m[4] != "com.example.stopped" {
						t.Fatalf("kill: caller got %v, want the callee's ERROR", m)
					}
				} else {
					m := caller.expectType(wamp.ERROR, "cancel "+mode)
					if m[1] != float64(wamp.CALL) || m[2] != float64(1) || m[4] != string(wamp.ErrCanceled) {
						t.Fatalf("cancel %s: caller got %v, want ERROR CALL 1 wamp.error.canceled", mode, m)
					}
					// The callee, which is still working, answers late: the
					// caller never sees that result.
					callee.send(wamp.YIELD, invID, map[string]any{}, []any{"late"})
				}
				// No INTERRUPT reached a callee that cannot take one, and
				// no stray RESULT reaches the caller.
				callee.pingAck(3, "callee after the cancel")
				caller.pingAck(4, "caller after the cancel")
			})
		}
	}
}
