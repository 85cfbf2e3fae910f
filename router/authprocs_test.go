package router_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// TestAnonymousMayNotRegisterAuthProcedures: a router whose anonymous role
// may register the dynamic authenticator (which receives every ticket and
// cookie) does not start, and a reload that would allow it is refused;
// with the procedures reserved to an authenticated backend
// (dynamicRealm), it starts and the backend registers them
// (TestDynamicAuthenticator).
func TestAnonymousMayNotRegisterAuthProcedures(t *testing.T) {
	t.Parallel()
	open := routertest.Config() // anonymous may do everything
	open.Realms[0].Auth.Dynamic = &config.DynamicAuth{Procedure: "com.example.authenticate", Methods: []string{"ticket"}, Timeout: time.Second}
	_, err := router.New(open, router.Options{})
	if err == nil || !strings.Contains(err.Error(), "realms[0].roles[0].permissions[0].allow.register") ||
		!strings.Contains(err.Error(), `"com.example.authenticate"`) {
		t.Fatalf("router.New: %v, want the anonymous role's register permission refused", err)
	}

	srv := routertest.Start(t, dynamicRealm)
	next := routertest.Config()
	dynamicRealm(next)
	next.Realms[0].Roles[0].Permissions = append(next.Realms[0].Roles[0].Permissions,
		config.Permission{URI: "com.example.authenticate", Match: "exact", Allow: config.Allow{Register: true}})
	if err := srv.Reload(next); err == nil || !strings.Contains(err.Error(), "allow.register") {
		t.Fatalf("reload: %v, want refused", err)
	}
	safe := routertest.Config()
	dynamicRealm(safe)
	if err := srv.Reload(safe); err != nil {
		t.Fatalf("reload of the same safe config: %v", err)
	}
}

// TestAuthProceduresNeedExactGrants: the procedures the router calls with
// tickets and authorization questions (the dynamic authenticator, role
// authorizers) can be registered, exactly or through a pattern that covers
// them, only by a role with an exact register permission on them: eve,
// whose role may register everything by prefix, may register other
// procedures but neither these nor a pattern over them; the backend may.
func TestAuthProceduresNeedExactGrants(t *testing.T) {
	t.Parallel()
	const eveTicket = "eve-ticket-0123456789abcdef"
	srv := routertest.Start(t, func(c *config.Config) {
		dynamicRealm(c)
		r := &c.Realms[0]
		r.Roles = append(r.Roles, config.Role{Name: "member", Permissions: []config.Permission{
			{URI: "", Match: "prefix", Allow: config.Allow{Register: true, Call: true}}}})
		r.Auth.Ticket.Principals["eve"] = config.TicketPrincipal{Ticket: eveTicket, Role: "member"}
	})
	eve := srv.Dial(t, 1, "json", ticketAuth("eve", eveTicket))
	noop := func(context.Context, *wamp.Invocation) client.InvokeResult { return client.InvokeResult{} }
	for _, tc := range []struct {
		uri, match string
	}{
		{"com.example.authenticate", ""},
		{"com.example.authorize", ""},
		{"com.example.", "prefix"},
		{"", "prefix"},
		{"com.example.authen", "prefix"},
		{"com..authenticate", "wildcard"},
		{"..", "wildcard"},
	} {
		if err := eve.Register(tc.uri, noop, wamp.Dict{"match": tc.match}); !errorIs(err, wamp.ErrNotAuthorized) {
			t.Errorf("eve registers %q (%s): %v, want not_authorized", tc.uri, tc.match, err)
		}
	}
	// What covers no protected procedure is hers to register.
	for _, tc := range []struct{ uri, match string }{{"com.example.other", ""}, {"app.", "prefix"}, {"com..other", "wildcard"}} {
		must(t, eve.Register(tc.uri, noop, wamp.Dict{"match": tc.match}))
	}
	// The backend, granted them exactly, may.
	backend := srv.Dial(t, 1, "json", dynamicBackend)
	(&backendProcs{authorized: map[string]int{}}).register(t, backend)
}
