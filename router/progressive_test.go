package router_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/gorilla/websocket"

	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// TestProgressiveResultsForCalleesWithoutCanceling: a callee announcing
// progressive_call_results but not call_canceling, as autobahn.js and
// wampy.js do, still gets receive_progress and its progress reaches the
// caller (nexus v3.3.0 alone would not set it).
func TestProgressiveResultsForCalleesWithoutCanceling(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	status, body, ws := upgrade(t, srv.URL(0), "", []string{"wamp.2.json"})
	if ws == nil {
		t.Fatalf("upgrade: %d %s", status, body)
	}
	must(t, ws.WriteMessage(websocket.TextMessage, []byte(
		`[1,"realm1",{"roles":{"callee":{"features":{"progressive_call_results":true,"caller_identification":true}}}}]`)))
	read := func(prefix string) string {
		t.Helper()
		must(t, ws.SetReadDeadline(time.Now().Add(5*time.Second)))
		_, msg, err := ws.ReadMessage()
		must(t, err)
		if !strings.HasPrefix(string(msg), prefix) {
			t.Fatalf("got %s, want %s...", msg, prefix)
		}
		return string(msg)
	}
	read("[2,")
	must(t, ws.WriteMessage(websocket.TextMessage, []byte(`[64,1,{},"com.progressive"]`)))
	read("[65,1,")

	caller := srv.Dial(t, 1, "cbor", client.Config{})
	var progress []int64
	done := make(chan error, 1)
	var result *wamp.Result
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		result, err = caller.Call(ctx, "com.progressive", nil, nil, nil, func(r *wamp.Result) {
			n, _ := wamp.AsInt64(r.Arguments[0])
			progress = append(progress, n)
		})
		done <- err
	}()
	inv := read("[68,")
	if !strings.Contains(inv, `"receive_progress":true`) {
		t.Fatalf("INVOCATION %s lacks receive_progress", inv)
	}
	// [68, request, ...]: answer with two progressive YIELDs and a final one.
	req := strings.Split(inv, ",")[1]
	for _, m := range []string{`[70,` + req + `,{"progress":true},[1]]`, `[70,` + req + `,{"progress":true},[2]]`, `[70,` + req + `,{},[3]]`} {
		must(t, ws.WriteMessage(websocket.TextMessage, []byte(m)))
	}
	must(t, <-done)
	if n, _ := wamp.AsInt64(result.Arguments[0]); n != 3 || len(progress) != 2 || progress[0] != 1 || progress[1] != 2 {
		t.Fatalf("result %v, progress %v; want 3 after [1 2]", result.Arguments, progress)
	}
}
