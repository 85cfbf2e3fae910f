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
// retained topic ends. A node with one child keeps it inline (most nodes
// of per-user topics: app.user.<id>.status), a map only from the second:
// with 100,000 retained topics that is 100,000 maps fewer for the GC to
// scan on every cycle.
type topicNode struct {
	onlyName string
	only     *topicNode
	children map[string]*topicNode // with two children or more
	topic    string
	end      bool
}

// child returns the child for comp, or nil.
func (n *topicNode) child(comp string) *topicNode {
	if n.children != nil {
		return n.children[comp]
	}
	if n.only != nil && n.onlyName == comp {
		return n.only
	}
	return nil
}

// addChild adds c as the child for comp (which has none).
func (n *topicNode) addChild(comp string, c *topicNode) {
	switch {
	case n.children != nil:
		n.children[comp] = c
	case n.only == nil:
		n.onlyName, n.only = comp, c
	default:
		n.children = map[string]*topicNode{n.onlyName: n.only, comp: c}
		n.onlyName, n.only = "", nil
	}
}

// eachChild calls f for every child.
func (n *topicNode) eachChild(f func(*topicNode)) {
	if n.children != nil {
		for _, c := range n.children {
			f(c)
		}
		return
	}
	if n.only != nil {
		f(n.only)
	}
}

// add indexes a topic that had no retained event.
func (x *topicIndex) add(topic string) {
	if i, found := slices.BinarySearch(x.sorted, topic); !found {
		x.sorted = slices.Insert(x.sorted, i, topic)
	}
	n := &x.tree
	for comp := range strings.SplitSeq(topic, ".") {
		c := n.child(comp)
		if c == nil {
			c = &topicNode{}
			n.addChild(comp, c)
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
		if c := n.child(comp); c != nil {
			visit(c)
		}
		return
	}
	n.eachChild(visit)
}
