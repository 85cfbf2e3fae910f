package broker

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/realms"
)

// randomURI joins 1..4 components from a small alphabet (so that patterns
// and topics often meet), empty components allowed when empty is set.
func randomURI(r *rand.Rand, empty bool) string {
	comps := []string{"a", "b", "ab", "ba", "user", "u1", "u12"}
	n := 1 + r.IntN(4)
	parts := make([]string, n)
	for i := range parts {
		if empty && r.IntN(4) == 0 {
			continue
		}
		parts[i] = comps[r.IntN(len(comps))]
	}
	uri := strings.Join(parts, ".")
	if !empty && r.IntN(5) == 0 {
		uri = uri[:r.IntN(len(uri)+1)] // a prefix may end anywhere, even mid-component
	}
	return uri
}

// TestPatternIndexMatchesTheScan: for random prefix and wildcard patterns
// and random topics, the index finds exactly the subscriptions that
// matching every pattern finds, also after removals.
func TestPatternIndexMatchesTheScan(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 11))
	for round := range 50 {
		prefix := map[string]*subscription{}
		x := newPatternIndex(prefix)
		var subs []*subscription
		seen := map[string]bool{}
		for range 40 {
			match := realms.MatchPrefix
			uri := randomURI(r, false)
			if r.IntN(2) == 0 {
				match = realms.MatchWildcard
				uri = randomURI(r, true)
			}
			if seen[match+" "+uri] {
				continue
			}
			seen[match+" "+uri] = true
			sub := &subscription{id: wamp.ID(len(subs) + 1), pattern: realms.NewPattern(uri, match)}
			if match == realms.MatchPrefix {
				prefix[uri] = sub
			}
			x.add(sub)
			subs = append(subs, sub)
		}
		// Remove a third of them.
		for i := 0; i < len(subs); i += 3 {
			sub := subs[i]
			if sub.pattern.Match() == realms.MatchPrefix {
				delete(prefix, sub.pattern.URI())
			}
			x.remove(sub)
		}
		live := func(i int) bool { return i%3 != 0 }
		for range 200 {
			topic := randomURI(r, false)
			var want, got []wamp.ID
			for i, sub := range subs {
				if live(i) && sub.pattern.Matches(topic) {
					want = append(want, sub.id)
				}
			}
			x.matches(topic, func(sub *subscription) { got = append(got, sub.id) })
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("round %d, topic %q: index found %v, the scan %v", round, topic, got, want)
			}
		}
	}
}

// TestPatternIndexEdges pins the cases the scan and the index could
// disagree on.
func TestPatternIndexEdges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		match, pattern, topic string
		want                  bool
	}{
		{realms.MatchPrefix, "a.b", "a.bc.d", true}, // a string prefix, across a component
		{realms.MatchPrefix, "a.b", "a.b", true},    // a pattern equal to the topic
		{realms.MatchPrefix, "", "anything", true},
		{realms.MatchPrefix, "a.bc", "a.b", false},
		{realms.MatchWildcard, "a..c", "a.b.c", true},
		{realms.MatchWildcard, "a..c", "a.b.c.d", false},
		{realms.MatchWildcard, "a..c", "a.c", false},
		{realms.MatchWildcard, "..", "x.y.z", true},
		{realms.MatchWildcard, "a.b", "a.b", true}, // no empty component: the URI itself
		{realms.MatchWildcard, "a.b", "a.bc", false},
	} {
		prefix := map[string]*subscription{}
		x := newPatternIndex(prefix)
		sub := &subscription{id: 1, pattern: realms.NewPattern(tc.pattern, tc.match)}
		if tc.match == realms.MatchPrefix {
			prefix[tc.pattern] = sub
		}
		x.add(sub)
		got := false
		x.matches(tc.topic, func(*subscription) { got = true })
		if got != tc.want || sub.pattern.Matches(tc.topic) != tc.want {
			t.Errorf("%s %q vs %q: index %v, pattern %v, want %v", tc.match, tc.pattern, tc.topic, got, sub.pattern.Matches(tc.topic), tc.want)
		}
	}
}

// BenchmarkPatternSubscriptions: publishing to one user's topic costs the
// same whatever the number of other users' pattern subscriptions
// (go test -run XXX -bench PatternSubscriptions ./broker).
func BenchmarkPatternSubscriptions(b *testing.B) {
	for _, kind := range []string{realms.MatchPrefix, realms.MatchWildcard} {
		for _, n := range []int{10, 1000, 10000} {
			b.Run(fmt.Sprintf("%s/subscriptions=%d", kind, n), func(b *testing.B) {
				br := New([]Realm{{Name: "realm1", Authorizer: fakeAuthorizer{}}}, nil, nil)
				pattern := func(i int) string {
					if kind == realms.MatchPrefix {
						return fmt.Sprintf("app.user.%d.", i)
					}
					return fmt.Sprintf("app.user.%d..inbox", i)
				}
				var target *countingConn
				for i := range n {
					c := newConn("json")
					s := br.Join(c, &wamp.Hello{Realm: "realm1", Details: wamp.Dict{}},
						&wamp.Welcome{ID: wamp.ID(i + 1), Details: wamp.Dict{"authid": "a", "authrole": "r"}})
					s.Handle(&wamp.Subscribe{Request: 1, Options: wamp.Dict{"match": kind}, Topic: wamp.URI(pattern(i))})
					if i == n/2 {
						target = c
					}
				}
				topic := fmt.Sprintf("app.user.%d.x.inbox", n/2)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := br.Publish("realm1", nil, topic, wamp.List{"hi"}, nil, nil); err != nil {
						b.Fatal(err)
					}
				}
				if eventsQueued([]*countingConn{target}) == 0 {
					b.Fatal("the matching subscriber received nothing")
				}
			})
		}
	}
}

// TestTopicIndexMatchesTheScan: for random retained topics and random
// prefix and wildcard patterns, the retained-topic index yields exactly the
// topics that matching each of them yields.
func TestTopicIndexMatchesTheScan(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 5))
	for round := range 50 {
		var x topicIndex
		topics := map[string]bool{}
		for range 60 {
			topic := randomURI(r, false)
			if topic == "" {
				continue
			}
			x.add(topic)
			x.add(topic) // adding twice changes nothing
			topics[topic] = true
		}
		for range 100 {
			p := realms.NewPattern(randomURI(r, false), realms.MatchPrefix)
			if r.IntN(2) == 0 {
				p = realms.NewPattern(randomURI(r, true), realms.MatchWildcard)
			}
			var want, got []string
			for topic := range topics {
				if p.Matches(topic) {
					want = append(want, topic)
				}
			}
			x.matching(p, func(topic string) { got = append(got, topic) })
			slices.Sort(want)
			if p.Match() == realms.MatchWildcard {
				slices.Sort(got)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("round %d, %s %q: index %v, scan %v", round, p.Match(), p.URI(), got, want)
			}
		}
	}
}

// BenchmarkSubscribeGetRetained: a pattern SUBSCRIBE with get_retained
// costs the same whatever the number of other retained topics
// (go test -run XXX -bench SubscribeGetRetained ./broker).
func BenchmarkSubscribeGetRetained(b *testing.B) {
	for _, kind := range []string{realms.MatchPrefix, realms.MatchWildcard} {
		for _, n := range []int{10, 100_000} {
			b.Run(fmt.Sprintf("%s/retained=%d", kind, n), func(b *testing.B) {
				br := New([]Realm{{Name: "realm1", Authorizer: fakeAuthorizer{}}}, nil, nil)
				for i := range n {
					topic := fmt.Sprintf("app.user.%d.status", i)
					if _, err := br.Publish("realm1", nil, topic, wamp.List{i}, nil, wamp.Dict{"retain": true}); err != nil {
						b.Fatal(err)
					}
				}
				pattern := fmt.Sprintf("app.user.%d.", n/2)
				if kind == realms.MatchWildcard {
					pattern = fmt.Sprintf("app.user.%d.", n/2) + "status"
					pattern = strings.Replace(pattern, "app.", ".", 1) // ".user.<id>.status"
				}
				c := newConn("json")
				s := br.Join(c, &wamp.Hello{Realm: "realm1", Details: wamp.Dict{}},
					&wamp.Welcome{ID: 1, Details: wamp.Dict{"authid": "a", "authrole": "r"}})
				b.ReportAllocs()
				req := wamp.ID(0)
				for b.Loop() {
					req++
					s.Handle(&wamp.Subscribe{Request: req, Options: wamp.Dict{"match": kind, "get_retained": true}, Topic: wamp.URI(pattern)})
				}
				if c.frames.Load() < 2 {
					b.Fatal("no retained event was sent")
				}
			})
		}
	}
}
