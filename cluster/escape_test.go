package cluster

import (
	"strings"
	"testing"

	"github.com/switchboard-wamp/switchboard/realms"
)

// TestEscapeToken: every token is a valid NATS token (no '.', '*', '>',
// whitespace, never empty), and different strings never share one.
func TestEscapeToken(t *testing.T) {
	inputs := []string{"", "~", "a", "A", "a.b", "a*", ">", "a b", "a\tb", "~2E", ".", "é", "a-b_c", "%2E", "a~b"}
	seen := map[string]string{}
	for _, in := range inputs {
		tok := escapeToken(in)
		if tok == "" || strings.ContainsAny(tok, ".*> \t\r\n") {
			t.Errorf("escapeToken(%q) = %q: not a NATS token", in, tok)
		}
		if other, dup := seen[tok]; dup {
			t.Errorf("escapeToken(%q) = escapeToken(%q) = %q", in, other, tok)
		}
		seen[tok] = in
	}
}

// TestInterestSubjects: the subject of a subscription covers every topic
// the WAMP pattern matches (checked with NATS's own matching rules), and
// a realm's subjects never reach another realm's.
func TestInterestSubjects(t *testing.T) {
	cases := []struct {
		uri, match string
		topics     []string // matched by the pattern: the subject must cover them
	}{
		{"a.b.c", realms.MatchExact, []string{"a.b.c"}},
		{"a..c", realms.MatchWildcard, []string{"a.x.c", "a.y.c"}},
		{"a.b", realms.MatchPrefix, []string{"a.b", "a.bc", "a.b.c", "a.bx.y"}},
		{"a.b.", realms.MatchPrefix, []string{"a.b.c", "a.b.c.d"}},
		{"a", realms.MatchPrefix, []string{"a", "ab", "a.b"}},
		{"", realms.MatchPrefix, []string{"x", "y.z", "wamp.session.on_join"}},
		{"wamp.session.", realms.MatchPrefix, []string{"wamp.session.on_join"}},
		{"..on_join", realms.MatchWildcard, []string{"wamp.session.on_join", "app.x.on_join"}},
	}
	for _, c := range cases {
		p := realms.NewPattern(c.uri, c.match)
		subs := interestSubjects("realm1", p)
		for _, topic := range c.topics {
			if !p.Matches(topic) {
				t.Fatalf("test case: %s %q does not match %q", c.match, c.uri, topic)
			}
			if !anyMatches(subs, topicSubject("realm1", topic)) {
				t.Errorf("%s %q: subjects %q miss topic %q (%q)", c.match, c.uri, subs, topic, topicSubject("realm1", topic))
			}
			if anyMatches(subs, topicSubject("realm2", topic)) {
				t.Errorf("%s %q: subjects %q reach realm2's %q", c.match, c.uri, subs, topic)
			}
		}
	}
}

// natsMatches is NATS's subject matching: '*' one token, '>' one or more.
func natsMatches(pattern, subject string) bool {
	pt, st := strings.Split(pattern, "."), strings.Split(subject, ".")
	for i, tok := range pt {
		if tok == ">" {
			return len(st) > i
		}
		if i >= len(st) || (tok != "*" && tok != st[i]) {
			return false
		}
	}
	return len(pt) == len(st)
}

func anyMatches(patterns []string, subject string) bool {
	for _, p := range patterns {
		if natsMatches(p, subject) {
			return true
		}
	}
	return false
}
