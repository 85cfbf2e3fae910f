package router_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/gorilla/websocket"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

func TestMain(m *testing.M) { routertest.Main(m) }

// transports are the listener indexes of routertest.Config.
var transports = []struct {
	name     string
	listener int
}{{"websocket", 0}, {"rawsocket", 1}}

var serializers = []string{"json", "msgpack", "cbor"}

// eachTransport runs f for every {transport} x {serializer} pair.
func eachTransport(t *testing.T, f func(t *testing.T, listener int, serializer string)) {
	for _, tr := range transports {
		for _, ser := range serializers {
			t.Run(tr.name+"/"+ser, func(t *testing.T) {
				t.Parallel()
				f(t, tr.listener, ser)
			})
		}
	}
}

// recv waits for one event or fails the test.
func recv(t *testing.T, ch <-chan *wamp.Event) *wamp.Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
		return nil
	}
}

func TestPubSub(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	eachTransport(t, func(t *testing.T, l int, ser string) {
		sub := srv.Dial(t, l, ser, client.Config{})
		pub := srv.Dial(t, l, ser, client.Config{})
		topic := "com.test.pubsub." + ser + fmt.Sprint(l)
		exact := make(chan *wamp.Event, 10)
		prefix := make(chan *wamp.Event, 10)
		wildcard := make(chan *wamp.Event, 10)
		must(t, sub.SubscribeChan(topic+".a.news", exact, nil))
		must(t, sub.SubscribeChan(topic+".", prefix, wamp.Dict{"match": "prefix"}))
		must(t, sub.SubscribeChan(topic+"..news", wildcard, wamp.Dict{"match": "wildcard"}))
		must(t, pub.Publish(topic+".a.news", wamp.Dict{"acknowledge": true},
			wamp.List{"hello", 42}, wamp.Dict{"who": "world", "n": 7}))

		ev := recv(t, exact)
		if len(ev.Arguments) != 2 || ev.Arguments[0] != "hello" {
			t.Fatalf("exact args = %#v", ev.Arguments)
		}
		if n, _ := wamp.AsInt64(ev.Arguments[1]); n != 42 {
			t.Fatalf("exact args[1] = %#v, want 42", ev.Arguments[1])
		}
		if who, _ := wamp.AsString(ev.ArgumentsKw["who"]); who != "world" {
			t.Fatalf("exact kwargs = %#v", ev.ArgumentsKw)
		}
		if _, ok := ev.Details["topic"]; ok {
			t.Fatalf("exact subscription got details.topic: %v", ev.Details)
		}
		for name, ch := range map[string]chan *wamp.Event{"prefix": prefix, "wildcard": wildcard} {
			ev := recv(t, ch)
			if got, _ := wamp.AsString(ev.Details["topic"]); got != topic+".a.news" {
				t.Fatalf("%s details.topic = %q, want %q", name, got, topic+".a.news")
			}
		}
		// A topic only the prefix subscription matches.
		must(t, pub.Publish(topic+".other.thing", nil, wamp.List{"x"}, nil))
		if ev := recv(t, prefix); fmt.Sprint(ev.Details["topic"]) != topic+".other.thing" {
			t.Fatalf("prefix details.topic = %v", ev.Details["topic"])
		}
	})
}

func TestRPC(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	eachTransport(t, func(t *testing.T, l int, ser string) {
		callee := srv.Dial(t, l, ser, client.Config{})
		caller := srv.Dial(t, l, ser, client.Config{})
		proc := fmt.Sprintf("com.test.rpc.%s%d", ser, l)
		must(t, callee.Register(proc+".add", func(_ context.Context, inv *wamp.Invocation) client.InvokeResult {
			a, _ := wamp.AsInt64(inv.Arguments[0])
			b, _ := wamp.AsInt64(inv.Arguments[1])
			return client.InvokeResult{Args: wamp.List{a + b}, Kwargs: wamp.Dict{"op": "add"}}
		}, nil))
		must(t, callee.Register(proc+".fail", func(_ context.Context, inv *wamp.Invocation) client.InvokeResult {
			return client.InvokeResult{Err: "com.test.error.invalid", Args: wamp.List{"bad input"}, Kwargs: wamp.Dict{"min": 3}}
		}, nil))

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := caller.Call(ctx, proc+".add", nil, wamp.List{2, 40}, nil, nil)
		must(t, err)
		if sum, _ := wamp.AsInt64(res.Arguments[0]); sum != 42 {
			t.Fatalf("add = %v, want 42", res.Arguments)
		}
		if op, _ := wamp.AsString(res.ArgumentsKw["op"]); op != "add" {
			t.Fatalf("kwargs = %v", res.ArgumentsKw)
		}

		_, err = caller.Call(ctx, proc+".fail", nil, nil, nil, nil)
		var rpcErr client.RPCError
		if !errors.As(err, &rpcErr) {
			t.Fatalf("call error = %v, want RPCError", err)
		}
		if rpcErr.Err.Error != "com.test.error.invalid" {
			t.Fatalf("error URI = %q", rpcErr.Err.Error)
		}
		if len(rpcErr.Err.Arguments) != 1 || rpcErr.Err.Arguments[0] != "bad input" {
			t.Fatalf("error args = %v", rpcErr.Err.Arguments)
		}
		if min, _ := wamp.AsInt64(rpcErr.Err.ArgumentsKw["min"]); min != 3 {
			t.Fatalf("error kwargs = %v", rpcErr.Err.ArgumentsKw)
		}

		_, err = caller.Call(ctx, proc+".missing", nil, nil, nil, nil)
		if !errors.As(err, &rpcErr) || rpcErr.Err.Error != wamp.ErrNoSuchProcedure {
			t.Fatalf("missing procedure error = %v", err)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestShutdownSendsGoodbye: with shutdown_mode goodbye every session gets
// GOODBYE wamp.close.system_shutdown.
func TestShutdownSendsGoodbye(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, func(c *config.Config) { c.ShutdownMode = config.ShutdownGoodbye })
	var clients []*client.Client
	for _, tr := range transports {
		for _, ser := range serializers {
			c, err := srv.DialErr(tr.listener, ser, client.Config{})
			must(t, err)
			clients = append(clients, c)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	must(t, srv.Shutdown(ctx))
	for i, c := range clients {
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("client %d still connected after shutdown", i)
		}
		gb := c.RouterGoodbye()
		if gb == nil {
			t.Fatalf("client %d got no GOODBYE", i)
		}
		if gb.Reason != wamp.CloseSystemShutdown {
			t.Fatalf("client %d GOODBYE reason = %q, want %q", i, gb.Reason, wamp.CloseSystemShutdown)
		}
		_ = c.Close()
	}
	// A second Shutdown is a no-op.
	must(t, srv.Shutdown(ctx))
	// New connections are refused.
	if c, err := srv.DialErr(0, "json", client.Config{}); err == nil {
		_ = c.Close()
		t.Fatal("dial after shutdown succeeded")
	}
}

// TestShutdownWhileJoining: a session that joins as shutdown begins is
// either refused (ABORT wamp.close.system_shutdown, or its connection ends
// before its HELLO is read) or welcomed and then told GOODBYE, never
// welcomed and dropped without one (a client would take that for a lost
// connection). Each round starts the shutdown a little later into the
// join. (A raw client: nexus's client hangs sending HELLO over a
// connection that the router has closed.)
func TestShutdownWhileJoining(t *testing.T) {
	t.Parallel()
	const rounds = 300
	welcomed, refused := 0, 0
	for round := range rounds {
		ws := joinAsShutdownBegins(t, func(c *config.Config) { c.ShutdownMode = config.ShutdownGoodbye },
			time.Duration(round)*1500*time.Microsecond/rounds)
		var got []string // the WAMP messages' codes, in order
		for {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				break
			}
			got = append(got, string(msg[:min(len(msg), 2)]))
			if strings.HasPrefix(string(msg), "[6,") || strings.HasPrefix(string(msg), "[3,") {
				if !strings.Contains(string(msg), string(wamp.CloseSystemShutdown)) {
					t.Fatalf("round %d: %s, want the reason %s", round, msg, wamp.CloseSystemShutdown)
				}
			}
		}
		switch strings.Join(got, " ") {
		case "[2 [6":
			welcomed++
		case "[3", "":
			refused++
		default:
			t.Fatalf("round %d: the session got %v (codes), want WELCOME then GOODBYE, or ABORT, or nothing", round, got)
		}
		_ = ws.Close()
	}
	t.Logf("of %d sessions %d were welcomed, then told GOODBYE; %d refused", rounds, welcomed, refused)
	if welcomed == 0 || refused == 0 {
		t.Fatalf("%d welcomed, %d refused: the rounds did not cover both sides", welcomed, refused)
	}
}

// TestShutdownForRestartWhileJoining: with shutdown_mode restart, a
// session that joins as shutdown begins never gets ABORT or GOODBYE (both
// tell autobahn.js not to reconnect): it is welcomed and then closed with
// 1012, or closed with 1012 before its WELCOME, or (a connection whose
// HELLO the router had not read yet, or not yet a session) reset or ended
// without a close frame: clients reconnect after all of these.
func TestShutdownForRestartWhileJoining(t *testing.T) {
	t.Parallel()
	const rounds = 200
	welcomed, reset := 0, 0
	for round := range rounds {
		ws := joinAsShutdownBegins(t, func(c *config.Config) { c.ShutdownCloseSpread = 0 },
			time.Duration(round)*1500*time.Microsecond/rounds)
		for {
			_, msg, err := ws.ReadMessage()
			if err == nil {
				if !strings.HasPrefix(string(msg), "[2,") {
					t.Fatalf("round %d: got %s while the router restarts, want WELCOME or nothing", round, msg)
				}
				welcomed++
				continue
			}
			var ce *websocket.CloseError
			switch {
			case !errors.As(err, &ce) && errors.Is(err, syscall.ECONNRESET):
				reset++
			case errors.As(err, &ce) && ce.Code == websocket.CloseAbnormalClosure:
				reset++ // upgraded, not yet a session: closed with the rest, no close frame
			case !errors.As(err, &ce) || ce.Code != 1012:
				t.Fatalf("round %d: %v, want close 1012 (service restart)", round, err)
			}
			break
		}
		_ = ws.Close()
	}
	if reset == rounds {
		t.Fatal("every connection was reset: none closed for a restart")
	}
	t.Logf("%d of %d sessions were welcomed before the shutdown, %d reset", welcomed, rounds, reset)
	if welcomed == 0 || welcomed == rounds {
		t.Fatalf("%d of %d welcomed: the rounds did not cover both sides", welcomed, rounds)
	}
}

// joinAsShutdownBegins starts a router configured by edit, opens a raw
// JSON WebSocket session on it, sends HELLO and, after, shuts the router
// down: the join and the shutdown race. It returns the client's
// connection, with 5 s to read what the router sent.
func joinAsShutdownBegins(t *testing.T, edit func(*config.Config), after time.Duration) *websocket.Conn {
	t.Helper()
	srv := routertest.Start(t, edit)
	status, body, ws := upgrade(t, srv.URL(0), "", []string{"wamp.2.json"})
	if ws == nil {
		t.Fatalf("upgrade: %d %s", status, body)
	}
	must(t, ws.WriteMessage(websocket.TextMessage, []byte(`[1,"realm1",{"roles":{"subscriber":{}}}]`)))
	spin(after)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	must(t, srv.Shutdown(ctx))
	must(t, ws.SetReadDeadline(time.Now().Add(5*time.Second)))
	return ws
}

// spin waits for d without sleeping (a sleep lasts at least tens of
// microseconds).
func spin(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; {
	}
}

// TestShutdownForRestart: by default (shutdown_mode restart) every session's
// connection ends without a GOODBYE, a WebSocket one with close code 1012,
// so that clients reconnect; the other side of TestShutdownSendsGoodbye.
func TestShutdownForRestart(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, func(c *config.Config) { c.ShutdownCloseSpread = 200 * time.Millisecond })
	var clients []*client.Client
	for _, tr := range transports {
		for _, ser := range serializers {
			c, err := srv.DialErr(tr.listener, ser, client.Config{})
			must(t, err)
			clients = append(clients, c)
		}
	}
	ws := rawJoin(t, srv.URL(0))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	must(t, srv.Shutdown(ctx))
	for i, c := range clients {
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("client %d still connected after shutdown", i)
		}
		if gb := c.RouterGoodbye(); gb != nil {
			t.Fatalf("client %d got GOODBYE %q: it would not reconnect", i, gb.Reason)
		}
		_ = c.Close()
	}
	must(t, ws.SetReadDeadline(time.Now().Add(5*time.Second)))
	for {
		_, msg, err := ws.ReadMessage()
		if err == nil {
			if strings.HasPrefix(string(msg), "[6,") {
				t.Fatalf("raw client got GOODBYE %s", msg)
			}
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != 1012 {
			t.Fatalf("raw client: %v, want close 1012 (service restart)", err)
		}
		break
	}
}

// TestFailedStartUndoesEverything: when a listener cannot bind after others
// did, Start fails and every address it had bound refuses connections
// afterwards (TestMain's goleak check shows no goroutine is left either).
func TestFailedStartUndoesEverything(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer taken.Close()
	cfg := routertest.Config()
	cfg.Listeners = append(cfg.Listeners, config.Listener{Address: taken.Addr().String(), RawSocket: &config.RawSocket{
		Serializers: []string{"json"}, MaxMessageSize: 1 << 20, MaxQueueBytes: 1 << 20}})
	srv, err := router.New(cfg, router.Options{})
	must(t, err)
	err = srv.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "listeners[2]") {
		t.Fatalf("Start: %v, want listeners[2] refused", err)
	}
	bound := srv.Addrs()
	if len(bound) != 2 {
		t.Fatalf("%d listeners were bound before the failure, want 2", len(bound))
	}
	for _, a := range bound {
		if c, err := net.DialTimeout("tcp", a.String(), time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after the failed Start", a)
		}
	}
	must(t, srv.Shutdown(context.Background())) // nothing left to do, no error
}

// TestFailedBridgeStartClosesListeners: when a bridge fails to start after
// every listener is bound (its HTTP callee's procedure cannot be
// registered), Start fails and no bound address accepts connections.
func TestFailedBridgeStartClosesListeners(t *testing.T) {
	t.Parallel()
	cfg := routertest.Config()
	cfg.Listeners[0].Bridge = &config.Bridge{Realm: "realm1", PublishPath: "/publish", CallPath: "/call", PositionPath: "/position",
		MaxBodySize: 1 << 16, TimestampDeltaLimit: time.Minute, CallTimeout: time.Second, ReadTimeout: time.Second,
		Role: "anonymous",
		Callees: []config.HTTPCallee{{Procedure: "wamp.session.kill_all", URL: "http://127.0.0.1:1/rpc",
			Secret: "a-secret-of-sixteen-characters", Timeout: time.Second}}}
	srv, err := router.New(cfg, router.Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := srv.Start(context.Background()); err == nil {
		_ = srv.Shutdown(context.Background())
		t.Fatal("Start succeeded with an HTTP callee for a wamp.* procedure")
	}
	for _, a := range srv.Addrs() {
		if c, err := net.DialTimeout("tcp", a.String(), time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after the failed Start", a)
		}
	}
}

// TestListenersAreNamed: Listeners says what each bound address serves.
func TestListenersAreNamed(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	ls := srv.Listeners()
	if len(ls) != 2 || ls[0].Transport != "websocket" || ls[1].Transport != "rawsocket" ||
		ls[0].Address != "127.0.0.1:0" || ls[0].Addr.String() == ls[0].Address || ls[1].TLS {
		t.Fatalf("listeners %+v", ls)
	}
	if ls[0].Addr.String() != srv.Addrs()[0].String() {
		t.Fatalf("Listeners and Addrs disagree: %v vs %v", ls[0].Addr, srv.Addrs()[0])
	}
}
