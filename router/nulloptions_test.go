package router_test

import (
	"context"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// TestNullOptionsAreAbsent: an option whose value is null counts as absent
// in SUBSCRIBE, PUBLISH, REGISTER, CALL and YIELD (wampy.js sends unset
// options as null over MessagePack and CBOR), for every transport and
// serializer; and a null does not hide a real option next to it.
func TestNullOptionsAreAbsent(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	eachTransport(t, func(t *testing.T, listener int, serializer string) {
		c := srv.Dial(t, listener, serializer, client.Config{})
		topic := "com.nulls." + serializer + "." + transports[listener].name
		events := make(chan *wamp.Event, 4)
		// match: null is exact; get_retained: null is false.
		must(t, c.Subscribe(topic, func(ev *wamp.Event) { events <- ev }, wamp.Dict{"match": nil, "get_retained": nil}))
		prefix := make(chan *wamp.Event, 4)
		must(t, c.Subscribe(topic+".", func(ev *wamp.Event) { prefix <- ev }, wamp.Dict{"match": "prefix", "get_retained": nil}))
		// exclude_me: null is the default (true), but exclude_me false next
		// to other nulls is honoured.
		must(t, c.Publish(topic, wamp.Dict{"acknowledge": true, "exclude_me": false, "retain": nil, "eligible": nil}, wamp.List{"a"}, nil))
		if ev := recv(t, events); ev.Arguments[0] != "a" {
			t.Fatalf("event %v", ev.Arguments)
		}
		must(t, c.Publish(topic+".sub", wamp.Dict{"acknowledge": true, "exclude_me": false, "disclose_me": nil}, wamp.List{"b"}, nil))
		if ev := recv(t, prefix); ev.Arguments[0] != "b" {
			t.Fatalf("prefix event %v", ev.Arguments)
		}
		must(t, c.Register(topic+".echo", func(_ context.Context, inv *wamp.Invocation) client.InvokeResult {
			return client.InvokeResult{Args: inv.Arguments}
		}, wamp.Dict{"match": nil, "invoke": nil, "disclose_caller": nil}))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := c.Call(ctx, topic+".echo", wamp.Dict{"timeout": nil, "receive_progress": nil, "disclose_me": nil}, wamp.List{"c"}, nil, nil)
		must(t, err)
		if res.Arguments[0] != "c" {
			t.Fatalf("result %v", res.Arguments)
		}
		select {
		case ev := <-events:
			t.Fatalf("unexpected event %v", ev)
		default:
		}
	})
}
