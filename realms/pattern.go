package realms

import (
	"strconv"
	"strings"
)

// maxPatternStates bounds the search allowsWildcard makes for one pattern.
// Configurations of a few hundred permissions stay far below it; a pattern
// that would need more is refused rather than searched for long.
const maxPatternStates = 1 << 14

// allowsPattern reports whether action is allowed on every URI that uri
// matches under match (exact, prefix or wildcard): a subscription or
// registration with a pattern may reach no URI that a more specific
// permission denies, nor one that no permission covers.
func (s *permissionSet) allowsPattern(uri, match string, action Action) bool {
	switch match {
	case MatchPrefix:
		return s.allowsPrefix(uri, action)
	case MatchWildcard:
		return s.allowsWildcard(strings.Split(uri, "."), action)
	}
	p := s.lookupStatic(uri)
	return p != nil && p.Allow.Allows(action)
}

// allowsPrefix checks every URI starting with pfx. Such a URI is governed
// by an exact permission that starts with pfx, by a prefix permission that
// starts with pfx and is longer, or else by the longest prefix permission
// that pfx itself starts with; if there is none, by wildcards or nothing,
// which cannot cover URIs of every length.
func (s *permissionSet) allowsPrefix(pfx string, action Action) bool {
	for uri, p := range s.exact {
		if strings.HasPrefix(uri, pfx) && !p.Allow.Allows(action) {
			return false
		}
	}
	covered := false
	seen := map[string]bool{}      // a repeated prefix governs nothing: the first one wins
	for _, p := range s.prefixes { // longest first
		if seen[p.URI] {
			continue
		}
		seen[p.URI] = true
		switch {
		case len(p.URI) > len(pfx) && strings.HasPrefix(p.URI, pfx):
			if !p.Allow.Allows(action) {
				return false
			}
		case strings.HasPrefix(pfx, p.URI):
			if !covered { // the longest prefix of pfx governs the rest
				covered = true
				if !p.Allow.Allows(action) {
					return false
				}
			}
		}
	}
	return covered
}

// allowsWildcard checks every URI of len(pattern) components matching the
// pattern (an empty component matches any). It walks the components left
// to right, keeping the permissions that can still match; at a free
// component it tries one representative per way the permissions can tell
// components apart: each component or prefix remainder they name, each
// prefix remainder followed by something no permission names, and a
// component no permission names. URIs that reach the same set of live
// permissions behave alike from there on, so each state is explored once.
func (s *permissionSet) allowsWildcard(pattern []string, action Action) bool {
	w := &walk{set: s, pattern: pattern, action: action, seen: map[string]bool{}}
	st := state{prefixRest: make([]string, len(s.prefixes))}
	for i, p := range s.prefixes {
		st.prefixRest[i] = p.URI
		if p.URI == "" {
			st.prefixRest[i] = restMatched
		}
	}
	for i, p := range s.exactList() {
		if len(strings.Split(p.URI, ".")) == len(pattern) {
			st.exact = append(st.exact, i)
		}
	}
	for i, wc := range s.wildcards {
		if len(wc.parts) == len(pattern) {
			st.wildcard = append(st.wildcard, i)
		}
	}
	return w.allowed(0, st)
}

// restMatched marks a prefix permission that the URI so far already starts
// with; restDead one it can no longer start with. Neither is a URI suffix
// (they hold bytes that URIs and permission URIs never do).
const (
	restMatched = "\x00matched"
	restDead    = "\x00dead"
)

// state is what the walk knows after some components: the live exact and
// wildcard permissions (indices) and, per prefix permission, what the URI
// must still continue with.
type state struct {
	exact, wildcard []int
	prefixRest      []string
}

func (st state) key(pos int) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(pos))
	for _, i := range st.exact {
		b.WriteString(" e")
		b.WriteString(strconv.Itoa(i))
	}
	for _, i := range st.wildcard {
		b.WriteString(" w")
		b.WriteString(strconv.Itoa(i))
	}
	for i, r := range st.prefixRest {
		if r != restDead {
			b.WriteString(" p")
			b.WriteString(strconv.Itoa(i))
			b.WriteByte('=')
			b.WriteString(strconv.Quote(r))
		}
	}
	return b.String()
}

// component is a representative URI component: a named string, that
// string followed by something no permission names (extended), or, with
// fresh, a component no permission names at all.
type component struct {
	s               string
	extended, fresh bool
}

type walk struct {
	set     *permissionSet
	pattern []string
	action  Action
	seen    map[string]bool
}

// allowed reports whether every URI continuing from st at component pos is
// allowed; it answers false once the search grows past maxPatternStates.
func (w *walk) allowed(pos int, st state) bool {
	if pos == len(w.pattern) {
		p := w.governing(st)
		return p != nil && p.Allow.Allows(w.action)
	}
	k := st.key(pos)
	if w.seen[k] {
		return true
	}
	if len(w.seen) >= maxPatternStates {
		return false
	}
	w.seen[k] = true
	for _, c := range w.candidates(pos, st) {
		if !w.allowed(pos+1, w.advance(pos, st, c)) {
			return false
		}
	}
	return true
}

// candidates lists the representative values of component pos.
func (w *walk) candidates(pos int, st state) []component {
	if w.pattern[pos] != "" {
		return []component{{s: w.pattern[pos]}}
	}
	var out []component
	named := map[string]bool{}
	add := func(c component) {
		k := c.s
		if c.extended {
			k = "\x00" + k
		}
		if !named[k] {
			named[k] = true
			out = append(out, c)
		}
	}
	exacts := w.set.exactList()
	for _, i := range st.exact {
		add(component{s: strings.Split(exacts[i].URI, ".")[pos]})
	}
	for _, i := range st.wildcard {
		if part := w.set.wildcards[i].parts[pos]; part != "" {
			add(component{s: part})
		}
	}
	for _, r := range st.prefixRest {
		if r == restDead || r == restMatched {
			continue
		}
		if head, _, more := strings.Cut(r, "."); more {
			add(component{s: head})
		} else {
			add(component{s: r})
			add(component{s: r, extended: true})
		}
	}
	return append(out, component{fresh: true})
}

// advance returns the state after component pos took value c.
func (w *walk) advance(pos int, st state, c component) state {
	last := pos == len(w.pattern)-1
	exacts := w.set.exactList()
	next := state{prefixRest: make([]string, len(st.prefixRest))}
	for _, i := range st.exact {
		if !c.extended && !c.fresh && strings.Split(exacts[i].URI, ".")[pos] == c.s {
			next.exact = append(next.exact, i)
		}
	}
	for _, i := range st.wildcard {
		part := w.set.wildcards[i].parts[pos]
		if part == "" || (!c.extended && !c.fresh && part == c.s) {
			next.wildcard = append(next.wildcard, i)
		}
	}
	for i, r := range st.prefixRest {
		next.prefixRest[i] = continuePrefix(r, c, last)
	}
	return next
}

// continuePrefix is what remains of prefix remainder r after component c
// (followed by "." unless it is the last one).
func continuePrefix(r string, c component, last bool) string {
	switch {
	case r == restDead || r == restMatched:
		return r
	case c.fresh:
		return restDead
	case c.extended:
		// c.s and then bytes no permission names: r must end within c.s.
		if strings.HasPrefix(c.s, r) {
			return restMatched
		}
		return restDead
	}
	seg := c.s
	if !last {
		seg += "."
	}
	switch {
	case strings.HasPrefix(seg, r):
		return restMatched
	case strings.HasPrefix(r, seg):
		return r[len(seg):]
	}
	return restDead
}

// governing returns the permission that governs the URIs that ended in st,
// by the lookup's precedence: exact, longest prefix, most fixed wildcard.
func (w *walk) governing(st state) *Permission {
	if len(st.exact) > 0 {
		return w.set.exactList()[st.exact[0]]
	}
	for i, r := range st.prefixRest { // longest first
		if r == restMatched {
			return w.set.prefixes[i]
		}
	}
	if len(st.wildcard) > 0 {
		return w.set.wildcards[st.wildcard[0]].perm // most specific first
	}
	return nil
}

// exactList returns the exact permissions in a fixed order.
func (s *permissionSet) exactList() []*Permission {
	return s.exactOrder
}
