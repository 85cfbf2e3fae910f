package dealer

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
)

// TestCallsEndOnceUnderChurn runs calls from several in-process callers to
// a shared registration while calls are cancelled, time out, and callees
// leave: every call ends with one answer, and no session keeps a call or
// an invocation afterwards.
func TestCallsEndOnceUnderChurn(t *testing.T) {
	d := New([]Realm{{Name: "r"}}, Options{})
	handler := func(ctx context.Context, inv *wamp.Invocation) (wamp.List, wamp.Dict, *CallError) {
		delay, _ := wamp.AsInt64(inv.Arguments[0])
		select {
		case <-time.After(time.Duration(delay) * time.Microsecond):
			return inv.Arguments, nil, nil
		case <-ctx.Done():
			return nil, nil, &CallError{URI: wamp.ErrCanceled}
		}
	}
	var callees []*Local
	join := func() *Local {
		l, err := d.JoinLocal("r", "callee", "trusted", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Register("p", wamp.Dict{wamp.OptInvoke: wamp.InvokeRoundRobin}, handler); err != nil {
			t.Fatal(err)
		}
		return l
	}
	for range 3 {
		callees = append(callees, join())
	}
	var callers []*Local
	for range 4 {
		l, err := d.JoinLocal("r", "caller", "trusted", nil)
		if err != nil {
			t.Fatal(err)
		}
		callers = append(callers, l)
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[string]int{}
	for i, c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for n := range 300 {
				delay := rng.IntN(2000) // us
				opts := wamp.Dict{}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				switch n % 4 {
				case 1:
					opts[wamp.OptTimeout] = 1 // ms: often times out
				case 2:
					cancel()
					ctx, cancel = context.WithTimeout(context.Background(), time.Duration(rng.IntN(1500))*time.Microsecond)
				}
				res, err := c.Call(ctx, "p", opts, wamp.List{delay}, nil)
				cancel()
				var ce *CallError
				var outcome string
				switch {
				case err == nil:
					if got, _ := wamp.AsInt64(res.Arguments[0]); got != int64(delay) {
						t.Errorf("call answered %v, want %d", res.Arguments, delay)
					}
					outcome = "result"
				case errors.As(err, &ce):
					outcome = string(ce.URI)
				case errors.Is(err, context.DeadlineExceeded):
					outcome = "deadline"
				default:
					t.Errorf("call failed: %v", err)
				}
				mu.Lock()
				outcomes[outcome]++
				mu.Unlock()
			}
		}()
	}
	// Callees leave and come back while the calls run.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 20 {
			time.Sleep(5 * time.Millisecond)
			old := callees[i%len(callees)]
			callees[i%len(callees)] = join()
			old.Close()
		}
	}()
	wg.Wait()
	t.Logf("outcomes: %v", outcomes)
	if outcomes["result"] == 0 || outcomes[string(wamp.ErrTimeout)] == 0 {
		t.Errorf("the mix did not exercise results and timeouts: %v", outcomes)
	}
	for _, l := range append(callers, callees...) {
		l.s.mu.Lock()
		calls, invs := len(l.s.calls), len(l.s.invocations)
		l.s.mu.Unlock()
		if calls != 0 || invs != 0 {
			t.Errorf("session %d keeps %d calls and %d invocations after every call ended", l.ID(), calls, invs)
		}
	}
}

// TestLeaveFailsPendingCallsAtOnce: a callee that leaves with calls
// pending answers each of them with wamp.error.canceled (reason
// callee_lost), and its registration is gone.
func TestLeaveFailsPendingCallsAtOnce(t *testing.T) {
	d := New([]Realm{{Name: "r"}}, Options{})
	callee, _ := d.JoinLocal("r", "callee", "trusted", nil)
	started := make(chan struct{}, 10)
	if _, err := callee.Register("hold", nil, func(ctx context.Context, _ *wamp.Invocation) (wamp.List, wamp.Dict, *CallError) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	caller, _ := d.JoinLocal("r", "caller", "trusted", nil)
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := caller.Call(context.Background(), "hold", nil, nil, nil)
			errs <- err
		}()
	}
	for range 3 {
		<-started
	}
	callee.Close()
	for range 3 {
		var ce *CallError
		if err := <-errs; !errors.As(err, &ce) || ce.URI != wamp.ErrCanceled || ce.Kwargs["reason"] != "callee_lost" {
			t.Fatalf("pending call ended with %v, want wamp.error.canceled, reason callee_lost", err)
		}
	}
	var ce *CallError
	if _, err := caller.Call(context.Background(), "hold", nil, nil, nil); !errors.As(err, &ce) || ce.URI != wamp.ErrNoSuchProcedure {
		t.Fatalf("call after the callee left: %v, want wamp.error.no_such_procedure", err)
	}
}
