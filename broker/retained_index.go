package broker

import (
	"slices"
	"strings"

	"github.com/switchboard-wamp/switchboard/realms"
)

// topicIndex holds the topics that have a retained event so that a
// pattern subscription with get_retained visits only the topics it
// matches, however many others the realm retains: a prefix takes a range
// of the sorted topics, a wildcard walks a tree of their components.
// Retained topics are only ever added (a retained event is replaced, never
// removed), so the index only grows, within max_retained_topics.
type topicIndex struct {
	sorted []string
	tree   topicNode
}

// topicNode is one component of retained topics; topic is set where a
// retained topic ends.
type topicNode struct {
	children map[string]*topicNode
	topic    string
	end      bool
}

// add indexes a topic that had no retained event.
func (x *topicIndex) add(topic string) {
	if i, found := slices.BinarySearch(x.sorted, topic); !found {
		x.sorted = slices.Insert(x.sorted, i, topic)
	}
	n := &x.tree
	for comp := range strings.SplitSeq(topic, ".") {
		c := n.children[comp]
		if c == nil {
			if n.children == nil {
				n.children = map[string]*topicNode{}
			}
			c = &topicNode{}
			n.children[comp] = c
		}
		n = c
	}
	n.topic, n.end = topic, true
}

// matching calls f for each indexed topic that p (a prefix or wildcard
// pattern) matches, in order for a prefix.
func (x *topicIndex) matching(p realms.Pattern, f func(topic string)) {
	switch p.Match() {
	case realms.MatchPrefix:
		prefix := p.URI()
		i, _ := slices.BinarySearch(x.sorted, prefix)
		for ; i < len(x.sorted) && strings.HasPrefix(x.sorted[i], prefix); i++ {
			f(x.sorted[i])
		}
	case realms.MatchWildcard:
		x.tree.walk(p.URI(), f)
	}
}

// walk calls f for the topics below n that match pattern, the wildcard
// pattern's components left.
func (n *topicNode) walk(pattern string, f func(topic string)) {
	comp, rest, more := strings.Cut(pattern, ".")
	visit := func(c *topicNode) {
		switch {
		case more:
			c.walk(rest, f)
		case c.end:
			f(c.topic)
		}
	}
	if comp != "" {
		if c := n.children[comp]; c != nil {
			visit(c)
		}
		return
	}
	for _, c := range n.children {
		visit(c)
	}
}
