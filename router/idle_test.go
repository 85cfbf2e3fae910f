package router_test

import (
	"context"
	"encoding/json"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/gorilla/websocket"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countSubscribers asks the router how many sessions subscribe to topic.
func countSubscribers(t *testing.T, c *client.Client, topic string) int {
	t.Helper()
	res, err := c.Call(t.Context(), string(wamp.MetaProcSubLookup), nil, wamp.List{topic}, nil, nil)
	must(t, err)
	if len(res.Arguments) == 0 || res.Arguments[0] == nil {
		return 0
	}
	res, err = c.Call(t.Context(), "wamp.subscription.count_subscribers", nil, wamp.List{res.Arguments[0]}, nil, nil)
	must(t, err)
	n, _ := wamp.AsInt64(res.Arguments[0])
	return int(n)
}

// TestIdleSessionsPark shows that the connections of idle sessions are
// handed to the poller (their reader and writer goroutines exit), and that
// such sessions still receive events, send calls, are noticed when the
// client goes away, and are disconnected as slow consumers.
func TestIdleSessionsPark(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("idle-connection parking uses epoll")
	}
	t.Parallel()
	srv := routertest.Start(t, func(c *config.Config) { c.Listeners[0].WebSocket.MaxQueueBytes = 64 << 10 })

	// Subscriber (RawSocket, JSON; the default 1 MiB queue) and callee
	// (RawSocket, CBOR) that then stay silent.
	sub := srv.Dial(t, 1, "json", client.Config{})
	var got, bulk atomic.Int64
	must(t, sub.Subscribe("com.idle.news", func(e *wamp.Event) {
		switch {
		case len(e.Arguments) == 1 && e.Arguments[0] == "hello":
			got.Add(1)
		case len(e.Arguments) == 1:
			bulk.Add(1)
		}
	}, nil))
	callee := srv.Dial(t, 1, "cbor", client.Config{})
	must(t, callee.Register("com.idle.echo", func(_ context.Context, inv *wamp.Invocation) client.InvokeResult {
		return client.InvokeResult{Args: inv.Arguments}
	}, nil))
	// A client that stays subscribed and then vanishes without a word.
	vanishing := rawJoin(t, srv.URL(0))
	rawSubscribe(t, vanishing, "com.idle.news")

	waitFor(t, "3 idle connections to park", func() bool { return srv.Stats().ParkedConnections >= 3 })
	families, _ := scrape(t, srv)
	if n := value(families, "switchboard_parked_connections", nil); n < 3 {
		t.Fatalf("switchboard_parked_connections = %v, want at least 3", n)
	}

	// An event reaches the parked subscriber; a publisher joining now wakes
	// nothing but its own connection.
	pub := srv.Dial(t, 0, "msgpack", client.Config{})
	must(t, pub.Publish("com.idle.news", wamp.Dict{"acknowledge": true}, wamp.List{"hello"}, nil))
	waitFor(t, "the event at the parked subscriber", func() bool { return got.Load() == 1 })

	// The parked subscriber calls the parked callee: both wake.
	waitFor(t, "the subscriber to park again", func() bool { return srv.Stats().ParkedConnections >= 3 })
	res, err := sub.Call(t.Context(), "com.idle.echo", nil, wamp.List{"ping"}, nil, nil)
	must(t, err)
	if len(res.Arguments) != 1 || res.Arguments[0] != "ping" {
		t.Fatalf("call through parked sessions returned %v", res.Arguments)
	}

	// The vanished client's session ends: its subscription goes.
	if n := countSubscribers(t, pub, "com.idle.news"); n != 2 {
		t.Fatalf("%d subscribers before the client vanished, want 2", n)
	}
	waitFor(t, "everyone to park again", func() bool { return srv.Stats().ParkedConnections >= 3 })
	must(t, vanishing.UnderlyingConn().Close())
	waitFor(t, "the vanished client's session to end", func() bool {
		return countSubscribers(t, pub, "com.idle.news") == 1
	})

	// A parked client that stops reading is still disconnected as a slow
	// consumer (and its session ends), while the others get every event.
	stuck := rawJoin(t, srv.URL(0))
	rawSubscribe(t, stuck, "com.idle.news")
	stuckConn := stuck.UnderlyingConn().(*net.TCPConn)
	must(t, stuckConn.SetReadBuffer(4096))
	waitFor(t, "the stuck client to park", func() bool { return srv.Stats().ParkedConnections >= 4 })
	slowBefore := srv.Stats().SlowConsumers
	payload := strings.Repeat("x", 16<<10)
	published := 0
	for i := range 2000 { // at most 32 MB, more than loopback buffers hold
		opts := wamp.Dict{}
		if i%20 == 19 {
			opts["acknowledge"] = true
		}
		must(t, pub.Publish("com.idle.news", opts, wamp.List{payload}, nil))
		published++
		if srv.Stats().SlowConsumers > slowBefore {
			break
		}
	}
	waitFor(t, "the stuck client to be disconnected", func() bool { return srv.Stats().SlowConsumers > slowBefore })
	waitFor(t, "the stuck client's session to end", func() bool {
		return countSubscribers(t, pub, "com.idle.news") == 1
	})
	waitFor(t, "every event at the other subscriber", func() bool { return bulk.Load() == int64(published) })
	stuck.Close()
}

// TestKeepaliveDropsSilentParkedClient: with a ping interval longer than
// the park delay, a silent client is parked between pings and is still
// disconnected after two intervals, while one that answers stays.
func TestKeepaliveDropsSilentParkedClient(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("idle-connection parking uses epoll")
	}
	t.Parallel()
	srv := routertest.Start(t, func(c *config.Config) {
		c.Listeners[0].WebSocket.PingInterval = 1500 * time.Millisecond
	})
	alive := rawJoin(t, srv.URL(0))
	// The answering client reads all the time (gorilla answers pings while
	// it reads).
	aliveMsgs := make(chan []byte, 8)
	go func() {
		defer close(aliveMsgs)
		for {
			_, msg, err := alive.ReadMessage()
			if err != nil {
				return
			}
			aliveMsgs <- msg
		}
	}()
	silent := rawJoin(t, srv.URL(0))
	silent.SetPingHandler(func(string) error { return nil })
	waitFor(t, "both connections to park", func() bool { return srv.Stats().ParkedConnections >= 2 })
	expectDisconnected(t, silent, 10*time.Second)
	// The answering client's session is intact: it can still talk.
	must(t, alive.WriteMessage(websocket.TextMessage, []byte(`[32,7,{},"com.alive"]`)))
	select {
	case msg, ok := <-aliveMsgs:
		if !ok {
			t.Fatal("answering client was disconnected")
		}
		var reply []any
		must(t, json.Unmarshal(msg, &reply))
		if len(reply) < 2 || reply[0] != float64(wamp.SUBSCRIBED) || reply[1] != float64(7) {
			t.Fatalf("got %s, want SUBSCRIBED for request 7", msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reply to the answering client")
	}
	alive.Close()
	for range aliveMsgs {
	}
}
