package realms

import (
	"strings"
	"testing"
)

func TestPatternMatches(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		uri, match, topic string
		want              bool
	}{
		{"a.b", MatchExact, "a.b", true},
		{"a.b", MatchExact, "a.b.c", false},
		{"a.b", MatchExact, "a", false},
		{"a.b", "", "a.b", true},       // no policy: exact
		{"a.b", "glob", "a.bc", false}, // unknown policy: exact
		{"a.", MatchPrefix, "a.b", true},
		{"a.", MatchPrefix, "a.", true},
		{"a.", MatchPrefix, "a", false},
		{"a", MatchPrefix, "apple", true},
		{"", MatchPrefix, "anything", true},
		{"a..c", MatchWildcard, "a.b.c", true},
		{"a..c", MatchWildcard, "a..c", true},
		{"a..c", MatchWildcard, "a.b.d", false},
		{"a..c", MatchWildcard, "a.b.c.d", false},
		{"a..c", MatchWildcard, "a.b", false},
		{"a..c", MatchWildcard, "x.b.c", false},
		{"..", MatchWildcard, "x.y.z", true},
		{"..", MatchWildcard, "x.y", false},
		{"", MatchWildcard, "x", true},
		{"", MatchWildcard, "", true},
		{"", MatchWildcard, "x.y", false},
		{"a", MatchWildcard, "a", true},
		{"a", MatchWildcard, "ab", false},
	} {
		p := NewPattern(tc.uri, tc.match)
		if got := p.Matches(tc.topic); got != tc.want {
			t.Errorf("%s %q matches %q = %v, want %v", tc.match, tc.uri, tc.topic, got, tc.want)
		}
	}
}

// TestPatternMatchesAsWildcardMatch: a wildcard pattern matches a URI
// exactly when WildcardMatch matches their components.
func TestPatternMatchesAsWildcardMatch(t *testing.T) {
	t.Parallel()
	uris := []string{"", ".", "..", "a", "b", "a.", ".a", "a.b", "a..", ".b.", "a.b.c", "a..c", "..c", "a.b.", "x.b.c"}
	for _, pat := range uris {
		p := NewPattern(pat, MatchWildcard)
		for _, uri := range uris {
			want := WildcardMatch(strings.Split(pat, "."), strings.Split(uri, "."))
			if got := p.Matches(uri); got != want {
				t.Errorf("wildcard %q matches %q = %v, WildcardMatch says %v", pat, uri, got, want)
			}
		}
	}
}

func TestPatternKeepsPolicy(t *testing.T) {
	t.Parallel()
	p := NewPattern("a.b", "")
	if p.URI() != "a.b" || p.Match() != "" {
		t.Fatalf("NewPattern(%q, %q) reports %q under %q", "a.b", "", p.URI(), p.Match())
	}
}
