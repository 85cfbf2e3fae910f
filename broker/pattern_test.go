package broker

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/realms"
)

// fakeAuthorizer allows everything but subscribing under the match policy
// deny: the broker takes any Authorizer.
type fakeAuthorizer struct{ deny string }

func (fakeAuthorizer) Permission(realms.Subject, string, realms.Action) (*realms.Permission, bool) {
	return &realms.Permission{}, true
}

func (a fakeAuthorizer) AllowsPattern(_ realms.Subject, _, match string, _ realms.Action) bool {
	return match != a.deny
}

// frames decodes every frame queued for c.
func frames(t *testing.T, c *recordingConn) [][]any {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([][]any, len(c.frames))
	for i, f := range c.frames {
		if err := json.Unmarshal(f, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestPatternEverywhere: a subscription's pattern selects the same topics
// for live events, retained events and the event history.
func TestPatternEverywhere(t *testing.T) {
	t.Parallel()
	topics := []string{"a.b.c", "a.x.c", "a.b.d", "a.b.c.d", "b.b.c", "a.bc"}
	for _, tc := range []struct {
		uri, match string
		want       []string
	}{
		{"a.b.c", realms.MatchExact, []string{"a.b.c"}},
		{"a.b", realms.MatchPrefix, []string{"a.b.c", "a.b.d", "a.b.c.d", "a.bc"}},
		{"a..c", realms.MatchWildcard, []string{"a.b.c", "a.x.c"}},
	} {
		t.Run(tc.match, func(t *testing.T) {
			t.Parallel()
			b := New([]Realm{{Name: "realm1", Authorizer: fakeAuthorizer{},
				History: []History{{Topic: tc.uri, Match: tc.match, Limit: 100}}}}, nil, nil)
			pub, _ := joinRecording(b, 1)
			publish := func(retain bool) {
				for _, topic := range topics {
					pub.Handle(&wamp.Publish{Request: 1, Topic: wamp.URI(topic), Options: wamp.Dict{"retain": retain}})
				}
			}
			publish(true)
			s, c := joinRecording(b, 2)
			s.Handle(&wamp.Subscribe{Request: 2, Topic: wamp.URI(tc.uri),
				Options: wamp.Dict{"match": tc.match, "get_retained": true}})
			subscribed := frames(t, c)[0]
			if subscribed[0] != float64(wamp.SUBSCRIBED) {
				t.Fatalf("subscribe: %v", subscribed)
			}
			n := len(frames(t, c))
			publish(false)

			// The topic of an event: its details', else the subscription's.
			topicsOf := func(events [][]any) []string {
				var out []string
				for _, ev := range events {
					if ev[0] != float64(wamp.EVENT) {
						t.Fatalf("not an EVENT: %v", ev)
					}
					topic, _ := ev[3].(map[string]any)["topic"].(string)
					if topic == "" {
						topic = tc.uri
					}
					out = append(out, topic)
				}
				slices.Sort(out)
				return out
			}
			want := slices.Sorted(slices.Values(tc.want))
			all := frames(t, c)
			if got := topicsOf(all[1:n]); !slices.Equal(got, want) {
				t.Errorf("retained events of %s %q: %v, want %v", tc.match, tc.uri, got, want)
			}
			if got := topicsOf(all[n:]); !slices.Equal(got, want) {
				t.Errorf("live events of %s %q: %v, want %v", tc.match, tc.uri, got, want)
			}

			s.Handle(&wamp.Call{Request: 3, Procedure: procSubGetEvents, Arguments: wamp.List{subscribed[2]}})
			result := lastReply(t, c)
			if result[0] != float64(wamp.RESULT) {
				t.Fatalf("get_events: %v", result)
			}
			var history []string
			for _, ev := range result[3].([]any)[0].([]any) {
				history = append(history, ev.(map[string]any)["topic"].(string))
			}
			slices.Sort(history)
			// Each topic was published twice: retained, then live.
			want = slices.Sorted(slices.Values(append(slices.Clone(tc.want), tc.want...)))
			if !slices.Equal(history, want) {
				t.Errorf("history of %s %q: %v, want %v", tc.match, tc.uri, history, want)
			}
		})
	}
}

// TestSubscribeAsksTheAuthorizer: a pattern the authorizer refuses gets
// wamp.error.not_authorized; the same pattern under another policy is
// subscribed.
func TestSubscribeAsksTheAuthorizer(t *testing.T) {
	t.Parallel()
	b := New([]Realm{{Name: "realm1", Authorizer: fakeAuthorizer{deny: realms.MatchWildcard}}}, nil, nil)
	s, c := joinRecording(b, 1)
	s.Handle(&wamp.Subscribe{Request: 1, Topic: "a..c", Options: wamp.Dict{"match": realms.MatchWildcard}})
	if m := lastReply(t, c); m[0] != float64(wamp.ERROR) || m[4] != string(wamp.ErrNotAuthorized) {
		t.Errorf("refused wildcard subscription answered %v", m)
	}
	s.Handle(&wamp.Subscribe{Request: 2, Topic: "a.", Options: wamp.Dict{"match": realms.MatchPrefix}})
	if m := lastReply(t, c); m[0] != float64(wamp.SUBSCRIBED) {
		t.Errorf("allowed prefix subscription answered %v", m)
	}
}

// TestPatternsAfterUnsubscribe: removing prefix and wildcard subscriptions
// (first, middle, last) leaves the others matched, and only them.
func TestPatternsAfterUnsubscribe(t *testing.T) {
	t.Parallel()
	b := New([]Realm{{Name: "realm1", Authorizer: fakeAuthorizer{}}}, nil, nil)
	pub, pc := joinRecording(b, 100)
	type member struct {
		s   *Session
		c   *recordingConn
		sub float64
	}
	var members []member
	for i, p := range []struct{ uri, match string }{
		{"a.", realms.MatchPrefix}, {"a..c", realms.MatchWildcard}, {"a.b", realms.MatchPrefix},
		{"..c", realms.MatchWildcard}, {"", realms.MatchPrefix}, {"a.b.", realms.MatchWildcard},
	} {
		s, c := joinRecording(b, i+1)
		s.Handle(&wamp.Subscribe{Request: 1, Topic: wamp.URI(p.uri), Options: wamp.Dict{"match": p.match}})
		// The first frame: later ones are meta events for the "" prefix.
		subscribed := frames(t, c)[0]
		if subscribed[0] != float64(wamp.SUBSCRIBED) {
			t.Fatalf("subscribe %d: %v", i, subscribed)
		}
		members = append(members, member{s, c, subscribed[2].(float64)})
	}
	for _, i := range []int{0, 3, 5} {
		m := members[i]
		m.s.Handle(&wamp.Unsubscribe{Request: 2, Subscription: wamp.ID(m.sub)})
		if !slices.ContainsFunc(frames(t, m.c), func(f []any) bool { return f[0] == float64(wamp.UNSUBSCRIBED) }) {
			t.Fatalf("unsubscribe %d: not answered UNSUBSCRIBED", i)
		}
	}
	pub.Handle(&wamp.Publish{Request: 3, Topic: "a.b.c", Options: wamp.Dict{}})
	for i, m := range members {
		got := slices.ContainsFunc(frames(t, m.c), func(f []any) bool {
			return f[0] == float64(wamp.EVENT) && f[3].(map[string]any)["topic"] == "a.b.c"
		})
		if want := i == 1 || i == 2 || i == 4; got != want {
			t.Errorf("subscription %d got the event: %v, want %v", i, got, want)
		}
	}
	pub.Handle(&wamp.Call{Request: 4, Procedure: procSubMatch, Arguments: wamp.List{"a.b.c"}})
	var ids []float64
	result := lastReply(t, pc)
	if result[0] != float64(wamp.RESULT) {
		t.Fatalf("wamp.subscription.match: %v", result)
	}
	for _, id := range result[3].([]any)[0].([]any) {
		ids = append(ids, id.(float64))
	}
	slices.Sort(ids)
	want := []float64{members[1].sub, members[2].sub, members[4].sub}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("wamp.subscription.match: %v, want %v", ids, want)
	}
}
