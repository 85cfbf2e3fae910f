package cluster

import (
	"strings"

	"github.com/switchboard-wamp/switchboard/broker"
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

// The subject spaces of publications: clients' and in-process
// publishers' topics in "pub", the router's own (wamp.*: session,
// subscription and registration meta events) in "sys", so that NATS
// permissions can keep anything but the nodes from the router's events.
const (
	spacePub = "pub"
	spaceSys = "sys"
)

// spaceOf returns the subject space of topic.
func spaceOf(topic string) string {
	if broker.ReservedTopic(topic) {
		return spaceSys
	}
	return spacePub
}

// realmSubject is the subject prefix of a realm's publications in space.
func realmSubject(space, realm string) string {
	return subjectPrefix + "." + space + "." + escapeToken(realm)
}

// topicSubject is the subject a publication to topic is sent on.
func topicSubject(realm, topic string) string { return spaceSubject(spaceOf(topic), realm, topic) }

func spaceSubject(space, realm, topic string) string {
	var b strings.Builder
	b.WriteString(realmSubject(space, realm))
	for comp := range strings.SplitSeq(topic, ".") {
		b.WriteByte('.')
		b.WriteString(escapeToken(comp))
	}
	return b.String()
}

// interestSubjects are the NATS subscriptions that receive every
// publication p matches: in the "pub" space, and also in "sys" if p can
// match one of the router's own wamp.* topics (a prefix "" does).
func interestSubjects(realm string, p realms.Pattern) []string {
	var spaces []string
	uri := p.URI()
	switch p.Match() {
	case realms.MatchPrefix:
		if !broker.ReservedTopic(uri) {
			spaces = append(spaces, spacePub)
		}
		if strings.HasPrefix("wamp.", uri) || broker.ReservedTopic(uri) {
			spaces = append(spaces, spaceSys)
		}
	case realms.MatchWildcard:
		first, _, _ := strings.Cut(uri, ".")
		if first != "wamp" {
			spaces = append(spaces, spacePub)
		}
		if first == "" || first == "wamp" {
			spaces = append(spaces, spaceSys)
		}
	default:
		spaces = append(spaces, spaceOf(uri))
	}
	out := make([]string, len(spaces))
	for i, space := range spaces {
		out[i] = interestSubject(space, realm, p)
	}
	return out
}

// interestSubject is the NATS subscription that receives every
// publication p matches (and, for a prefix, possibly more: the node
// filters by the topic itself). A WAMP wildcard component is NATS's '*';
// a WAMP prefix is a string prefix ("a.b" matches "a.bc.d"), so its
// subject is the enclosing one: its complete components, then '>'.
func interestSubject(space, realm string, p realms.Pattern) string {
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
		return realmSubject(space, realm) + "." + strings.Join(parts, ".")
	case realms.MatchPrefix:
		// The components before the last '.' are whole in every topic the
		// prefix matches; what follows may be part of a longer one.
		whole := ""
		if i := strings.LastIndexByte(uri, '.'); i >= 0 {
			whole = uri[:i]
		}
		if whole == "" && !strings.HasPrefix(uri, ".") {
			return realmSubject(space, realm) + ".>"
		}
		return spaceSubject(space, realm, whole) + ".>"
	}
	return spaceSubject(space, realm, uri)
}
