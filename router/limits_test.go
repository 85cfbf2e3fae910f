package router_test

import (
	"strings"
	"testing"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/broker"
	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// limitRefusals returns switchboard_realm_limit_exceeded_total for limit.
func limitRefusals(t *testing.T, srv *routertest.Server, limit string) float64 {
	t.Helper()
	families, _ := scrape(t, srv)
	return value(families, "switchboard_realm_limit_exceeded_total", map[string]string{"realm": "realm1", "limit": limit})
}

func TestSubscriptionsPerSessionLimit(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, func(c *config.Config) { c.Realms[0].Options.MaxSubscriptionsPerSession = 3 })
	s := joinJSON(t, srv, "", "")
	first := s.subscribe(1, "app.lim.a", nil)
	s.subscribe(2, "app.lim.b", nil)
	second := s.subscribe(3, "app.lim.", map[string]any{"match": "prefix"})
	s.send(wamp.SUBSCRIBE, 4, map[string]any{}, "app.lim.d")
	m, _ := s.reply(4)
	expectError(t, m, wamp.SUBSCRIBE, broker.LimitExceededURI, "a 4th subscription with a limit of 3")
	// Subscribing again to what the session has is not one more.
	if again := s.subscribe(5, "app.lim.a", nil); again != first {
		t.Fatalf("subscribing again at the limit: subscription %d, want %d", again, first)
	}
	s.send(wamp.UNSUBSCRIBE, 6, second)
	if m, _ := s.reply(6); m[0] != float64(wamp.UNSUBSCRIBED) {
		t.Fatalf("unsubscribe: %v", m)
	}
	s.subscribe(7, "app.lim.d", nil) // the freed place
	s.send(wamp.SUBSCRIBE, 8, map[string]any{}, "app.lim.e")
	m, _ = s.reply(8)
	expectError(t, m, wamp.SUBSCRIBE, broker.LimitExceededURI, "a 4th subscription after one was replaced")
	// The limit is per session.
	other := joinJSON(t, srv, "", "")
	for i, topic := range []string{"app.lim.a", "app.lim.x", "app.lim.y"} {
		other.subscribe(i+1, topic, nil)
	}
	if n := limitRefusals(t, srv, broker.LimitSubscriptionsPerSession); n != 2 {
		t.Fatalf("subscriptions_per_session refusals = %v, want 2", n)
	}
}

func TestRegistrationsPerSessionLimit(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, func(c *config.Config) { c.Realms[0].Options.MaxRegistrationsPerSession = 2 })
	s := joinJSON(t, srv, "", "")
	register := func(request int, proc string) []any {
		t.Helper()
		s.send(wamp.REGISTER, request, map[string]any{}, proc)
		m, _ := s.reply(request)
		return m
	}
	registered := func(m []any) wamp.ID {
		t.Helper()
		if m[0] != float64(wamp.REGISTERED) {
			t.Fatalf("want REGISTERED, got %v", m)
		}
		id, _ := wamp.AsID(m[2])
		return id
	}
	// Refused registrations give their place back.
	expectError(t, register(1, "wamp.lim.proc"), wamp.REGISTER, wamp.ErrInvalidURI, "register wamp.lim.proc")
	a := registered(register(2, "app.lim.a"))
	if m := register(3, "app.lim.a"); m[0] != float64(wamp.ERROR) {
		t.Fatalf("registering app.lim.a twice: %v", m)
	}
	registered(register(4, "app.lim.b"))
	expectError(t, register(5, "app.lim.c"), wamp.REGISTER, broker.LimitExceededURI, "a 3rd registration with a limit of 2")
	// An UNREGISTER nexus refuses frees nothing.
	s.send(wamp.UNREGISTER, 6, 987654321)
	if m, _ := s.reply(6); m[0] != float64(wamp.ERROR) {
		t.Fatalf("unregistering an unknown registration: %v", m)
	}
	expectError(t, register(7, "app.lim.c"), wamp.REGISTER, broker.LimitExceededURI, "a 3rd registration after a refused UNREGISTER")
	s.send(wamp.UNREGISTER, 8, a)
	if m, _ := s.reply(8); m[0] != float64(wamp.UNREGISTERED) {
		t.Fatalf("unregister: %v", m)
	}
	registered(register(9, "app.lim.c"))
	expectError(t, register(10, "app.lim.d"), wamp.REGISTER, broker.LimitExceededURI, "a 3rd registration after one was replaced")

	// REGISTERs sent together count before nexus answers them, even with
	// the same request ID.
	p := joinJSON(t, srv, "", "")
	for _, proc := range []string{"app.lim.p1", "app.lim.p2", "app.lim.p3"} {
		p.send(wamp.REGISTER, 1, map[string]any{}, proc)
	}
	var ok, refused int
	for range 3 {
		m, _ := p.reply(1)
		switch {
		case m[0] == float64(wamp.REGISTERED):
			ok++
		case m[0] == float64(wamp.ERROR) && m[4] == string(broker.LimitExceededURI):
			refused++
		default:
			t.Fatalf("pipelined REGISTER: %v", m)
		}
	}
	if ok != 2 || refused != 1 {
		t.Fatalf("3 pipelined REGISTERs with a limit of 2: %d registered, %d refused", ok, refused)
	}
	if n := limitRefusals(t, srv, broker.LimitRegistrationsPerSession); n != 4 {
		t.Fatalf("registrations_per_session refusals = %v, want 4", n)
	}
}

func TestRetainedLimits(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, func(c *config.Config) {
		c.Realms[0].Options.MaxRetainedTopics = 2
		c.Realms[0].Options.MaxRetainedBytes = 8192
	})
	sub := joinJSON(t, srv, "", "")
	subID := sub.subscribe(1, "app.ret.", map[string]any{"match": "prefix"})
	pub := joinJSON(t, srv, "", "")
	req := 0
	publish := func(topic string, options map[string]any, payload string) []any {
		t.Helper()
		req++
		options["acknowledge"] = true
		pub.send(wamp.PUBLISH, req, options, topic, []any{payload})
		m, _ := pub.reply(req)
		return m
	}
	retain := func(topic, payload string) []any { return publish(topic, map[string]any{"retain": true}, payload) }
	for _, topic := range []string{"app.ret.a", "app.ret.b", "app.ret.a"} { // replacing is not one more
		if m := retain(topic, "small"); m[0] != float64(wamp.PUBLISHED) {
			t.Fatalf("retain %s: %v", topic, m)
		}
	}
	expectError(t, retain("app.ret.c", "over"), wamp.PUBLISH, broker.LimitExceededURI, "a 3rd retained topic with a limit of 2")
	req++
	pub.send(wamp.PUBLISH, req, map[string]any{"retain": true}, "app.ret.d", []any{"over, unacknowledged"})
	if m := retain("app.ret.a", strings.Repeat("x", 6000)); m[0] != float64(wamp.PUBLISHED) {
		t.Fatalf("a 6000-byte retained event replacing a small one under 8192 bytes: %v", m)
	}
	expectError(t, retain("app.ret.b", strings.Repeat("x", 3000)), wamp.PUBLISH, broker.LimitExceededURI,
		"retained bytes over 8192")
	if m := publish("app.ret.end", map[string]any{}, "end"); m[0] != float64(wamp.PUBLISHED) {
		t.Fatalf("a publication without retain: %v", m)
	}
	// Refused publications are not delivered either.
	var got []string
	for len(got) == 0 || got[len(got)-1] != "app.ret.end" {
		ev := sub.read()
		if id, _ := wamp.AsID(ev[1]); ev[0] != float64(wamp.EVENT) || id != subID {
			t.Fatalf("subscriber got %v", ev)
		}
		got = append(got, eventTopic(ev, ""))
	}
	if strings.Join(got, " ") != "app.ret.a app.ret.b app.ret.a app.ret.a app.ret.end" {
		t.Fatalf("delivered %v, want the accepted publications only", got)
	}
	if n := limitRefusals(t, srv, broker.LimitRetainedTopics); n != 2 {
		t.Fatalf("retained_topics refusals = %v, want 2 (one unacknowledged)", n)
	}
	if n := limitRefusals(t, srv, broker.LimitRetainedBytes); n != 1 {
		t.Fatalf("retained_bytes refusals = %v, want 1", n)
	}
	families, _ := scrape(t, srv)
	if n := value(families, "switchboard_broker_retained_topics", map[string]string{"realm": "realm1"}); n != 2 {
		t.Fatalf("switchboard_broker_retained_topics = %v, want 2", n)
	}
	if n := value(families, "switchboard_broker_retained_bytes", map[string]string{"realm": "realm1"}); n < 6000 || n > 8192 {
		t.Fatalf("switchboard_broker_retained_bytes = %v, want within (6000, 8192]", n)
	}
}
