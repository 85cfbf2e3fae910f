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
	parts []string // wildcard components
}

// NewPattern returns the pattern of uri under match. match is kept as
// given (for reports such as subscription details), also when it is not
// one of the Match* policies.
func NewPattern(uri, match string) Pattern {
	p := Pattern{uri: uri, match: match}
	if match == MatchWildcard {
		p.parts = strings.Split(uri, ".")
	}
	return p
}

// URI returns the pattern's URI.
func (p Pattern) URI() string { return p.uri }

// Match returns the pattern's match policy, as given to NewPattern.
func (p Pattern) Match() string { return p.match }

// Matches reports whether uri matches the pattern.
func (p Pattern) Matches(uri string) bool {
	switch p.match {
	case MatchPrefix:
		return strings.HasPrefix(uri, p.uri)
	case MatchWildcard:
		return matchComponents(p.parts, uri)
	}
	return uri == p.uri
}

// matchComponents is WildcardMatch of uri's components, without splitting
// uri (no allocation on the publish path).
func matchComponents(pattern []string, uri string) bool {
	last := len(pattern) - 1
	for i, part := range pattern {
		comp := uri
		if i < last {
			dot := strings.IndexByte(uri, '.')
			if dot < 0 {
				return false // fewer components than the pattern
			}
			comp, uri = uri[:dot], uri[dot+1:]
		} else if strings.IndexByte(uri, '.') >= 0 {
			return false // more components than the pattern
		}
		if part != "" && part != comp {
			return false
		}
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
