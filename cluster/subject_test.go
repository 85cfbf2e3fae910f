package cluster

import (
	"strings"
	"testing"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/switchboard-wamp/switchboard/realms"
)

// tricky are realm names and URI components that escaping must keep apart.
var tricky = []string{"", "a", "b", "a.b", "a~2Eb", "~", "~7E", "~2E", "*", ">", "a*", "a>", " ", "a b",
	"\t", "é", "~C3~A9", "_", "-", "A", "a-b", "a_b", "switchboard", "pub"}

// TestTopicSubjectsDoNotCollide: two different (realm, topic) pairs never
// share a NATS subject, and every subject is a valid NATS literal subject
// inside the realm's subject space.
func TestTopicSubjectsDoNotCollide(t *testing.T) {
	t.Parallel()
	set := map[string]bool{}
	for _, a := range tricky {
		set[a] = true
		for _, b := range tricky {
			set[a+"."+b] = true
		}
	}
	var topics []string
	for topic := range set {
		topics = append(topics, topic)
	}
	seen := map[string][2]string{}
	for _, realm := range tricky {
		for _, topic := range topics {
			space := realmSubject(spaceOf(topic), realm) + ".>"
			subj := topicSubject(realm, topic)
			if !natsserver.IsValidLiteralSubject(subj) {
				t.Errorf("realm %q topic %q: subject %q is not a valid literal NATS subject", realm, topic, subj)
			}
			if !natsserver.SubjectMatchesFilter(subj, space) {
				t.Errorf("realm %q topic %q: subject %q is outside the realm's space %q", realm, topic, subj, space)
			}
			if prev, dup := seen[subj]; dup {
				t.Errorf("subject %q: realm %q topic %q and realm %q topic %q", subj, realm, topic, prev[0], prev[1])
			}
			seen[subj] = [2]string{realm, topic}
		}
	}
}

// interestCase is a pattern and a topic it matches.
type interestCase struct{ uri, match, topic string }

var interestCases = []interestCase{
	{"a.b", realms.MatchExact, "a.b"},
	{"a.b", realms.MatchPrefix, "a.b"},
	{"a.b", realms.MatchPrefix, "a.bc"},
	{"a.b", realms.MatchPrefix, "a.b.c"},
	{"a.b", realms.MatchPrefix, "a.bc.d.e"},
	{"a.b.", realms.MatchPrefix, "a.b.c"},
	{"a", realms.MatchPrefix, "a"},
	{"a", realms.MatchPrefix, "ab.c"},
	{"", realms.MatchPrefix, "x.y.z"},
	{"a.", realms.MatchPrefix, "a.x"},
	{"a..c", realms.MatchWildcard, "a.b.c"},
	{"a..c", realms.MatchWildcard, "a.*.c"},
	{"a..c", realms.MatchWildcard, "a.>.c"},
	{"..", realms.MatchWildcard, "x.y.z"},
	{"a.b*", realms.MatchExact, "a.b*"},
	{"a.>", realms.MatchExact, "a.>"},
	{"a.*", realms.MatchPrefix, "a.*x"},
	{"a.~", realms.MatchPrefix, "a.~7E"},
}

// TestInterestSubjectsMatchTheirTopics: the NATS subscription of a pattern
// receives every topic the pattern matches, and no topic of another realm.
func TestInterestSubjectsMatchTheirTopics(t *testing.T) {
	t.Parallel()
	for _, c := range interestCases {
		p := realms.NewPattern(c.uri, c.match)
		if !p.Matches(c.topic) {
			t.Fatalf("test case: %s %q does not match %q", c.match, c.uri, c.topic)
		}
		for _, realm := range tricky {
			interest := interestSubjects(realm, p)
			for _, i := range interest {
				if !natsserver.IsValidSubject(i) {
					t.Errorf("realm %q %s %q: interest %q is not a valid NATS subject", realm, c.match, c.uri, i)
				}
			}
			if subj := topicSubject(realm, c.topic); !covers(interest, subj) {
				t.Errorf("realm %q %s %q: interest %q misses topic %q (subject %q)", realm, c.match, c.uri, interest, c.topic, subj)
			}
			for _, other := range tricky {
				if other == realm {
					continue
				}
				if subj := topicSubject(other, c.topic); covers(interest, subj) {
					t.Errorf("realm %q %s %q: interest %q receives realm %q's topic %q", realm, c.match, c.uri, interest, other, c.topic)
				}
			}
		}
	}
}

// FuzzSubjects checks the subject mapping for any realm, pattern and
// topic: a pattern's interest receives every topic it matches in its realm
// and none of another realm; different topics have different subjects.
func FuzzSubjects(f *testing.F) {
	for _, c := range interestCases {
		f.Add("realm1", c.uri, c.match, c.topic, "realm1.x")
	}
	f.Add("a.b", "c", realms.MatchPrefix, "c", "a")
	f.Fuzz(func(t *testing.T, realm, uri, match, topic, other string) {
		p := realms.NewPattern(uri, match)
		interest := interestSubjects(realm, p)
		subj := topicSubject(realm, topic)
		if strings.ContainsAny(realm+uri+topic, "\x00") {
			return
		}
		if p.Matches(topic) && !covers(interest, subj) {
			t.Errorf("realm %q %s %q: interest %q misses topic %q (subject %q)", realm, match, uri, interest, topic, subj)
		}
		if other != realm && covers(interest, topicSubject(other, topic)) {
			t.Errorf("realm %q %s %q: interest %q receives realm %q's topic %q", realm, match, uri, interest, other, topic)
		}
		if other != topic && topicSubject(realm, other) == subj {
			t.Errorf("realm %q: topics %q and %q share subject %q", realm, topic, other, subj)
		}
	})
}

// covers reports whether one of the interests receives subject.
func covers(interests []string, subject string) bool {
	for _, i := range interests {
		if natsserver.SubjectMatchesFilter(subject, i) {
			return true
		}
	}
	return false
}
