package realms

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestAllowsPatternCarveOut is the case of the security review: "app."
// allowed and "app.admin." denied for subscribe; a pattern is accepted
// only if it reaches no app.admin. topic.
func TestAllowsPatternCarveOut(t *testing.T) {
	t.Parallel()
	sub := Actions{Subscribe: true}
	a := NewAuthorizer([]Role{{Name: "user", Permissions: []Permission{
		{URI: "app.", Match: MatchPrefix, Allow: sub},
		{URI: "app.admin.", Match: MatchPrefix},
		{URI: "app.admin.status", Match: MatchExact, Allow: sub},
		{URI: "app.closed", Match: MatchExact},
		{URI: "feed..news", Match: MatchWildcard, Allow: sub},
		{URI: "feed.secret.news", Match: MatchExact},
		{URI: "feed.", Match: MatchPrefix},
		{URI: "zone..x", Match: MatchWildcard, Allow: sub},
		{URI: "zone.b.", Match: MatchPrefix},
		{URI: "any...", Match: MatchWildcard, Allow: sub},
		{URI: "any..deny.", Match: MatchWildcard},
		{URI: "part.", Match: MatchPrefix, Allow: sub},
		{URI: "part.ad", Match: MatchPrefix},
		{URI: "part.ad", Match: MatchExact, Allow: sub},
	}}})
	for _, tc := range []struct {
		uri, match string
		want       bool
	}{
		// Prefix subscriptions.
		{"app.adm", MatchPrefix, false},          // reaches app.admin.*
		{"app.", MatchPrefix, false},             // idem
		{"app", MatchPrefix, false},              // also "apple": no permission
		{"", MatchPrefix, false},                 // everything
		{"app.public.", MatchPrefix, true},       // only "app." governs
		{"app.admin.", MatchPrefix, false},       // the deny itself
		{"app.admin.status", MatchPrefix, false}, // app.admin.status.x falls to the deny
		{"app.clo", MatchPrefix, false},          // the exact deny app.closed
		{"app.closed.", MatchPrefix, true},       // under "app.", past the exact URI
		{"app.admins", MatchPrefix, true},        // "app.admins" does not start with "app.admin."
		// Wildcard subscriptions.
		{"app..secret", MatchWildcard, false},       // app.admin.secret
		{"app..", MatchWildcard, false},             // app.admin.x
		{"app.public..x", MatchWildcard, true},      // never app.admin.
		{"app...x", MatchWildcard, false},           // app.admin.y.x
		{"app.admin.status", MatchWildcard, true},   // no free component: the exact allow
		{"app.admin.other", MatchWildcard, false},   // the prefix deny
		{".admin.status", MatchWildcard, false},     // x.admin.status has no permission
		{"feed..news", MatchWildcard, false},        // feed.secret.news is denied by exact; feed.x.news by prefix
		{"zone..x", MatchWildcard, false},           // zone.b.x falls to the "zone.b." deny
		{"zone.a.x", MatchWildcard, true},           // the wildcard allow
		{"any...", MatchWildcard, false},            // any.x.deny.y
		{"any.a.b.c", MatchWildcard, true},          // the 4-component allow
		{"any..b.", MatchWildcard, true},            // never "deny" in third place
		{"..", MatchWildcard, false},                // no permission covers a.b.c
		{"app.news", MatchWildcard, true},           // a wildcard without a free component
		{"app.admin..", MatchWildcard, false},       // idem for the deny
		{"app.admin.status", MatchExact, true},      // exact subscriptions are lookups
		{"app.admin.secret", MatchExact, false},     // idem
		{"app.news", MatchExact, true},              // idem
		{"app.news", "", true},                      // no match policy means exact
		{"app.admin.status.", MatchPrefix, false},   // the prefix deny
		{"app.admin.statusx", MatchPrefix, false},   // idem
		{"app.public.news.", MatchPrefix, true},     // deeper under the allow
		{"app.publicnews", MatchExact, true},        // exact under "app."
		{"app.admin.", MatchExact, false},           // an exact URI under the deny
		{"app.admin", MatchExact, true},             // "app.admin" is under "app." only
		{"app.admin", MatchPrefix, false},           // but its prefix reaches app.admin.x
		{"app.admin", MatchWildcard, true},          // one topic: app.admin
		{"app.admin.status.", MatchWildcard, false}, // app.admin.status.x
		{"part.", MatchWildcard, false},             // part.adx falls to the "part.ad" deny
		{"part.ad", MatchWildcard, true},            // the exact allow
		{"part.a", MatchWildcard, true},             // "part." only
		{"part.a", MatchPrefix, false},              // reaches part.adx
	} {
		got := a.AllowsPattern(Subject{Role: "user"}, tc.uri, tc.match, ActionSubscribe)
		if got != tc.want {
			t.Errorf("%s %q: allowed=%v, want %v", tc.match, tc.uri, got, tc.want)
		}
	}
	if a.AllowsPattern(Subject{Role: "user"}, "app.public.", MatchPrefix, ActionPublish) {
		t.Error("a pattern was allowed for an action no permission grants")
	}
	if a.AllowsPattern(Subject{Role: "nobody"}, "app.public.", MatchPrefix, ActionSubscribe) {
		t.Error("an unknown role was allowed")
	}
}

func TestAllowsPatternTemplates(t *testing.T) {
	t.Parallel()
	a := NewAuthorizer([]Role{{Name: "user", Permissions: []Permission{
		{URI: "app.user.{authid}.", Match: MatchPrefix, Allow: Actions{Subscribe: true}},
		{URI: "app.user.", Match: MatchPrefix},
		{URI: "app.", Match: MatchPrefix, Allow: Actions{Subscribe: true}},
	}}})
	alice := Subject{AuthID: "alice", Role: "user"}
	for _, tc := range []struct {
		uri, match string
		want       bool
	}{
		{"app.user.alice.", MatchPrefix, true},
		{"app.user.alice.inbox", MatchExact, true},
		{"app.user.alice..x", MatchWildcard, true},
		{"app.user.", MatchPrefix, false},
		{"app.user..inbox", MatchWildcard, false}, // app.user.bob.inbox
		{"app.user.al", MatchPrefix, false},       // app.user.alex.x
		{"app.", MatchPrefix, false},
		{"app.news.", MatchPrefix, true},
	} {
		if got := a.AllowsPattern(alice, tc.uri, tc.match, ActionSubscribe); got != tc.want {
			t.Errorf("%s %q: allowed=%v, want %v", tc.match, tc.uri, got, tc.want)
		}
	}
}

// TestAllowsPatternAgainstEnumeration compares allowsPattern with a check of
// every URI a pattern matches, for random permission sets over a small
// vocabulary. For wildcard patterns the URIs enumerated stand for all
// URIs (each component, each component extended, and one no permission
// names), so the answers must be equal; for prefix patterns only URIs of
// up to 3 components are enumerated, so a denied one must make the pattern
// refused (allowsPattern may refuse more: longer URIs exist).
func TestAllowsPatternAgainstEnumeration(t *testing.T) {
	t.Parallel()
	words := []string{"a", "b", "ad", "adm", "admin"}
	vocab := []string{"x"}
	for _, w := range words {
		vocab = append(vocab, w, w+"q")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func() string { return words[rng.IntN(len(words))] }
	randURI := func(parts int, empty bool) string {
		var out []string
		for range parts {
			if empty && rng.IntN(3) == 0 {
				out = append(out, "")
			} else {
				out = append(out, pick())
			}
		}
		return strings.Join(out, ".")
	}
	var topics [][]string
	var gen func(prefix []string)
	gen = func(prefix []string) {
		if len(prefix) > 0 {
			topics = append(topics, prefix)
		}
		if len(prefix) == 3 {
			return
		}
		for _, v := range vocab {
			gen(append(append([]string(nil), prefix...), v))
		}
	}
	gen(nil)

	for iter := range 300 {
		var perms []Permission
		for range 1 + rng.IntN(6) {
			p := Permission{Allow: Actions{Subscribe: rng.IntN(2) == 0}}
			switch rng.IntN(3) {
			case 0:
				p.Match, p.URI = MatchExact, randURI(1+rng.IntN(3), false)
			case 1:
				p.Match, p.URI = MatchPrefix, randURI(rng.IntN(3), false)
				switch rng.IntN(3) {
				case 0:
					p.URI += "."
				case 1:
					w := pick()
					p.URI += "." + w[:1+rng.IntN(len(w))]
				}
				p.URI = strings.TrimPrefix(p.URI, ".")
			default:
				p.Match, p.URI = MatchWildcard, randURI(1+rng.IntN(3), true)
			}
			perms = append(perms, p)
		}
		set := newPermissionSet(perms)
		allowed := func(topic []string) bool {
			p := set.lookupStatic(strings.Join(topic, "."))
			return p != nil && p.Allow.Subscribe
		}
		for range 10 {
			n := 1 + rng.IntN(3)
			pattern := randURI(n, true)
			parts := strings.Split(pattern, ".")
			want := true
			for _, topic := range topics {
				if WildcardMatch(parts, topic) && !allowed(topic) {
					want = false
					break
				}
			}
			if got := set.allowsPattern(pattern, MatchWildcard, ActionSubscribe); got != want {
				t.Fatalf("iteration %d: wildcard %q under %+v: allowed=%v, enumeration says %v", iter, pattern, perms, got, want)
			}

			pfx := randURI(rng.IntN(3), false)
			if rng.IntN(2) == 0 {
				pfx += "."
			}
			pfx = strings.TrimPrefix(pfx, ".")
			denied := false
			for _, topic := range topics {
				if strings.HasPrefix(strings.Join(topic, "."), pfx) && !allowed(topic) {
					denied = true
					break
				}
			}
			if denied && set.allowsPattern(pfx, MatchPrefix, ActionSubscribe) {
				t.Fatalf("iteration %d: prefix %q under %+v allowed, but it matches a denied URI", iter, pfx, perms)
			}
		}
	}
}

func TestAllowsPatternBoundsTheSearch(t *testing.T) {
	t.Parallel()
	// Many wildcard permissions and a pattern of many free components: the
	// search ends (refusing) instead of exploring every combination.
	var perms []Permission
	for i := range 40 {
		parts := make([]string, 12)
		parts[i%12] = string(rune('a' + i))
		perms = append(perms, Permission{URI: strings.Join(parts, "."), Match: MatchWildcard, Allow: Actions{Subscribe: true}})
	}
	set := newPermissionSet(perms)
	if set.allowsPattern(strings.Repeat(".", 11), MatchWildcard, ActionSubscribe) {
		t.Fatal("a pattern matching URIs no permission covers was allowed")
	}
}
