package router_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

const publisherTicket = "publisher-ticket-0123"

// carveOut: anonymous sessions may subscribe, register and call under
// "app." except "app.admin.", and call the subscription meta procedures
// and wamp.session.add_testament, but publish nowhere;
// the ticket principal "pub" may do everything.
func carveOut(c *config.Config) {
	r := &c.Realms[0]
	all := config.Allow{Call: true, Register: true, Publish: true, Subscribe: true}
	r.Roles[0].Permissions = []config.Permission{
		{URI: "app.", Match: "prefix", Allow: config.Allow{Subscribe: true, Register: true, Call: true}},
		{URI: "app.admin.", Match: "prefix"},
		{URI: "wamp.subscription.", Match: "prefix", Allow: config.Allow{Call: true}},
		{URI: "wamp.session.add_testament", Match: "exact", Allow: config.Allow{Call: true}},
	}
	r.Roles = append(r.Roles, config.Role{Name: "publisher", Permissions: []config.Permission{{URI: "", Match: "prefix", Allow: all}}})
	r.Auth.Ticket = &config.TicketAuth{Principals: map[string]config.TicketPrincipal{
		"pub": {Ticket: publisherTicket, Role: "publisher"},
	}}
	r.Options.EventHistory = []config.EventHistory{
		{Topic: "app.admin.secret", Match: "exact", Limit: 5},
		{Topic: "app.public.news", Match: "exact", Limit: 5},
	}
}

// TestPatternsCannotReachADeny: with "app." allowed and "app.admin." denied,
// every pattern that could match an app.admin. topic is refused, the others
// are accepted, and no app.admin. event reaches the client through any
// accepted pattern.
func TestPatternsCannotReachADeny(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, carveOut)
	sub := joinJSON(t, srv, "", "")
	req := 0
	for _, p := range []struct{ topic, match string }{
		{"app.adm", "prefix"}, {"app.", "prefix"}, {"app", "prefix"}, {"", "prefix"}, {"app.admin.", "prefix"},
		{"app..secret", "wildcard"}, {"app..", "wildcard"}, {"app...x", "wildcard"}, {"app.admin.secret", "exact"},
	} {
		req++
		sub.send(wamp.SUBSCRIBE, req, map[string]any{"match": p.match}, p.topic)
		m, _ := sub.reply(req)
		expectError(t, m, wamp.SUBSCRIBE, wamp.ErrNotAuthorized, p.match+" subscription to "+p.topic)
	}
	accepted := map[wamp.ID]string{}
	for _, p := range []struct{ topic, match string }{
		{"app.public.", "prefix"}, {"app.public..x", "wildcard"}, {"app.news", "exact"}, {"app.admins", "prefix"},
	} {
		req++
		accepted[sub.subscribe(req, p.topic, map[string]any{"match": p.match})] = p.topic
	}

	pub := joinJSON(t, srv, "pub", publisherTicket)
	topics := []string{
		"app.admin.secret", "app.admin.public.x", "app.admin.x.x", "app.admin.news",
		"app.public.a.x", "app.news", "app.admins.z", "app.public.end",
	}
	for i, topic := range topics {
		pub.send(wamp.PUBLISH, i+1, map[string]any{"acknowledge": true}, topic, []any{topic})
		if m, _ := pub.reply(i + 1); m[0] != float64(wamp.PUBLISHED) {
			t.Fatalf("publish %s: %v", topic, m)
		}
	}
	// Events arrive in publication order: once app.public.end is in,
	// everything published before it that was going to arrive has.
	got := map[string]int{}
	for got["app.public.end"] == 0 {
		ev := sub.read()
		if ev[0] != float64(wamp.EVENT) {
			t.Fatalf("subscriber got %v", ev)
		}
		id, _ := wamp.AsID(ev[1])
		topic := eventTopic(ev, accepted[id])
		if strings.HasPrefix(topic, "app.admin.") {
			t.Fatalf("an %s event reached the subscriber through subscription %q", topic, accepted[id])
		}
		got[topic]++
	}
	want := map[string]int{"app.public.a.x": 2, "app.news": 1, "app.admins.z": 1, "app.public.end": 1}
	for topic, n := range want {
		if got[topic] != n {
			t.Errorf("%s delivered %d times, want %d (got %v)", topic, got[topic], n, got)
		}
	}

	// A testament is a publication: anonymous may not publish under app.
	req++
	sub.send(wamp.CALL, req, map[string]any{}, "wamp.session.add_testament", []any{"app.public.gone", []any{}, map[string]any{}})
	m, _ := sub.reply(req)
	expectError(t, m, wamp.CALL, wamp.ErrNotAuthorized, "testament to a topic the role may not publish to")

	// Registrations with patterns follow the same rule.
	for _, p := range []struct {
		proc, match string
		ok          bool
	}{
		{"app.", "prefix", false}, {"app.adm", "prefix", false}, {"app..secret", "wildcard", false},
		{"app.public.", "prefix", true}, {"app.public..x", "wildcard", true},
	} {
		req++
		sub.send(wamp.REGISTER, req, map[string]any{"match": p.match}, p.proc)
		m, _ := sub.reply(req)
		if p.ok && m[0] != float64(wamp.REGISTERED) {
			t.Errorf("%s registration %s: %v, want REGISTERED", p.match, p.proc, m)
		}
		if !p.ok {
			expectError(t, m, wamp.REGISTER, wamp.ErrNotAuthorized, p.match+" registration "+p.proc)
		}
	}
}

// TestGetEventsNeedsTheTopic: wamp.subscription.get_events reads a topic's
// events, so it needs the subscribe permission on that topic, not only the
// call permission on the procedure.
func TestGetEventsNeedsTheTopic(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, carveOut)
	pub := joinJSON(t, srv, "pub", publisherTicket)
	reader := joinJSON(t, srv, "", "")
	secretSub := pub.subscribe(1, "app.admin.secret", nil)
	newsSub := reader.subscribe(1, "app.public.news", nil)
	for i, topic := range []string{"app.admin.secret", "app.public.news"} {
		pub.send(wamp.PUBLISH, 10+i, map[string]any{"acknowledge": true}, topic, []any{"event of " + topic})
		if m, _ := pub.reply(10 + i); m[0] != float64(wamp.PUBLISHED) {
			t.Fatalf("publish %s: %v", topic, m)
		}
	}
	getEvents := func(s *jsonSession, request int, sub wamp.ID) []any {
		s.send(wamp.CALL, request, map[string]any{}, "wamp.subscription.get_events", []any{sub})
		m, _ := s.reply(request)
		return m
	}
	// The reader may call the procedure, but not subscribe to app.admin.secret.
	expectError(t, getEvents(reader, 2, secretSub), wamp.CALL, wamp.ErrNotAuthorized, "get_events of app.admin.secret by anonymous")
	for _, c := range []struct {
		s   *jsonSession
		sub wamp.ID
	}{{reader, newsSub}, {pub, secretSub}} {
		m := getEvents(c.s, 3, c.sub)
		if m[0] != float64(wamp.RESULT) {
			t.Fatalf("get_events %d: %v", c.sub, m)
		}
		if events, _ := m[3].([]any)[0].([]any); len(events) != 1 {
			t.Fatalf("get_events %d: %v, want one event", c.sub, m)
		}
	}
}

// TestDynamicAuthorizerDecidesPatterns: a role with a dynamic authorizer is
// asked about the pattern itself, with options.match, and decides.
func TestDynamicAuthorizerDecidesPatterns(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, dynamicRealm)
	backend := srv.Dial(t, 1, "json", dynamicBackend)
	must(t, backend.Register("com.example.authenticate", func(context.Context, *wamp.Invocation) client.InvokeResult {
		return client.InvokeResult{Args: wamp.List{wamp.Dict{"role": "user", "authid": "alice"}}}
	}, nil))
	var mu sync.Mutex
	asked := map[string]string{} // uri -> options.match
	must(t, backend.Register("com.example.authorize", func(_ context.Context, inv *wamp.Invocation) client.InvokeResult {
		uri, _ := wamp.AsString(inv.Arguments[1])
		options, _ := wamp.AsDict(inv.Arguments[3])
		match, _ := wamp.AsString(options["match"])
		mu.Lock()
		asked[uri] = match
		mu.Unlock()
		// Prefix patterns only under app.open.
		return client.InvokeResult{Args: wamp.List{match != "prefix" || strings.HasPrefix(uri, "app.open.")}}
	}, nil))
	alice := srv.Dial(t, 0, "json", ticketAuth("", "any"))
	noop := func(*wamp.Event) {}
	must(t, alice.Subscribe("app.open.", noop, wamp.Dict{"match": "prefix"}))
	if err := alice.Subscribe("app.x", noop, wamp.Dict{"match": "prefix"}); !errorIs(err, wamp.ErrNotAuthorized) {
		t.Fatalf("prefix app.x, refused by the authorizer: %v", err)
	}
	// The exact topic app.x is another question (not the cached answer).
	must(t, alice.Subscribe("app.x", noop, nil))
	mu.Lock()
	defer mu.Unlock()
	if asked["app.open."] != "prefix" {
		t.Fatalf("the authorizer was asked %v, want options.match prefix for app.open.", asked)
	}
}
