package router_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// restricted gives anonymous sessions a role that may act only on some URIs,
// and a "discloser" role (via a second realm) whose identity is revealed.
func restricted(cfg *config.Config) {
	cfg.Realms[0].Roles[0].Permissions = []config.Permission{
		{URI: "app.open.", Match: "prefix", Allow: config.Allow{Call: true, Register: true, Publish: true, Subscribe: true}},
		{URI: "app.open.readonly", Match: "exact", Allow: config.Allow{Subscribe: true}},
		{URI: "app..feed", Match: "wildcard", Allow: config.Allow{Subscribe: true}},
		{URI: "app.disclosed.", Match: "prefix",
			Allow:    config.Allow{Call: true, Register: true, Publish: true, Subscribe: true},
			Disclose: config.Disclose{Caller: true, Publisher: true}},
	}
}

func wampErrorURI(err error) wamp.URI {
	var rpcErr client.RPCError
	if errors.As(err, &rpcErr) {
		return rpcErr.Err.Error
	}
	return ""
}

func TestPermissions(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, restricted)
	eachTransport(t, func(t *testing.T, l int, ser string) {
		c := srv.Dial(t, l, ser, client.Config{})
		other := srv.Dial(t, l, ser, client.Config{})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		noop := func(*wamp.Event) {}
		handler := func(context.Context, *wamp.Invocation) client.InvokeResult {
			return client.InvokeResult{Args: wamp.List{"ok"}}
		}

		// Denied: no permission matches, or the matching one lacks the action.
		if err := c.Subscribe("app.secret.topic", noop, nil); err == nil || !errorIs(err, wamp.ErrNotAuthorized) {
			t.Errorf("subscribe app.secret.topic: err = %v, want not_authorized", err)
		}
		if err := c.Publish("app.open.readonly", wamp.Dict{"acknowledge": true}, nil, nil); !errorIs(err, wamp.ErrNotAuthorized) {
			t.Errorf("publish app.open.readonly (exact permission, subscribe only): err = %v, want not_authorized", err)
		}
		if err := c.Register("app.secret.proc", handler, nil); !errorIs(err, wamp.ErrNotAuthorized) {
			t.Errorf("register app.secret.proc: err = %v, want not_authorized", err)
		}
		if _, err := c.Call(ctx, "app.secret.proc", nil, nil, nil, nil); wampErrorURI(err) != wamp.ErrNotAuthorized {
			t.Errorf("call app.secret.proc: err = %v, want not_authorized", err)
		}
		if err := c.Publish("app.x.feed", wamp.Dict{"acknowledge": true}, nil, nil); !errorIs(err, wamp.ErrNotAuthorized) {
			t.Errorf("publish app.x.feed (wildcard permission, subscribe only): err = %v, want not_authorized", err)
		}

		// Allowed: each action under the prefix permission, and subscribe
		// via the exact and wildcard ones.
		events := make(chan *wamp.Event, 4)
		must(t, c.SubscribeChan("app.open.news", events, nil))
		must(t, c.Subscribe("app.open.readonly", noop, nil))
		must(t, c.Subscribe("app.x.feed", noop, nil))
		must(t, other.Publish("app.open.news", wamp.Dict{"acknowledge": true}, wamp.List{"hi"}, nil))
		if ev := recv(t, events); ev.Arguments[0] != "hi" {
			t.Fatalf("event args = %v", ev.Arguments)
		}
		proc := "app.open.proc." + ser + string(rune('0'+l))
		must(t, other.Register(proc, handler, nil))
		res, err := c.Call(ctx, proc, nil, nil, nil, nil)
		must(t, err)
		if res.Arguments[0] != "ok" {
			t.Fatalf("call result = %v", res.Arguments)
		}
	})
}

func errorIs(err error, uri wamp.URI) bool {
	return err != nil && (wampErrorURI(err) == uri || containsURI(err.Error(), string(uri)))
}

func containsURI(s, uri string) bool {
	for i := 0; i+len(uri) <= len(s); i++ {
		if s[i:i+len(uri)] == uri {
			return true
		}
	}
	return false
}

func TestDisclosure(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, restricted)
	eachTransport(t, func(t *testing.T, l int, ser string) {
		pub := srv.Dial(t, l, ser, client.Config{})
		sub := srv.Dial(t, l, ser, client.Config{})
		suffix := ser + string(rune('0'+l))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		wantID := pub.ID()
		wantAuthID, _ := wamp.AsString(pub.RealmDetails()["authid"])

		// Disclose on: the role's permission reveals the publisher, even
		// without disclose_me.
		on := make(chan *wamp.Event, 1)
		must(t, sub.SubscribeChan("app.disclosed.news."+suffix, on, nil))
		must(t, pub.Publish("app.disclosed.news."+suffix, wamp.Dict{"acknowledge": true}, nil, nil))
		ev := recv(t, on)
		if id, _ := wamp.AsID(ev.Details["publisher"]); id != wantID {
			t.Fatalf("disclosed event details = %v, want publisher %d", ev.Details, wantID)
		}
		if a, _ := wamp.AsString(ev.Details["publisher_authid"]); a != wantAuthID {
			t.Fatalf("publisher_authid = %q, want %q", a, wantAuthID)
		}
		if r, _ := wamp.AsString(ev.Details["publisher_authrole"]); r != "anonymous" {
			t.Fatalf("publisher_authrole = %q", r)
		}

		// Disclose off: not revealed, unless the publisher asks for it.
		off := make(chan *wamp.Event, 2)
		must(t, sub.SubscribeChan("app.open.news."+suffix, off, nil))
		must(t, pub.Publish("app.open.news."+suffix, wamp.Dict{"acknowledge": true}, nil, nil))
		ev = recv(t, off)
		if _, ok := ev.Details["publisher"]; ok {
			t.Fatalf("undisclosed event details = %v", ev.Details)
		}
		must(t, pub.Publish("app.open.news."+suffix, wamp.Dict{"acknowledge": true, "disclose_me": true}, nil, nil))
		ev = recv(t, off)
		if id, _ := wamp.AsID(ev.Details["publisher"]); id != wantID {
			t.Fatalf("disclose_me event details = %v, want publisher %d", ev.Details, wantID)
		}

		// Caller disclosure, on and off.
		callerOf := func(ctx context.Context, inv *wamp.Invocation) client.InvokeResult {
			id, _ := wamp.AsID(inv.Details["caller"])
			return client.InvokeResult{Args: wamp.List{int64(id)}}
		}
		must(t, sub.Register("app.disclosed.who."+suffix, callerOf, nil))
		must(t, sub.Register("app.open.who."+suffix, callerOf, wamp.Dict{"disclose_caller": true}))
		res, err := pub.Call(ctx, "app.disclosed.who."+suffix, nil, nil, nil, nil)
		must(t, err)
		if id, _ := wamp.AsID(res.Arguments[0]); id != wantID {
			t.Fatalf("disclosed caller = %v, want %d", res.Arguments[0], wantID)
		}
		// The callee's disclose_caller is dropped: not revealed unless asked.
		res, err = pub.Call(ctx, "app.open.who."+suffix, nil, nil, nil, nil)
		must(t, err)
		if id, _ := wamp.AsID(res.Arguments[0]); id != 0 {
			t.Fatalf("undisclosed caller = %v, want none", res.Arguments[0])
		}
		res, err = pub.Call(ctx, "app.open.who."+suffix, wamp.Dict{"disclose_me": true}, nil, nil, nil)
		must(t, err)
		if id, _ := wamp.AsID(res.Arguments[0]); id != wantID {
			t.Fatalf("caller asking disclosure = %v, want %d", res.Arguments[0], wantID)
		}
	})
}
