package router_test

import (
	"testing"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// firstEvent subscribes s to topic with options, then has pub publish a
// live event "live" to liveTopic (matching), and returns the first EVENT s
// gets: a retained event sent on subscribe comes before the live one.
func firstEvent(t *testing.T, s, pub *jsonSession, request int, topic string, options map[string]any, liveTopic string) []any {
	t.Helper()
	s.subscribe(request, topic, options)
	pub.send(wamp.PUBLISH, request, map[string]any{"acknowledge": true}, liveTopic, []any{"live"})
	if m, _ := pub.reply(request); m[0] != float64(wamp.PUBLISHED) {
		t.Fatalf("publish %s: %v", liveTopic, m)
	}
	ev := s.read()
	if ev[0] != float64(wamp.EVENT) {
		t.Fatalf("want an EVENT of %s, got %v", topic, ev)
	}
	return ev
}

func isRetained(ev []any) bool {
	d, _ := ev[3].(map[string]any)
	return d["retained"] == true
}

// TestRetainedEventsOnlyOnRequest: a topic with a retained event sends it
// to a new subscriber that asks with get_retained, and to no other.
func TestRetainedEventsOnlyOnRequest(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	pub := joinJSON(t, srv, "", "")
	pub.send(wamp.PUBLISH, 1, map[string]any{"acknowledge": true, "retain": true}, "app.only.t", []any{"kept"})
	if m, _ := pub.reply(1); m[0] != float64(wamp.PUBLISHED) {
		t.Fatalf("retain: %v", m)
	}
	for i, c := range []struct {
		options map[string]any
		want    bool
	}{
		{map[string]any{}, false},
		{map[string]any{"get_retained": false}, false},
		{map[string]any{"get_retained": true}, true},
		{map[string]any{"get_retained": true, "match": "prefix"}, true},
	} {
		topic := "app.only.t"
		if c.options["match"] == "prefix" {
			topic = "app.only."
		}
		s := joinJSON(t, srv, "", "")
		ev := firstEvent(t, s, pub, 10+i, topic, c.options, "app.only.t")
		if got := isRetained(ev); got != c.want || (c.want && argsOf(ev) != "[kept]") || (!c.want && argsOf(ev) != "[live]") {
			t.Errorf("subscribe %v: first event %v, want retained=%v", c.options, ev, c.want)
		}
	}
}

// TestRetainedEventsKeepTheirFilters: a retained event published with
// eligible/exclude options goes, on get_retained, only to the sessions
// those options let through.
func TestRetainedEventsKeepTheirFilters(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	pub := joinJSON(t, srv, "", "")
	in := joinJSON(t, srv, "", "")
	out := joinJSON(t, srv, "", "")
	for i, f := range []struct {
		topic   string
		options map[string]any
	}{
		{"app.filt.eligible", map[string]any{"eligible": []any{in.id}}},
		{"app.filt.exclude", map[string]any{"exclude": []any{out.id}}},
		{"app.filt.authrole", map[string]any{"eligible_authrole": []any{"anonymous"}, "exclude": []any{out.id, pub.id}}},
		{"app.filtp.eligible", map[string]any{"eligible": []any{in.id}}},
		{"app.filtp.exclude", map[string]any{"exclude": []any{out.id}}},
	} {
		f.options["acknowledge"], f.options["retain"] = true, true
		pub.send(wamp.PUBLISH, i+1, f.options, f.topic, []any{"kept"})
		if m, _ := pub.reply(i + 1); m[0] != float64(wamp.PUBLISHED) {
			t.Fatalf("retain %s: %v", f.topic, m)
		}
	}
	req := 10
	for _, topic := range []string{"app.filt.eligible", "app.filt.exclude", "app.filt.authrole"} {
		for _, c := range []struct {
			s    *jsonSession
			want bool
		}{{in, true}, {out, false}} {
			req++
			ev := firstEvent(t, c.s, pub, req, topic, map[string]any{"get_retained": true}, topic)
			if got := isRetained(ev); got != c.want {
				t.Errorf("%s: session %d (retained event for it: %v) got %v first", topic, c.s.id, c.want, ev)
			}
			if c.want {
				if next := c.s.read(); argsOf(next) != "[live]" { // the live event follows
					t.Fatalf("%s: after the retained event got %v", topic, next)
				}
			}
		}
	}
	// A prefix subscription gets the retained events of every topic it
	// matches, each only if its options let the session through.
	for _, c := range []struct {
		s    *jsonSession
		want int
	}{{in, 2}, {out, 0}} {
		req++
		ev := firstEvent(t, c.s, pub, req, "app.filtp.", map[string]any{"get_retained": true, "match": "prefix"}, "app.filtp.live")
		retained := 0
		for ; isRetained(ev); ev = c.s.read() {
			retained++
		}
		if retained != c.want || argsOf(ev) != "[live]" {
			t.Errorf("prefix app.filtp.: session %d got %d retained events then %v, want %d then the live one", c.s.id, retained, ev, c.want)
		}
	}
}
