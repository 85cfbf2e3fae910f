package realms

import (
	"strings"

	"github.com/gammazero/nexus/v3/wamp"
)

// Match policies of permission, subscription and registration URIs, as
// WAMP spells them (nexus's wamp.Match* constants).
const (
	MatchExact    = wamp.MatchExact
	MatchPrefix   = wamp.MatchPrefix
	MatchWildcard = wamp.MatchWildcard
)

// Pattern is a URI under a match policy: exactly the URI, every URI it
// starts with (prefix), or every URI of as many components that has its
// non-empty components in their places (wildcard). Any other policy
// matches as exact.
type Pattern struct {
	uri   string
	match string
	kind  matchKind // match, decoded once: Matches runs per subscription per publication
	parts []string  // wildcard components
}

type matchKind uint8

const (
	kindExact matchKind = iota
	kindPrefix
	kindWildcard
)

// NewPattern returns the pattern of uri under match. match is kept as
// given (for reports such as subscription details), also when it is not
// one of the Match* policies.
func NewPattern(uri, match string) Pattern {
	p := Pattern{uri: uri, match: match}
	switch match {
	case MatchPrefix:
		p.kind = kindPrefix
	case MatchWildcard:
		p.kind = kindWildcard
		p.parts = strings.Split(uri, ".")
	}
	return p
}

// URI returns the pattern's URI.
func (p *Pattern) URI() string { return p.uri }

// Match returns the pattern's match policy, as given to NewPattern.
func (p *Pattern) Match() string { return p.match }

// Matches reports whether uri matches the pattern.
func (p *Pattern) Matches(uri string) bool {
	switch p.kind {
	case kindPrefix:
		return strings.HasPrefix(uri, p.uri)
	case kindWildcard:
		return matchComponents(p.parts, uri)
	}
	return uri == p.uri
}

// matchComponents is WildcardMatch of uri's components, without splitting
// uri (no allocation on the publish path).
func matchComponents(pattern []string, uri string) bool {
	last := len(pattern) - 1
	for i, part := range pattern {
		if i == last {
			// The last component is the rest of uri.
			if part == "" {
				return strings.IndexByte(uri, '.') < 0
			}
			return uri == part
		}
		if part == "" {
			dot := strings.IndexByte(uri, '.')
			if dot < 0 {
				return false // fewer components than the pattern
			}
			uri = uri[dot+1:]
			continue
		}
		if len(uri) <= len(part) || uri[len(part)] != '.' || uri[:len(part)] != part {
			return false
		}
		uri = uri[len(part)+1:]
	}
	return true
}

// WildcardMatch reports whether the components of a URI (parts) match
// those of a wildcard pattern, where an empty component matches any.
func WildcardMatch(pattern, parts []string) bool {
	if len(pattern) != len(parts) {
		return false
	}
	for i, p := range pattern {
		if p != "" && p != parts[i] {
			return false
		}
	}
	return true
}
