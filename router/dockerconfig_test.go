package router_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// dockerConfig loads the config.yaml the Docker image runs, with its
// secrets set and its listeners moved to 127.0.0.1:0 (through the
// environment overrides, as an operator would).
func dockerConfig(t *testing.T, backendTicket string) *config.Config {
	t.Helper()
	data, err := os.ReadFile("../config.yaml")
	must(t, err)
	env := map[string]string{
		"SWITCHBOARD_BACKEND_TICKET":      backendTicket,
		"SWITCHBOARD_BRIDGE_SECRET":       "bridge-secret-for-the-docker-test",
		"SWITCHBOARD_LISTENERS_0_ADDRESS": "127.0.0.1:0",
		"SWITCHBOARD_LISTENERS_1_ADDRESS": "127.0.0.1:0",
	}
	cfg, err := config.Parse("config.yaml", data, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	must(t, err)
	return cfg
}

// TestDockerConfigAnonymousIsReadOnly: with the Docker image's config, an
// anonymous client (WebSocket or RawSocket) may subscribe and call public.*
// procedures, but not publish, register (not even a name before the
// backend does), call anything else or subscribe to meta events; the
// backend, with its ticket, may do everything.
func TestDockerConfigAnonymousIsReadOnly(t *testing.T) {
	t.Parallel()
	const ticket = "backend-ticket-for-the-docker-test"
	cfg := dockerConfig(t, ticket)
	srv := routertest.Start(t, func(c *config.Config) { *c = *cfg })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	echo := func(_ context.Context, inv *wamp.Invocation) client.InvokeResult {
		return client.InvokeResult{Args: inv.Arguments}
	}
	noop := func(*wamp.Event) {}
	refused := func(err error) bool {
		var rpcErr client.RPCError
		return errorIs(err, wamp.ErrNotAuthorized) || (errors.As(err, &rpcErr) && rpcErr.Err.Error == wamp.ErrNotAuthorized)
	}

	for _, l := range []int{0, 1} {
		anon := srv.Dial(t, l, "json", client.Config{})
		if d := anon.RealmDetails(); d["authrole"] != "anonymous" {
			t.Fatalf("anonymous welcome %v", d)
		}
		// Refused: first, registering a name the backend will use.
		for _, proc := range []string{"public.echo", "app.rpc", "com.example.authenticate"} {
			if err := anon.Register(proc, echo, nil); !refused(err) {
				t.Fatalf("listener %d: anonymous register %s: %v, want not_authorized", l, proc, err)
			}
		}
		for _, topic := range []string{"app.news", "public.news"} {
			if err := anon.Publish(topic, wamp.Dict{wamp.OptAcknowledge: true}, wamp.List{"forged"}, nil); !refused(err) {
				t.Fatalf("listener %d: anonymous publish %s: %v, want not_authorized", l, topic, err)
			}
		}
		// wamp.* is the router's, whatever the role.
		if err := anon.Publish("wamp.session.on_join", wamp.Dict{wamp.OptAcknowledge: true}, wamp.List{"forged"}, nil); !errorIs(err, wamp.ErrInvalidURI) {
			t.Fatalf("listener %d: anonymous publish wamp.session.on_join: %v, want invalid_uri", l, err)
		}
		for _, proc := range []string{"app.rpc", "wamp.session.list", "wamp.registration.list"} {
			if _, err := anon.Call(ctx, proc, nil, nil, nil, nil); !refused(err) {
				t.Fatalf("listener %d: anonymous call %s: %v, want not_authorized", l, proc, err)
			}
		}
		if err := anon.Subscribe("wamp.session.on_join", noop, nil); !refused(err) {
			t.Fatalf("listener %d: anonymous subscribe to meta events: %v, want not_authorized", l, err)
		}
	}

	// The backend joins with its ticket and offers a public procedure and
	// events; anonymous clients receive and call them.
	expectRefused(t, srv, 1, ticketAuth("backend", "not-the-backend-ticket"), "wrong backend ticket")
	be := srv.Dial(t, 1, "msgpack", ticketAuth("backend", ticket))
	if d := be.RealmDetails(); d["authrole"] != "backend" {
		t.Fatalf("backend welcome %v", d)
	}
	must(t, be.Register("public.echo", echo, nil))
	must(t, be.Register("app.rpc", echo, nil))
	anon := srv.Dial(t, 0, "cbor", client.Config{})
	got := make(chan wamp.List, 1)
	must(t, anon.Subscribe("app.news", func(e *wamp.Event) { got <- e.Arguments }, nil))
	must(t, be.Publish("app.news", wamp.Dict{wamp.OptAcknowledge: true}, wamp.List{"hello"}, nil))
	select {
	case args := <-got:
		if len(args) != 1 || args[0] != "hello" {
			t.Fatalf("event %v", args)
		}
	case <-ctx.Done():
		t.Fatal("the anonymous subscriber got no event")
	}
	res, err := anon.Call(ctx, "public.echo", nil, wamp.List{"ping"}, nil, nil)
	if err != nil || len(res.Arguments) != 1 || res.Arguments[0] != "ping" {
		t.Fatalf("anonymous call public.echo: %v %v", res, err)
	}
	if _, err := anon.Call(ctx, "app.rpc", nil, nil, nil, nil); !refused(err) {
		t.Fatalf("anonymous call app.rpc (registered): %v, want not_authorized", err)
	}
}

// TestDockerConfigNeedsTheSecrets: without SWITCHBOARD_BACKEND_TICKET (or
// with a short one) the Docker config does not load.
func TestDockerConfigNeedsTheSecrets(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../config.yaml")
	must(t, err)
	for name, env := range map[string]map[string]string{
		"no backend ticket":    {"SWITCHBOARD_BRIDGE_SECRET": "bridge-secret-for-the-docker-test"},
		"short backend ticket": {"SWITCHBOARD_BRIDGE_SECRET": "bridge-secret-for-the-docker-test", "SWITCHBOARD_BACKEND_TICKET": "0123456789abcde"},
	} {
		_, err := config.Parse("config.yaml", data, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}
