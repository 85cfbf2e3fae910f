package router_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// backendProcs registers, as the backend (a ticket principal: the
// anonymous role may not register the auth procedures), the dynamic
// authenticator and authorizer of realm1, and counts authorizer calls per
// URI.
type backendProcs struct {
	mu            sync.Mutex
	authorized    map[string]int
	lastTransport wamp.Dict
}

func (b *backendProcs) register(t *testing.T, c *client.Client) {
	must(t, c.Register("com.example.authenticate", func(_ context.Context, inv *wamp.Invocation) client.InvokeResult {
		details, _ := wamp.AsDict(inv.Arguments[2])
		ticket, _ := wamp.AsString(details["ticket"])
		transport, _ := wamp.AsDict(details["transport"])
		b.mu.Lock()
		b.lastTransport = transport
		b.mu.Unlock()
		switch {
		case strings.HasPrefix(ticket, "good-"):
			return client.InvokeResult{Args: wamp.List{wamp.Dict{"role": "user", "authid": strings.TrimPrefix(ticket, "good-")}}}
		case ticket == "role-only":
			return client.InvokeResult{Args: wamp.List{"user"}}
		}
		return client.InvokeResult{Err: "com.example.error.denied", Args: wamp.List{"who are you?"}}
	}, nil))
	must(t, c.Register("com.example.authorize", func(_ context.Context, inv *wamp.Invocation) client.InvokeResult {
		session, _ := wamp.AsDict(inv.Arguments[0])
		uri, _ := wamp.AsString(inv.Arguments[1])
		authid, _ := wamp.AsString(session["authid"])
		b.mu.Lock()
		b.authorized[uri]++
		b.mu.Unlock()
		switch {
		case strings.HasPrefix(uri, "app.user."+authid+"."):
			return client.InvokeResult{Args: wamp.List{wamp.Dict{"allow": true}}}
		case strings.HasPrefix(uri, "app.nocache."):
			return client.InvokeResult{Args: wamp.List{wamp.Dict{"allow": true, "cache": false}}}
		case strings.HasPrefix(uri, "app.fail."):
			return client.InvokeResult{Err: "com.example.error.broken"}
		}
		return client.InvokeResult{Args: wamp.List{false}}
	}, nil))
}

func (b *backendProcs) calls(uri string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.authorized[uri]
}

const backendTicket = "backend-ticket-0123"

// dynamicBackend is how the backend that registers the auth procedures joins.
var dynamicBackend = ticketAuth("backend", backendTicket)

func dynamicRealm(c *config.Config) {
	r := &c.Realms[0]
	r.Roles[0].Permissions = append(r.Roles[0].Permissions, config.Permission{URI: "com.example.", Match: "prefix",
		Allow: config.Allow{Call: true, Publish: true, Subscribe: true}})
	// The procedures the router calls with secrets need exact grants.
	r.Roles = append(r.Roles, config.Role{Name: "backend", Permissions: []config.Permission{
		{URI: "com.example.", Match: "prefix", Allow: config.Allow{Register: true}},
		{URI: "com.example.authenticate", Match: "exact", Allow: config.Allow{Register: true}},
		{URI: "com.example.authorize", Match: "exact", Allow: config.Allow{Register: true}}}})
	r.Auth.Ticket = &config.TicketAuth{Principals: map[string]config.TicketPrincipal{"backend": {Ticket: backendTicket, Role: "backend"}}}
	r.Auth.Dynamic = &config.DynamicAuth{Procedure: "com.example.authenticate", Methods: []string{"ticket"}, Timeout: 2 * time.Second}
	r.Roles = append(r.Roles, config.Role{Name: "user", Authorizer: "com.example.authorize", AuthorizerCache: time.Minute})
}

func TestDynamicAuthenticator(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, dynamicRealm)
	// Before the procedure is registered, joins that need it fail.
	if c, err := srv.DialErr(0, "json", ticketAuth("", "good-alice")); err == nil {
		c.Close()
		t.Fatal("joined without the authenticate procedure")
	}
	b := &backendProcs{authorized: map[string]int{}}
	b.register(t, srv.Dial(t, 1, "json", dynamicBackend))

	alice := srv.Dial(t, 0, "msgpack", ticketAuth("", "good-alice"))
	if d := alice.RealmDetails(); d["authid"] != "alice" || d["authrole"] != "user" || d["authprovider"] != "dynamic" {
		t.Fatalf("welcome %v", d)
	}
	b.mu.Lock()
	headers, _ := wamp.AsDict(b.lastTransport["http_headers_received"])
	b.mu.Unlock()
	if _, ok := headers["upgrade"]; !ok {
		t.Fatalf("the authenticator saw no upgrade headers: %v", b.lastTransport)
	}
	plain := srv.Dial(t, 1, "cbor", ticketAuth("carol", "role-only"))
	if d := plain.RealmDetails(); d["authid"] != "carol" || d["authrole"] != "user" {
		t.Fatalf("welcome %v", d)
	}
	expectRefused(t, srv, 0, ticketAuth("mallory", "bad"), "denied by the dynamic authenticator")
}

func TestDynamicAuthorizer(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, dynamicRealm)
	b := &backendProcs{authorized: map[string]int{}}
	b.register(t, srv.Dial(t, 1, "json", dynamicBackend))
	alice := srv.Dial(t, 0, "json", ticketAuth("", "good-alice"))
	noop := func(*wamp.Event) {}

	must(t, alice.Subscribe("app.user.alice.news", noop, nil))
	if err := alice.Subscribe("app.user.bob.news", noop, nil); !errorIs(err, wamp.ErrNotAuthorized) {
		t.Fatalf("bob's topic: %v", err)
	}
	if err := alice.Subscribe("app.fail.x", noop, nil); !errorIs(err, wamp.ErrNotAuthorized) {
		t.Fatalf("a failing authorizer must deny: %v", err)
	}
	// Cached per session: asking again does not call the authorizer.
	must(t, alice.Unsubscribe("app.user.alice.news"))
	must(t, alice.Subscribe("app.user.alice.news", noop, nil))
	if n := b.calls("app.user.alice.news"); n != 1 {
		t.Fatalf("authorizer called %d times for a cached decision", n)
	}
	// ... unless the answer said cache: false.
	must(t, alice.Subscribe("app.nocache.a", noop, nil))
	must(t, alice.Unsubscribe("app.nocache.a"))
	must(t, alice.Subscribe("app.nocache.a", noop, nil))
	if n := b.calls("app.nocache.a"); n != 2 {
		t.Fatalf("uncacheable decision asked %d times, want 2", n)
	}
	// Calls are authorized too (through nexus's authorizer hook).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := alice.Call(ctx, "app.other.proc", nil, nil, nil, nil)
	var rpcErr client.RPCError
	if !errors.As(err, &rpcErr) || rpcErr.Err.Error != wamp.ErrNotAuthorized {
		t.Fatalf("call: %v", err)
	}
	// Another session does not share alice's cache.
	alice2 := srv.Dial(t, 1, "json", ticketAuth("", "good-alice"))
	must(t, alice2.Subscribe("app.user.alice.news", noop, nil))
	if n := b.calls("app.user.alice.news"); n != 2 {
		t.Fatalf("a new session reused another's decision (%d calls)", n)
	}
}
