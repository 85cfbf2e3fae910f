package dealer

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/realms"
)

// TestPrecedenceTable is the WAMP spec's example of calls matching several
// registrations.
func TestPrecedenceTable(t *testing.T) {
	r := newRealm(Realm{Name: "r"})
	regs := []struct{ uri, match string }{
		{"a1.b2.c3.d4.e55", realms.MatchExact},
		{"a1.b2.c3", realms.MatchPrefix},
		{"a1.b2.c3.d4", realms.MatchPrefix},
		{"a1.b2..d4.e5", realms.MatchWildcard},
		{"a1.b2.c3..e5", realms.MatchWildcard},
		{"a1.b2..d4.e5..g7", realms.MatchWildcard},
		{"a1.b2..d4..f6.g7", realms.MatchWildcard},
	}
	for i, reg := range regs {
		r.add(&registration{id: wamp.ID(i + 1), uri: reg.uri, match: reg.match})
	}
	for _, c := range []struct {
		call string
		want wamp.ID // 0: none
	}{
		{"a1.b2.c3.d4.e55", 1},
		{"a1.b2.c3.d98.e74", 2},
		{"a1.b2.c3.d4.e325", 3},
		{"a1.b2.c55.d4.e5", 4},
		// The spec's table says 5 here, but its own rule 2 (prefix before
		// wildcard) picks 3: a1.b2.c3.d4 is a prefix of the call. The rule
		// wins; the wildcard precedence between 4 and 5 is checked below.
		{"a1.b2.c3.d4.e5", 3},
		{"a1.b2.c88.d4.e5.f6.g7", 6},
		{"a2.b2.c2.d2.e2", 0},
	} {
		var got wamp.ID
		if reg := r.best(c.call); reg != nil {
			got = reg.id
		}
		if got != c.want {
			t.Errorf("call %s went to registration %d, want %d", c.call, got, c.want)
		}
	}
	// Without the prefix registrations, the spec's wildcard row: 5 (c3
	// fixed) beats 4 (a wildcard at the third component).
	r.remove(r.prefix["a1.b2.c3"])
	r.remove(r.prefix["a1.b2.c3.d4"])
	if reg := r.best("a1.b2.c3.d4.e5"); reg == nil || reg.id != 5 {
		t.Errorf("call a1.b2.c3.d4.e5 without prefixes went to %s, want registration 5", describe(reg))
	}
}

// scanBest is the precedence by its definition, over every registration.
func scanBest(regs []*registration, procedure string) *registration {
	var exact, prefix, wild *registration
	mask := func(uri string) []bool {
		var m []bool
		for c := range strings.SplitSeq(uri, ".") {
			m = append(m, c != "")
		}
		return m
	}
	better := func(a, b []bool) bool { // a fixed component earlier wins
		for i := range a {
			if a[i] != b[i] {
				return a[i]
			}
		}
		return false
	}
	for _, reg := range regs {
		p := realms.NewPattern(reg.uri, reg.match)
		if !p.Matches(procedure) {
			continue
		}
		switch reg.match {
		case realms.MatchExact:
			exact = reg
		case realms.MatchPrefix:
			if prefix == nil || len(reg.uri) > len(prefix.uri) {
				prefix = reg
			}
		case realms.MatchWildcard:
			if wild == nil || better(mask(reg.uri), mask(wild.uri)) {
				wild = reg
			}
		}
	}
	switch {
	case exact != nil:
		return exact
	case prefix != nil:
		return prefix
	}
	return wild
}

// TestBestMatchesTheScan compares the index with the definition on random
// URIs: prefixes ending mid-component, empty components, a pattern equal
// to the procedure, registrations removed again.
func TestBestMatchesTheScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"a", "b", "ab", "c", ""}
	uri := func(n int, allowEmpty bool) string {
		parts := make([]string, n)
		for i := range parts {
			for {
				parts[i] = words[rng.IntN(len(words))]
				if parts[i] != "" || allowEmpty {
					break
				}
			}
		}
		return strings.Join(parts, ".")
	}
	for round := range 50 {
		r := newRealm(Realm{Name: "r"})
		var regs []*registration
		seen := map[string]bool{}
		for i := range 60 {
			match := []string{realms.MatchExact, realms.MatchPrefix, realms.MatchWildcard}[rng.IntN(3)]
			u := uri(1+rng.IntN(4), match == realms.MatchWildcard)
			if match == realms.MatchPrefix && rng.IntN(3) == 0 && len(u) > 1 {
				u = u[:len(u)-1] // a prefix that ends mid-component
			}
			if seen[match+" "+u] {
				continue
			}
			seen[match+" "+u] = true
			reg := &registration{id: wamp.ID(i + 1), uri: u, match: match}
			r.add(reg)
			regs = append(regs, reg)
		}
		// Remove a third again.
		kept := regs[:0]
		for _, reg := range regs {
			if rng.IntN(3) == 0 {
				r.remove(reg)
			} else {
				kept = append(kept, reg)
			}
		}
		for range 300 {
			proc := uri(1+rng.IntN(5), false)
			want, got := scanBest(kept, proc), r.best(proc)
			if want != got {
				t.Fatalf("round %d: call %q: index chose %s, scan %s", round, proc, describe(got), describe(want))
			}
		}
	}
}

func describe(reg *registration) string {
	if reg == nil {
		return "none"
	}
	return fmt.Sprintf("%s %q", reg.match, reg.uri)
}

// TestRemovePrunes checks that removing every registration leaves the
// indexes empty.
func TestRemovePrunes(t *testing.T) {
	r := newRealm(Realm{Name: "r"})
	regs := []*registration{
		{id: 1, uri: "a..c", match: realms.MatchWildcard},
		{id: 2, uri: "a.b.c", match: realms.MatchWildcard},
		{id: 3, uri: "a.", match: realms.MatchPrefix},
		{id: 4, uri: "a.b", match: realms.MatchPrefix},
	}
	for _, reg := range regs {
		r.add(reg)
	}
	for _, reg := range regs {
		r.remove(reg)
	}
	if r.wild.any != nil || len(r.wild.children) != 0 || r.prefixLengths.Len() != 0 || r.count() != 0 {
		t.Fatalf("indexes not empty: wild %+v, %d prefix lengths", r.wild, r.prefixLengths.Len())
	}
}
