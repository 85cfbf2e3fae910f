package httpbridge_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/clients/go/httpbridge"
	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

func TestMain(m *testing.M) { routertest.Main(m) }

// The worked vector of Crossbar's signing scheme.
func TestSignVector(t *testing.T) {
	got := httpbridge.Sign("secret", "foobar", "2011-10-14T16:59:51.123Z", "1", "42", []byte(`{"topic":"com.myapp.topic1"}`))
	if got != "MJ1bOtB_-58dq05Lt6b9lV5UyP5YqHxXsPu0hye8EhY=" {
		t.Fatalf("Sign = %s", got)
	}
}

func TestAgainstTheRouter(t *testing.T) {
	const secret, token = "client-bridge-secret-0123456789", "client-bridge-token-0123456789"
	srv := routertest.Start(t, func(c *config.Config) {
		c.Listeners[0].Bridge = &config.Bridge{Realm: "realm1", PublishPath: "/publish", CallPath: "/call", PositionPath: "/position",
			MaxBodySize: 65536, TimestampDeltaLimit: time.Minute, CallTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
			Keys: []config.BridgeKey{
				{Key: "svc", Secret: secret, AuthID: "svc", Role: "anonymous"},
				{Key: "tok", BearerToken: token, AuthID: "tok", Role: "anonymous"},
			}}
	})
	sub := srv.Dial(t, 0, "json", client.Config{})
	events := make(chan *wamp.Event, 8)
	if err := sub.SubscribeChan("com.bridge.news", events, nil); err != nil {
		t.Fatal(err)
	}
	if err := sub.Register("com.bridge.add", func(_ context.Context, inv *wamp.Invocation) client.InvokeResult {
		a, _ := wamp.AsInt64(inv.Arguments[0])
		b, _ := wamp.AsInt64(inv.Arguments[1])
		return client.InvokeResult{Args: wamp.List{a + b}}
	}, nil); err != nil {
		t.Fatal(err)
	}
	base := "http://" + srv.Addr(0).String()
	ctx := context.Background()
	signed := &httpbridge.Client{URL: base, Key: "svc", Secret: secret}
	bearer := &httpbridge.Client{URL: base, Token: token}
	id, err := signed.Publish(ctx, "com.bridge.news", []any{"signed"}, nil, nil)
	if err != nil || id == 0 {
		t.Fatalf("signed publish: %d %v", id, err)
	}
	ids, err := bearer.PublishBatch(ctx, []httpbridge.Publication{{Topic: "com.bridge.news", Args: []any{"b1"}}, {Topic: "com.bridge.news", Args: []any{"b2"}}})
	if err != nil || len(ids) != 2 {
		t.Fatalf("batch: %v %v", ids, err)
	}
	for _, want := range []string{"signed", "b1", "b2"} {
		select {
		case ev := <-events:
			if ev.Arguments[0] != want {
				t.Fatalf("event %v, want %s", ev.Arguments, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no event %s", want)
		}
	}
	args, _, err := signed.Call(ctx, "com.bridge.add", []any{40, 2}, nil, time.Second)
	if err != nil || len(args) != 1 || args[0] != float64(42) {
		t.Fatalf("call: %v %v", args, err)
	}
	_, _, err = bearer.Call(ctx, "com.bridge.missing", nil, nil, 0)
	var be *httpbridge.Error
	if !errors.As(err, &be) || be.Status != http.StatusNotFound || be.URI != "wamp.error.no_such_procedure" {
		t.Fatalf("missing procedure: %v", err)
	}
	wrong := &httpbridge.Client{URL: base, Key: "svc", Secret: "not-the-secret-0123456789"}
	if _, err := wrong.Publish(ctx, "com.bridge.news", nil, nil, nil); !errors.As(err, &be) || be.Status != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %v", err)
	}
}
