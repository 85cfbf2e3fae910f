package realms

import (
	"iter"
	"slices"
)

// PrefixLengths is the set of distinct URI lengths that a table of prefix
// patterns holds, each counted so that it leaves when its last pattern
// does. Looking a URI's first n bytes up in the table for each length n in
// turn finds the prefix patterns it matches, the longest first, at a cost
// that grows with the lengths in use rather than with the patterns (WAMP
// prefix matching is a string prefix: "a.b" matches "a.bc").
type PrefixLengths struct {
	lengths []int // longest first
	counts  map[int]int
}

// Add counts a prefix pattern's URI in.
func (p *PrefixLengths) Add(uri string) {
	n := len(uri)
	if p.counts == nil {
		p.counts = map[int]int{}
	}
	if p.counts[n]++; p.counts[n] == 1 {
		i, _ := slices.BinarySearchFunc(p.lengths, n, longestFirst)
		p.lengths = slices.Insert(p.lengths, i, n)
	}
}

// Remove counts a prefix pattern's URI, added before, out.
func (p *PrefixLengths) Remove(uri string) {
	n := len(uri)
	if p.counts[n] == 0 {
		return
	}
	if p.counts[n]--; p.counts[n] == 0 {
		delete(p.counts, n)
		if i, found := slices.BinarySearchFunc(p.lengths, n, longestFirst); found {
			p.lengths = slices.Delete(p.lengths, i, i+1)
		}
	}
}

// Prefixes yields the prefixes of uri of the lengths in use, longest first:
// the keys to look up in the table.
func (p *PrefixLengths) Prefixes(uri string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for _, n := range p.lengths {
			if n <= len(uri) && !yield(uri[:n]) {
				return
			}
		}
	}
}

// Len returns the number of distinct lengths in use.
func (p *PrefixLengths) Len() int { return len(p.lengths) }

func longestFirst(a, b int) int { return b - a }
