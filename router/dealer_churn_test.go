package router_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// TestDealerConcurrentChurn runs callers and callees at once (for the race
// detector and the dealer's bookkeeping): callees on one roundrobin
// registration that hold a few invocations before answering, answer some
// with an ERROR, unregister and register again, and one that leaves and
// rejoins; callers that keep calls in flight, some with a timeout, and
// cancel some in every mode. Every CALL gets exactly one final answer, a
// RESULT with its own arguments or an ERROR the situation explains; at the
// end no registration is left, and the dealer has counted every CALL once,
// as routed or refused. Bounded: 4 x 400 calls, 60 s.
func TestDealerConcurrentChurn(t *testing.T) {
	t.Parallel()
	const (
		callers   = 4
		perCaller = 400
		inFlight  = 16
		proc      = "com.dealer.churn"
	)
	srv := routertest.Start(t, nil)
	deadline := time.Now().Add(60 * time.Second)
	stop := make(chan struct{})

	var callees sync.WaitGroup
	calleeErrs := make(chan error, 3)
	var invoked atomic.Int64
	for i := range 3 {
		c := comboAt(i)
		callees.Go(func() {
			if err := churnCallee(srv, c, proc, i == 0, stop, &invoked); err != nil {
				calleeErrs <- fmt.Errorf("callee %d (%s): %w", i, c.name, err)
			}
		})
	}
	// The callers start once a callee is registered.
	watcher := srv.Dial(t, 0, "json", client.Config{})
	waitFor(t, "a callee to register", func() bool { return calleeCount(t, watcher, proc) > 0 })

	var wg sync.WaitGroup
	errs := make(chan error, callers)
	tally := make([]map[string]int, callers)
	for i := range callers {
		c := comboAt(i + 3)
		w := dialWire(t, srv, c.listener, c.ser, wireHello{caller: []string{"call_canceling", "call_timeout"}})
		wg.Go(func() {
			var err error
			tally[i], err = churnCaller(w, proc, int64(i), inFlight, perCaller, deadline)
			if err != nil {
				errs <- fmt.Errorf("caller %d (%s): %w", i, c.name, err)
			}
		})
	}
	wg.Wait()
	close(stop)
	callees.Wait()
	close(errs)
	close(calleeErrs)
	for err := range errs {
		t.Error(err)
	}
	for err := range calleeErrs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	t.Logf("answers %v; %d invocations", tally, invoked.Load())

	waitFor(t, "the callees' registrations to go", func() bool {
		families, _ := scrape(t, srv)
		return value(families, "switchboard_dealer_registrations", nil) == 0
	})
	waitFor(t, "every CALL to be counted once", func() bool {
		families, _ := scrape(t, srv)
		routed := value(families, "switchboard_dealer_calls_total", nil)
		refused := value(families, "switchboard_dealer_calls_refused_total", nil)
		return routed+refused == callers*perCaller
	})
}

// churnCallee serves proc until stop: it holds up to 3 invocations and
// answers them when a 4th arrives or it is idle for 20 ms, one in 10 with
// an ERROR, and never a quarter of those with a timeout; after every 40 invocations it unregisters and registers again;
// if leaves, it closes its session after 150 invocations and joins anew.
func churnCallee(srv *routertest.Server, c combo, proc string, leaves bool, stop <-chan struct{}, invoked *atomic.Int64) error {
	join := func() (*wire, error) {
		w, err := dialWireErr(srv, c.listener, c.ser, wireHello{callee: []string{"call_canceling", "call_timeout"}})
		if err != nil {
			return nil, err
		}
		return w, w.sendErr(&wamp.Register{Request: 1, Options: wamp.Dict{"invoke": "roundrobin"}, Procedure: wamp.URI(proc)})
	}
	w, err := join()
	if err != nil {
		return err
	}
	defer func() { w.close() }()
	var held []*wamp.Invocation
	var reg wamp.ID
	nextReq := wamp.ID(1)
	served := 0
	answer := func() error {
		for _, inv := range held {
			var msg wamp.Message = &wamp.Yield{Request: inv.Request, Options: wamp.Dict{}, Arguments: inv.Arguments}
			if rand.IntN(10) == 0 {
				msg = &wamp.Error{Type: wamp.INVOCATION, Request: inv.Request, Details: wamp.Dict{}, Error: "com.churn.error"}
			}
			if err := w.sendErr(msg); err != nil {
				return err
			}
		}
		held = held[:0]
		return nil
	}
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		msg, err := w.recvWithin(20 * time.Millisecond)
		if err != nil {
			if errors.Is(err, errWireClosed) {
				return err
			}
			if err := answer(); err != nil {
				return err
			}
			continue
		}
		switch m := msg.(type) {
		case *wamp.Registered:
			reg = m.Registration
		case *wamp.Unregistered:
			nextReq++
			if err := w.sendErr(&wamp.Register{Request: nextReq, Options: wamp.Dict{"invoke": "roundrobin"}, Procedure: wamp.URI(proc)}); err != nil {
				return err
			}
		case *wamp.Interrupt:
			for i, inv := range held {
				if inv.Request == m.Request {
					held = append(held[:i], held[i+1:]...)
					if err := w.sendErr(&wamp.Error{Type: wamp.INVOCATION, Request: m.Request, Details: wamp.Dict{}, Error: wamp.ErrCanceled}); err != nil {
						return err
					}
					break
				}
			}
		case *wamp.Invocation:
			invoked.Add(1)
			served++
			// Some calls with a timeout are never answered: the dealer's
			// timer ends them.
			if _, timed := m.Details["timeout"]; !timed || rand.IntN(4) != 0 {
				held = append(held, m)
			}
			if len(held) > 3 {
				if err := answer(); err != nil {
					return err
				}
			}
			switch {
			case leaves && served%150 == 0:
				w.close() // the held calls' callers get callee_lost
				held = held[:0]
				if w, err = join(); err != nil {
					return err
				}
				nextReq = 1
			case served%40 == 0 && reg != 0:
				nextReq++
				if err := w.sendErr(&wamp.Unregister{Request: nextReq, Registration: reg}); err != nil {
					return err
				}
				reg = 0
			}
		case *wamp.Error:
			return fmt.Errorf("ERROR %s %d %s", m.Type, m.Request, m.Error)
		}
	}
}

// churnCaller makes total calls of proc with inFlight pending, a third with
// a 30 ms timeout, and cancels one in 8 (in turn skip, kill, killnowait);
// it checks each gets one final answer and returns the answers by kind.
func churnCaller(w *wire, proc string, caller int64, inFlight, total int, deadline time.Time) (map[string]int, error) {
	tally := map[string]int{}
	pending := map[wamp.ID]bool{}
	modes := []string{wamp.CancelModeSkip, wamp.CancelModeKill, wamp.CancelModeKillNoWait}
	sent := 0
	send := func() error {
		sent++
		req := wamp.ID(sent)
		pending[req] = true
		options := wamp.Dict{}
		if sent%3 == 0 {
			options["timeout"] = 30
		}
		if err := w.sendErr(&wamp.Call{Request: req, Options: options, Procedure: wamp.URI(proc), Arguments: wamp.List{caller, int64(sent)}}); err != nil {
			return err
		}
		if sent%8 == 0 {
			return w.sendErr(&wamp.Cancel{Request: req, Options: wamp.Dict{"mode": modes[(sent/8)%3]}})
		}
		return nil
	}
	for sent < inFlight {
		if err := send(); err != nil {
			return tally, err
		}
	}
	for answered := 0; answered < total; {
		msg, err := w.recvWithin(time.Until(deadline))
		if err != nil {
			return tally, fmt.Errorf("%d of %d answered, %d pending: %w", answered, total, len(pending), err)
		}
		var req wamp.ID
		switch m := msg.(type) {
		case *wamp.Result:
			req = m.Request
			if len(m.Arguments) != 2 || asInt(m.Arguments[0]) != caller || asInt(m.Arguments[1]) != int64(req) {
				return tally, fmt.Errorf("RESULT of %d: %v", req, m.Arguments)
			}
			tally["result"]++
		case *wamp.Error:
			req = m.Request
			switch m.Error {
			case wamp.ErrCanceled, wamp.ErrTimeout, wamp.ErrNoSuchProcedure, "com.churn.error":
				tally[string(m.Error)]++
			default:
				return tally, fmt.Errorf("ERROR %s %d %s %v", m.Type, m.Request, m.Error, m.Arguments)
			}
			if m.Type != wamp.CALL {
				return tally, fmt.Errorf("ERROR %s %d %s", m.Type, m.Request, m.Error)
			}
		default:
			return tally, fmt.Errorf("unexpected %s %v", msg.MessageType(), msg)
		}
		if !pending[req] {
			return tally, fmt.Errorf("a second answer, or one for no call, to request %d: %v", req, msg)
		}
		delete(pending, req)
		answered++
		if sent < total {
			if err := send(); err != nil {
				return tally, err
			}
		}
	}
	return tally, nil
}
