package router_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/transport/serialize"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// TestDealerLoadNoFailures is issue #15's load test: 4 callers, each
// keeping 64 calls in flight (pipelined CALLs on raw sessions), to one
// echo callee, 10,000 calls in all within 60 s: every call is answered
// with its own arguments, none fails (nexus's dealer failed 3.3% with
// wamp.error.network_failure, and dropped RESULTs), and no session is
// disconnected as a slow consumer.
func TestDealerLoadNoFailures(t *testing.T) {
	t.Parallel()
	const (
		callers   = 4
		inFlight  = 64
		perCaller = 2500
		proc      = "com.dealer.load.echo"
	)
	srv := routertest.Start(t, nil)
	deadline := time.Now().Add(60 * time.Second)

	callee := dialWire(t, srv, 1, "msgpack", wireHello{})
	callee.register(proc, nil)
	invoked := make(chan int, 1)
	go func() { invoked <- echoUntilClosed(callee) }()

	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i, c := range []combo{comboAt(0), comboAt(2), comboAt(3), comboAt(4)} { // websocket json and cbor, rawsocket json and msgpack
		w := dialWire(t, srv, c.listener, c.ser, wireHello{})
		wg.Go(func() {
			if err := pipelinedCalls(w, proc, int64(i), inFlight, perCaller, deadline); err != nil {
				errs <- fmt.Errorf("caller %d (%s): %w", i, c.name, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	callee.close()
	if n := <-invoked; n != callers*perCaller {
		t.Errorf("the callee was invoked %d times, want %d", n, callers*perCaller)
	}
	families, _ := scrape(t, srv)
	if _, ok := families["switchboard_slow_consumer_disconnects_total"]; !ok {
		t.Error("no switchboard_slow_consumer_disconnects_total")
	}
	if n := value(families, "switchboard_slow_consumer_disconnects_total", nil); n != 0 {
		t.Errorf("%v slow consumers disconnected", n)
	}
	if n := value(families, "switchboard_dealer_calls_total", map[string]string{"outcome": "result"}); n != callers*perCaller {
		t.Errorf("switchboard_dealer_calls_total{outcome=result} = %v, want %d", n, callers*perCaller)
	}
}

// echoUntilClosed answers every INVOCATION on w with its arguments until
// the connection ends, and returns how many it answered.
func echoUntilClosed(w *wire) int {
	n := 0
	for msg := range w.inbox {
		inv, ok := msg.(*wamp.Invocation)
		if !ok {
			continue
		}
		if w.sendErr(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{}, Arguments: inv.Arguments}) != nil {
			break
		}
		n++
	}
	return n
}

// pipelinedCalls makes total calls of proc on w, keeping inFlight of them
// pending, each with arguments [caller, n]; it fails on any answer that is
// not the RESULT of a pending call with its arguments, or when the deadline
// passes with calls unanswered.
func pipelinedCalls(w *wire, proc string, caller int64, inFlight, total int, deadline time.Time) error {
	pending := make(map[wamp.ID]int64, inFlight)
	sent := 0
	send := func() error {
		sent++
		req := wamp.ID(sent)
		pending[req] = int64(sent)
		return w.sendErr(&wamp.Call{Request: req, Options: wamp.Dict{}, Procedure: wamp.URI(proc), Arguments: wamp.List{caller, int64(sent)}})
	}
	for sent < inFlight {
		if err := send(); err != nil {
			return err
		}
	}
	for answered := 0; answered < total; answered++ {
		msg, err := w.recvWithin(time.Until(deadline))
		if err != nil {
			return fmt.Errorf("%d of %d calls answered, %d pending: %w", answered, total, len(pending), err)
		}
		r, ok := msg.(*wamp.Result)
		if !ok {
			if e, isErr := msg.(*wamp.Error); isErr {
				return fmt.Errorf("call %d failed: %s %v", e.Request, e.Error, e.Arguments)
			}
			return fmt.Errorf("unexpected %s %v", msg.MessageType(), msg)
		}
		n, ok := pending[r.Request]
		if !ok {
			return fmt.Errorf("RESULT of request %d, which is not pending", r.Request)
		}
		delete(pending, r.Request)
		if len(r.Arguments) != 2 || asInt(r.Arguments[0]) != caller || asInt(r.Arguments[1]) != n {
			return fmt.Errorf("RESULT of request %d is %v, want [%d %d]", r.Request, r.Arguments, caller, n)
		}
		if sent < total {
			if err := send(); err != nil {
				return err
			}
		}
	}
	if len(pending) != 0 {
		return errors.New("calls pending after all were answered")
	}
	return nil
}

// stalledCallee joins over RawSocket (JSON) by hand, registers proc and
// then never reads again, with a small receive buffer: the router's
// INVOCATIONs pile up in its queue for the session.
func stalledCallee(t *testing.T, srv *routertest.Server, proc string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Addr(1).String())
	must(t, err)
	t.Cleanup(func() { conn.Close() })
	must(t, conn.(*net.TCPConn).SetReadBuffer(4096))
	must(t, conn.SetDeadline(time.Now().Add(5*time.Second)))
	_, err = conn.Write([]byte{0x7f, 0xf1, 0, 0}) // JSON, up to 16 MiB
	must(t, err)
	var hs [4]byte
	_, err = io.ReadFull(conn, hs[:])
	must(t, err)
	codec := &serialize.JSONSerializer{}
	exchange := func(msg wamp.Message) wamp.Message {
		t.Helper()
		b, err := codec.Serialize(msg)
		must(t, err)
		n := len(b)
		_, err = conn.Write(append([]byte{0, byte(n >> 16), byte(n >> 8), byte(n)}, b...))
		must(t, err)
		var h [4]byte
		_, err = io.ReadFull(conn, h[:])
		must(t, err)
		reply := make([]byte, int(h[1])<<16|int(h[2])<<8|int(h[3]))
		_, err = io.ReadFull(conn, reply)
		must(t, err)
		m, err := codec.Deserialize(reply)
		must(t, err)
		return m
	}
	if m := exchange(&wamp.Hello{Realm: routertest.Realm, Details: wamp.Dict{"roles": wamp.Dict{"callee": wamp.Dict{}}}}); m.MessageType() != wamp.WELCOME {
		t.Fatalf("stalled callee: got %v, want WELCOME", m)
	}
	if m := exchange(&wamp.Register{Request: 1, Options: wamp.Dict{}, Procedure: wamp.URI(proc)}); m.MessageType() != wamp.REGISTERED {
		t.Fatalf("stalled callee: got %v, want REGISTERED", m)
	}
	must(t, conn.SetDeadline(time.Time{}))
	return conn
}

// TestDealerSlowCalleeFailsItsCalls: a callee that stops reading is
// disconnected as a slow consumer once its queue passes max_queue_bytes,
// and every call sent to it is answered at once: ERROR wamp.error.canceled
// (reason callee_lost) for those it had been sent or was being sent, then
// wamp.error.no_such_procedure; none is left unanswered, and the caller's
// session is unharmed.
func TestDealerSlowCalleeFailsItsCalls(t *testing.T) {
	t.Parallel()
	const (
		calls = 400 // 25 MiB of INVOCATIONs: far more than socket buffers hold
		proc  = "com.dealer.slow.callee"
	)
	srv := routertest.Start(t, func(c *config.Config) { c.Listeners[1].RawSocket.MaxQueueBytes = 65536 })
	stalled := stalledCallee(t, srv, proc)
	caller := dialWire(t, srv, 0, "msgpack", wireHello{})
	payload := strings.Repeat("x", 64<<10)
	for range calls {
		caller.call(proc, nil, wamp.List{payload}, nil)
	}
	answered := map[wamp.ID]bool{}
	canceled := 0
	for len(answered) < calls {
		e := expectMsg[*wamp.Error](caller, fmt.Sprintf("the answer to call %d of %d", len(answered)+1, calls))
		switch {
		case e.Type != wamp.CALL || answered[e.Request] || e.Request < 1 || e.Request > calls:
			t.Fatalf("ERROR %s %d: not one per call", e.Type, e.Request)
		case e.Error == wamp.ErrCanceled:
			if e.ArgumentsKw["reason"] != "callee_lost" {
				t.Errorf("call %d: ERROR canceled %v %v, want kwargs reason callee_lost", e.Request, e.Arguments, e.ArgumentsKw)
			}
			canceled++
		case e.Error != wamp.ErrNoSuchProcedure:
			t.Fatalf("call %d: ERROR %s %v", e.Request, e.Error, e.Arguments)
		}
		answered[e.Request] = true
	}
	if canceled == 0 {
		t.Fatal("no call was pending at the slow callee")
	}
	caller.sync("the caller after its callee was disconnected")
	families, _ := scrape(t, srv)
	if n := value(families, "switchboard_slow_consumer_disconnects_total", map[string]string{"transport": "rawsocket"}); n != 1 {
		t.Fatalf("switchboard_slow_consumer_disconnects_total{transport=rawsocket} = %v, want 1", n)
	}
	// The router has closed the connection: reading drains what the
	// socket held, then ends.
	must(t, stalled.SetReadDeadline(time.Now().Add(10*time.Second)))
	if _, err := io.Copy(io.Discard, stalled); isTimeout(err) {
		t.Fatal("the slow callee's connection is still open")
	}
}
