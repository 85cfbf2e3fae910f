package realms

import "strings"

// ValidURI reports whether uri is a valid WAMP URI under match, as nexus's
// wamp.URI.ValidURI decides (its regular expressions), without them: it
// runs on every PUBLISH and CALL. Loose URIs may hold any byte but ASCII
// whitespace, '.' (the separator) and '#'; strict ones only [0-9a-z_]. An
// exact URI has no empty component; a prefix may end with an empty one
// ("a.b."); a wildcard may have any empty ("a..c").
func ValidURI(uri string, strict bool, match string) bool {
	last := strings.Count(uri, ".")
	i := 0
	for comp := range strings.SplitSeq(uri, ".") {
		if comp == "" {
			switch {
			case match == MatchWildcard:
			case match == MatchPrefix && i == last:
			default:
				return false
			}
		}
		for j := 0; j < len(comp); j++ {
			if !validURIByte(comp[j], strict) {
				return false
			}
		}
		i++
	}
	return true
}

func validURIByte(c byte, strict bool) bool {
	if strict {
		return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c == '_'
	}
	switch c {
	case ' ', '\t', '\n', '\f', '\r', '#':
		return false
	}
	return true
}
