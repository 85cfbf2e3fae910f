package cluster

import (
	"strings"

	"github.com/switchboard-wamp/switchboard/realms"
)

// subjectPrefix starts every subject switchboard uses.
const subjectPrefix = "switchboard"

// escapeToken makes s one NATS subject token: letters, digits, '-' and
// '_' stay, every other byte (NATS's '.', '*', '>', whitespace, and '~'
// itself) becomes ~XX; an empty string becomes "~" (a token is never
// empty).
func escapeToken(s string) string {
	if s == "" {
		return "~"
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		default:
			const hex = "0123456789ABCDEF"
			b.WriteByte('~')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// realmSubject is the subject prefix of a realm's publications.
func realmSubject(realm string) string {
	return subjectPrefix + ".pub." + escapeToken(realm)
}

// topicSubject is the subject a publication to topic is sent on.
func topicSubject(realm, topic string) string {
	var b strings.Builder
	b.WriteString(realmSubject(realm))
	for comp := range strings.SplitSeq(topic, ".") {
		b.WriteByte('.')
		b.WriteString(escapeToken(comp))
	}
	return b.String()
}

// interestSubject is the NATS subscription that receives every
// publication p matches (and, for a prefix, possibly more: the node
// filters by the topic itself). A WAMP wildcard component is NATS's '*';
// a WAMP prefix is a string prefix ("a.b" matches "a.bc.d"), so its
// subject is the enclosing one: its complete components, then '>'.
func interestSubject(realm string, p realms.Pattern) string {
	uri := p.URI()
	switch p.Match() {
	case realms.MatchWildcard:
		parts := strings.Split(uri, ".")
		for i, comp := range parts {
			if comp == "" {
				parts[i] = "*"
			} else {
				parts[i] = escapeToken(comp)
			}
		}
		return realmSubject(realm) + "." + strings.Join(parts, ".")
	case realms.MatchPrefix:
		// The components before the last '.' are whole in every topic the
		// prefix matches; what follows may be part of a longer one.
		whole := ""
		if i := strings.LastIndexByte(uri, '.'); i >= 0 {
			whole = uri[:i]
		}
		if whole == "" && !strings.HasPrefix(uri, ".") {
			return realmSubject(realm) + ".>"
		}
		return topicSubject(realm, whole) + ".>"
	}
	return topicSubject(realm, uri)
}
