package router_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// benchEcho starts a router and a nexus callee of bench.echo on listener
// (0 WebSocket, 1 RawSocket) with serializer.
func benchEcho(b *testing.B, listener int, serializer string) *routertest.Server {
	b.Helper()
	srv := routertest.Start(b, nil)
	callee := srv.Dial(b, listener, serializer, client.Config{})
	echo := func(_ context.Context, inv *wamp.Invocation) client.InvokeResult {
		return client.InvokeResult{Args: inv.Arguments}
	}
	if err := callee.Register("bench.echo", echo, nil); err != nil {
		b.Fatalf("register: %v", err)
	}
	return srv
}

// BenchmarkCallSocket is a call through a real router over loopback
// sockets: a nexus client calls a nexus callee that echoes, one call at a
// time. The allocations are the whole process's: the router and both
// clients.
//
//	go test -run XXX -bench CallSocket -benchmem -count 6 ./router | benchstat -
func BenchmarkCallSocket(b *testing.B) {
	for _, bc := range []struct {
		name       string
		listener   int
		serializer string
	}{
		{"websocket/json", 0, "json"},
		{"rawsocket/msgpack", 1, "msgpack"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := benchEcho(b, bc.listener, bc.serializer)
			caller := srv.Dial(b, bc.listener, bc.serializer, client.Config{})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			args := wamp.List{"payload", 42}
			b.ReportAllocs()
			for b.Loop() {
				res, err := caller.Call(ctx, "bench.echo", nil, args, nil, nil)
				if err != nil {
					b.Fatalf("call: %v", err)
				}
				if len(res.Arguments) != 2 {
					b.Fatalf("echo returned %v", res.Arguments)
				}
			}
		})
	}
}

// BenchmarkCallSocketParallel: callers with a session each call one echo
// callee at once over WebSocket JSON, one call in flight per caller.
//
//	go test -run XXX -bench CallSocketParallel -benchmem -cpu 1,2 -count 6 ./router | benchstat -col /cpu -
func BenchmarkCallSocketParallel(b *testing.B) {
	srv := benchEcho(b, 0, "json")
	var answered atomic.Int64
	b.SetParallelism(4) // 4 x GOMAXPROCS callers: the round trip, not the CPU, bounds one
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		caller, err := srv.DialErr(0, "json", client.Config{})
		if err != nil {
			b.Errorf("dial: %v", err)
			return
		}
		defer caller.Close()
		args := wamp.List{"payload", 42}
		for pb.Next() {
			// A call lost by the router fails the benchmark here rather
			// than hanging it (see TestInvocationIDsIncreasePerCallee).
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			res, err := caller.Call(ctx, "bench.echo", nil, args, nil, nil)
			cancel()
			if err != nil || len(res.Arguments) != 2 {
				b.Errorf("call: %v", fmt.Sprint(err, res))
				return
			}
			answered.Add(1)
		}
	})
	if got := answered.Load(); got != int64(b.N) {
		b.Fatalf("%d calls answered of %d", got, b.N)
	}
}
