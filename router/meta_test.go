package router_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/gorilla/websocket"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

func TestSubscriptionMetaAPI(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, func(c *config.Config) {
		c.Realms[0].Options.EventHistory = []config.EventHistory{{Topic: "app.history.", Match: "prefix", Limit: 2}}
	})
	watcher := srv.Dial(t, 0, "json", client.Config{})
	sub := srv.Dial(t, 1, "msgpack", client.Config{})
	pub := srv.Dial(t, 0, "cbor", client.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	created := make(chan *wamp.Event, 4)
	joined := make(chan *wamp.Event, 4)
	must(t, watcher.SubscribeChan("wamp.subscription.on_create", created, nil))
	must(t, watcher.SubscribeChan("wamp.session.on_join", joined, nil))

	must(t, sub.Subscribe("app.meta.topic", func(*wamp.Event) {}, nil))
	// The watcher's own subscriptions come first.
	ev := recv(t, created)
	for sid, _ := wamp.AsID(ev.Arguments[0]); sid == watcher.ID(); sid, _ = wamp.AsID(ev.Arguments[0]) {
		ev = recv(t, created)
	}
	if sid, _ := wamp.AsID(ev.Arguments[0]); sid != sub.ID() {
		t.Fatalf("on_create session = %v, want %d", ev.Arguments[0], sub.ID())
	}
	subDetails, _ := wamp.AsDict(ev.Arguments[1])
	if subDetails["uri"] != "app.meta.topic" || subDetails["match"] != "exact" {
		t.Fatalf("on_create details = %v", subDetails)
	}
	subID, _ := wamp.AsID(subDetails["id"])

	call := func(proc string, args ...any) wamp.List {
		t.Helper()
		res, err := watcher.Call(ctx, proc, nil, wamp.List(args), nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", proc, err)
		}
		return res.Arguments
	}
	if got, _ := wamp.AsID(call("wamp.subscription.lookup", "app.meta.topic")[0]); got != subID {
		t.Fatalf("lookup = %v, want %d", got, subID)
	}
	if got := call("wamp.subscription.lookup", "app.unknown")[0]; got != nil {
		t.Fatalf("lookup of an unknown URI = %v, want null", got)
	}
	if got := call("wamp.subscription.count_subscribers", subID)[0]; got == nil {
		t.Fatal("count_subscribers returned nothing")
	} else if n, _ := wamp.AsInt64(got); n != 1 {
		t.Fatalf("count_subscribers = %v, want 1", got)
	}
	details, _ := wamp.AsDict(call("wamp.subscription.get", subID)[0])
	if details["match"] != "exact" {
		t.Fatalf("get = %v, want match exact", details)
	}
	matched, _ := wamp.AsList(call("wamp.subscription.match", "app.meta.topic")[0])
	if len(matched) != 1 {
		t.Fatalf("match = %v", matched)
	}

	// Session meta events published by nexus reach our subscribers.
	late := srv.Dial(t, 0, "json", client.Config{})
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-joined:
			d, _ := wamp.AsDict(ev.Arguments[0])
			if id, _ := wamp.AsID(d["session"]); id == late.ID() {
				goto history
			}
		case <-deadline:
			t.Fatal("no wamp.session.on_join for the new session")
		}
	}
history:
	// Event history keeps the last 2 events of the configured prefix.
	must(t, watcher.Subscribe("app.history.", func(*wamp.Event) {}, wamp.Dict{"match": "prefix"}))
	for _, n := range []int{1, 2, 3} {
		must(t, pub.Publish("app.history.x", wamp.Dict{"acknowledge": true}, wamp.List{n}, nil))
	}
	histID, _ := wamp.AsID(call("wamp.subscription.lookup", "app.history.", wamp.Dict{"match": "prefix"})[0])
	events, _ := wamp.AsList(call("wamp.subscription.get_events", histID)[0])
	if len(events) != 2 {
		t.Fatalf("get_events returned %d events, want 2: %v", len(events), events)
	}
	last, _ := wamp.AsDict(events[1])
	args, _ := wamp.AsList(last["args"])
	if n, _ := wamp.AsInt64(args[0]); n != 3 {
		t.Fatalf("last stored event args = %v, want [3]", args)
	}
}

func TestRegistrationLookupAnswersNull(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	eachTransport(t, func(t *testing.T, l int, ser string) {
		c := srv.Dial(t, l, ser, client.Config{})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		proc := "app.reg.lookup." + ser + string(rune('0'+l))
		must(t, c.Register(proc, func(context.Context, *wamp.Invocation) client.InvokeResult { return client.InvokeResult{} }, nil))
		for _, meta := range []string{"wamp.registration.lookup", "wamp.registration.match"} {
			res, err := c.Call(ctx, meta, nil, wamp.List{"app.reg.unknown"}, nil, nil)
			must(t, err)
			if len(res.Arguments) != 1 || res.Arguments[0] != nil {
				t.Errorf("%s of an unknown URI = %v, want [null]", meta, res.Arguments)
			}
			res, err = c.Call(ctx, meta, nil, wamp.List{proc}, nil, nil)
			must(t, err)
			if id, _ := wamp.AsID(res.Arguments[0]); id == 0 {
				t.Errorf("%s of a registered URI = %v, want its ID", meta, res.Arguments)
			}
		}
	})
}

// TestRetainedEvents speaks WAMP by hand on the subscriber side: the nexus
// client drops an EVENT that arrives right after SUBSCRIBED, before it has
// registered the handler, which is exactly when retained events come.
func TestRetainedEvents(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	pub := srv.Dial(t, 1, "msgpack", client.Config{})
	must(t, pub.Publish("app.retain.a", wamp.Dict{"retain": true, "acknowledge": true}, wamp.List{"first"}, nil))
	must(t, pub.Publish("app.retain.a", wamp.Dict{"retain": true, "acknowledge": true}, wamp.List{"latest"}, nil))
	must(t, pub.Publish("app.retain.b", wamp.Dict{"acknowledge": true}, wamp.List{"not retained"}, nil))

	ws := rawJoin(t, srv.URL(0))
	read := func() []any {
		t.Helper()
		must(t, ws.SetReadDeadline(time.Now().Add(5*time.Second)))
		_, msg, err := ws.ReadMessage()
		must(t, err)
		var m []any
		must(t, json.Unmarshal(msg, &m))
		return m
	}
	send := func(s string) { t.Helper(); must(t, ws.WriteMessage(websocket.TextMessage, []byte(s))) }

	send(`[32,1,{"get_retained":true},"app.retain.a"]`)
	if m := read(); m[0] != float64(wamp.SUBSCRIBED) {
		t.Fatalf("want SUBSCRIBED, got %v", m)
	}
	ev := read()
	if ev[0] != float64(wamp.EVENT) || fmt.Sprint(ev[4]) != "[latest]" || ev[3].(map[string]any)["retained"] != true {
		t.Fatalf("want the retained EVENT [latest] with details.retained, got %v", ev)
	}
	send(`[32,2,{"match":"prefix","get_retained":true},"app.retain."]`)
	if m := read(); m[0] != float64(wamp.SUBSCRIBED) {
		t.Fatalf("want SUBSCRIBED, got %v", m)
	}
	ev = read()
	if fmt.Sprint(ev[4]) != "[latest]" || ev[3].(map[string]any)["topic"] != "app.retain.a" {
		t.Fatalf("prefix subscription: want the retained EVENT of app.retain.a, got %v", ev)
	}
	// Without get_retained nothing old arrives: the next event is live.
	send(`[32,3,{},"app.retain.b"]`)
	if m := read(); m[0] != float64(wamp.SUBSCRIBED) {
		t.Fatalf("want SUBSCRIBED, got %v", m)
	}
	must(t, pub.Publish("app.retain.b", wamp.Dict{"acknowledge": true}, wamp.List{"live"}, nil))
	if ev := read(); fmt.Sprint(ev[4]) != "[live]" || ev[3].(map[string]any)["retained"] != nil {
		t.Fatalf("plain subscriber got %v first, want the live event", ev)
	}
}

func TestTestamentReachesSubscribers(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	watcher := srv.Dial(t, 0, "json", client.Config{})
	events := make(chan *wamp.Event, 1)
	must(t, watcher.SubscribeChan("app.testament.gone", events, nil))
	dying, err := srv.DialErr(1, "msgpack", client.Config{})
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = dying.Call(ctx, "wamp.session.add_testament", nil,
		wamp.List{"app.testament.gone", wamp.List{"bye"}, wamp.Dict{}}, nil, nil)
	must(t, err)
	must(t, dying.Close())
	if ev := recv(t, events); ev.Arguments[0] != "bye" {
		t.Fatalf("testament event = %v", ev.Arguments)
	}
}
