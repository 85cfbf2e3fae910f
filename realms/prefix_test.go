package realms

import (
	"slices"
	"testing"
)

// TestPrefixLengths: a length stays while a pattern of it remains, the
// prefixes come longest first and none is longer than the URI.
func TestPrefixLengths(t *testing.T) {
	var p PrefixLengths
	for _, uri := range []string{"a.", "app.", "app.user.", "b.c."} {
		p.Add(uri)
	}
	got := slices.Collect(p.Prefixes("app.user.7"))
	if want := []string{"app.user.", "app.", "ap"}; !slices.Equal(got, want) {
		t.Fatalf("prefixes of app.user.7: %q, want %q", got, want)
	}
	p.Remove("a.") // the only 2-byte pattern
	if got := slices.Collect(p.Prefixes("app.user.7")); !slices.Equal(got, []string{"app.user.", "app."}) {
		t.Fatalf("after removing the only 2-byte pattern: %q", got)
	}
	p.Remove("app.") // "b.c." still has length 4
	if got := slices.Collect(p.Prefixes("app.user.7")); !slices.Equal(got, []string{"app.user.", "app."}) {
		t.Fatalf("after removing one of two 4-byte patterns: %q", got)
	}
	p.Remove("b.c.")
	p.Remove("b.c.") // removing more than was added changes nothing
	if got := slices.Collect(p.Prefixes("app.user.7")); !slices.Equal(got, []string{"app.user."}) {
		t.Fatalf("after removing both 4-byte patterns: %q", got)
	}
	if p.Len() != 1 || len(p.counts) != 1 {
		t.Fatalf("one length left, but %d listed and %d counted", p.Len(), len(p.counts))
	}
	if got := slices.Collect(p.Prefixes("app")); len(got) != 0 {
		t.Fatalf("prefixes of a URI shorter than every pattern: %q", got)
	}
	p.Remove("app.user.")
	if p.Len() != 0 || len(p.counts) != 0 {
		t.Fatalf("all removed, but %d lengths listed and %d counted", p.Len(), len(p.counts))
	}
}
