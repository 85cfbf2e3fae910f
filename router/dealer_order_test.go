package router_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// TestInvocationIDsIncreasePerCallee: INVOCATIONs reach a callee in the
// order of their request IDs even when many callers call it at once. The
// WAMP spec has router-to-client request IDs of a session increase (by 1);
// the nexus client relies on it and silently drops an INVOCATION whose ID
// is not above the last one it saw (UpdateLastRecvIDLocked: "Ignoring
// Invocation with expired reqID"), so a call sent out of order never
// reaches its handler and never returns. Here a hand-spoken callee checks
// every ID while 8 nexus callers with 4 calls each in flight call it.
func TestInvocationIDsIncreasePerCallee(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	callee := joinWithRoles(t, srv, map[string]any{"callee": map[string]any{}})
	callee.send(wamp.REGISTER, 1, map[string]any{}, "com.order.echo")
	callee.expectType(wamp.REGISTERED, "REGISTER")

	const callers, perCaller, calls = 8, 4, 250 // 8000 calls, 32 in flight
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for range callers {
		c, err := srv.DialErr(0, "json", client.Config{})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		t.Cleanup(func() { _ = c.Close() })
		for range perCaller {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range calls {
					if _, err := c.Call(ctx, "com.order.echo", nil, wamp.List{i}, nil, nil); err != nil {
						return // the test has failed (or ended): its cancel stops the rest
					}
				}
			}()
		}
	}
	last := 0.0
	for n := range callers * perCaller * calls {
		m := callee.expectType(wamp.INVOCATION, fmt.Sprintf("invocation %d", n+1))
		id, _ := m[1].(float64)
		if id <= last {
			t.Fatalf("invocation %d: request ID %v after %v: a nexus callee drops it and its call never returns", n+1, id, last)
		}
		last = id
		callee.send(wamp.YIELD, int(id), map[string]any{}, []any{"ok"})
	}
}
