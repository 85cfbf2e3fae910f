package realms

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// scanLongestPrefix is the definition: the longest prefix permission URI
// that uri starts with, the first listed on a tie.
func scanLongestPrefix(perms []Permission, uri string) *Permission {
	var best *Permission
	for i := range perms {
		p := &perms[i]
		if p.Match == MatchPrefix && strings.HasPrefix(uri, p.URI) && (best == nil || len(p.URI) > len(best.URI)) {
			best = p
		}
	}
	return best
}

// TestPrefixIndexMatchesTheScan: the prefix index picks what a scan of
// every permission picks, on random URIs (prefixes ending mid-component,
// duplicates).
func TestPrefixIndexMatchesTheScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	words := []string{"a", "b", "ab", "c"}
	uri := func() string {
		n := 1 + rng.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = words[rng.IntN(len(words))]
		}
		u := strings.Join(parts, ".")
		if rng.IntN(3) == 0 {
			u = u[:rng.IntN(len(u)+1)]
		}
		return u
	}
	for round := range 100 {
		var perms []Permission
		for i := range 30 {
			perms = append(perms, Permission{URI: uri(), Match: MatchPrefix, Allow: Actions{Call: i%2 == 0}})
		}
		set := newPermissionSet(perms)
		for range 200 {
			u := uri()
			want, got := scanLongestPrefix(set.static, u), set.lookupStatic(u)
			if (want == nil) != (got == nil) || (want != nil && (want.URI != got.URI || want.Allow != got.Allow)) {
				t.Fatalf("round %d: %q: index %+v, scan %+v", round, u, got, want)
			}
		}
	}
}

// TestTemplateInstancesCached: a subject's template instances are built
// once, and a different subject gets its own.
func TestTemplateInstancesCached(t *testing.T) {
	set := newPermissionSet([]Permission{{URI: "app.user.{authid}.", Match: MatchPrefix, Allow: Actions{Subscribe: true}}})
	alice := Subject{AuthID: "alice", Role: "user"}
	if set.instantiate(alice) != set.instantiate(alice) {
		t.Fatal("alice's instances were built twice")
	}
	if p := set.lookup("app.user.alice.feed", alice); p == nil || !p.Allow.Subscribe {
		t.Fatalf("alice's topic: %+v, want her template's instance", p)
	}
	if p := set.lookup("app.user.alice.feed", Subject{AuthID: "bob", Role: "user"}); p != nil {
		t.Fatalf("bob on alice's topic: %+v, want nothing", p)
	}
}

// BenchmarkPermissionLookup: finding the permission of a URI costs about
// the same with 10 or 10,000 prefix permissions, static or templated.
func BenchmarkPermissionLookup(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		var perms []Permission
		for i := range n {
			perms = append(perms, Permission{URI: fmt.Sprintf("app.tenant%d.", i), Match: MatchPrefix, Allow: Actions{Publish: true}})
		}
		perms = append(perms, Permission{URI: "app.user.{authid}.", Match: MatchPrefix, Allow: Actions{Subscribe: true}})
		set := newPermissionSet(perms)
		sub := Subject{AuthID: "alice", Role: "user"}
		for _, uri := range []string{"app.tenant5.events", "app.user.alice.feed"} {
			b.Run(fmt.Sprintf("prefix=%d/%s", n, strings.SplitN(uri, ".", 3)[1]), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if set.lookup(uri, sub) == nil {
						b.Fatal("no permission")
					}
				}
			})
		}
	}
}
