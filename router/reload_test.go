package router_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

func reloadable(ticket, subscribable string) *config.Config {
	cfg := routertest.Config()
	cfg.Realms[0].Auth.Ticket = &config.TicketAuth{Principals: map[string]config.TicketPrincipal{
		"alice": {Ticket: ticket, Role: "anonymous"}}}
	cfg.Realms[0].Roles[0].Permissions = []config.Permission{
		{URI: subscribable, Match: "prefix", Allow: config.Allow{Subscribe: true, Publish: true}},
	}
	return cfg
}

// TestReload: a ticket and a permission change on a running router;
// existing sessions stay, new joins and requests follow the new rules, and
// a bad configuration leaves the old one in force.
func TestReload(t *testing.T) {
	t.Parallel()
	first := reloadable("ticket-one-012345", "app.")
	srv := routertest.Start(t, func(c *config.Config) { *c = *first })
	alice := srv.Dial(t, 0, "json", ticketAuth("alice", "ticket-one-012345"))
	anon := srv.Dial(t, 1, "msgpack", client.Config{})
	noop := func(*wamp.Event) {}
	must(t, anon.Subscribe("app.private.x", noop, nil))

	next := reloadable("ticket-two-012345", "app.public.")
	// Listener addresses are :0 in both; keep the router's own config shape.
	must(t, srv.Reload(next))
	if !alice.Connected() || !anon.Connected() {
		t.Fatal("a session was dropped by the reload")
	}
	expectRefused(t, srv, 0, ticketAuth("alice", "ticket-one-012345"), "old ticket after reload")
	srv.Dial(t, 0, "json", ticketAuth("alice", "ticket-two-012345"))
	if err := anon.Subscribe("app.private.y", noop, nil); !errorIs(err, wamp.ErrNotAuthorized) {
		t.Fatalf("old permission still applies: %v", err)
	}
	must(t, anon.Subscribe("app.public.y", noop, nil))

	// Refused: an invalid configuration, and one that needs a restart.
	broken := reloadable("ticket-three-0123", "app. bad")
	if err := srv.Reload(broken); err == nil {
		t.Fatal("an invalid configuration was applied")
	}
	moved := reloadable("ticket-three-0123", "app.")
	moved.Listeners[0].WebSocket.Path = "/elsewhere"
	if err := srv.Reload(moved); !errors.Is(err, router.ErrRestartNeeded) {
		t.Fatalf("changed listener: %v, want ErrRestartNeeded", err)
	}
	clustered := reloadable("ticket-three-0123", "app.")
	clustered.Cluster.MaxMetaCalls++
	if err := srv.Reload(clustered); !errors.Is(err, router.ErrRestartNeeded) || !strings.Contains(err.Error(), "cluster") {
		t.Fatalf("changed cluster settings: %v, want ErrRestartNeeded", err)
	}
	// Still the second configuration.
	srv.Dial(t, 0, "json", ticketAuth("alice", "ticket-two-012345"))
	if err := anon.Subscribe("app.private.z", noop, nil); !errorIs(err, wamp.ErrNotAuthorized) {
		t.Fatalf("a refused reload changed the rules: %v", err)
	}
}
