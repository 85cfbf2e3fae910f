package switchboard_test

import (
	"context"
	"fmt"
	"time"

	switchboard "github.com/switchboard-wamp/switchboard/clients/go"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// A backend service: it registers a procedure, subscribes to a topic, and
// keeps both across router restarts.
func ExampleDial() {
	srv, stop, err := routertest.StartServer(nil) // a real router on 127.0.0.1
	if err != nil {
		panic(err)
	}
	defer stop()

	ctx := context.Background()
	svc, err := switchboard.Dial(ctx, srv.URL(0), switchboard.Options{
		Realm:        "realm1",
		ReconnectMax: 5 * time.Second,
	})
	if err != nil {
		panic(err)
	}
	defer svc.Close()

	err = svc.Register("com.example.add", func(_ context.Context, inv switchboard.Invocation) (switchboard.Result, error) {
		var in struct{ A, B int }
		if err := inv.Decode(&in); err != nil {
			return switchboard.Result{}, &switchboard.RPCError{URI: "com.example.error.bad_input", Args: []any{err.Error()}}
		}
		return switchboard.Result{Args: []any{in.A + in.B}}, nil
	}, nil)
	if err != nil {
		panic(err)
	}
	events := make(chan switchboard.Event, 1)
	if err := svc.SubscribeChan("com.example.news", events, nil); err != nil {
		panic(err)
	}

	caller, err := switchboard.Dial(ctx, srv.URL(1), switchboard.Options{Realm: "realm1", Serializer: "msgpack"})
	if err != nil {
		panic(err)
	}
	defer caller.Close()
	callCtx, cancel := context.WithTimeout(ctx, 5*time.Second) // the call's timeout
	defer cancel()
	res, err := caller.Call(callCtx, "com.example.add", nil, map[string]any{"A": 2, "B": 40})
	if err != nil {
		panic(err)
	}
	fmt.Println("sum:", res.Args[0])

	if err := caller.PublishAck(ctx, "com.example.news", []any{"hello"}, nil, nil); err != nil {
		panic(err)
	}
	fmt.Println("event:", (<-events).Args[0])
	// Output:
	// sum: 42
	// event: hello
}
