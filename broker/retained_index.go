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
	nodes  []topicNode // the tree of components; nodes[0] is its root
}

// topicNode is one component of retained topics; topic is set where a
// retained topic ends. The nodes live in one slice and refer to their
// children by index, and a node with one child keeps it inline (most nodes
// of per-user topics: app.user.<id>.status), a map only from the second:
// with 100,000 retained topics that is 300,000 objects fewer for the GC to
// mark on every cycle.
type topicNode struct {
	onlyName string
	only     int32            // the one child's index; 0 (the root, no one's child) for none
	children map[string]int32 // with two children or more
	topic    string
	end      bool
}

// child returns the index of n's child for comp, or 0.
func (n *topicNode) child(comp string) int32 {
	if n.children != nil {
		return n.children[comp]
	}
	if n.only != 0 && n.onlyName == comp {
		return n.only
	}
	return 0
}

// addChild adds c as the child for comp (which has none).
func (n *topicNode) addChild(comp string, c int32) {
	switch {
	case n.children != nil:
		n.children[comp] = c
	case n.only == 0:
		n.onlyName, n.only = comp, c
	default:
		n.children = map[string]int32{n.onlyName: n.only, comp: c}
		n.onlyName, n.only = "", 0
	}
}

// eachChild calls f for the index of every child.
func (n *topicNode) eachChild(f func(int32)) {
	if n.children != nil {
		for _, c := range n.children {
			f(c)
		}
		return
	}
	if n.only != 0 {
		f(n.only)
	}
}

// add indexes a topic that had no retained event. The realm's
// max_retained_topics keeps the nodes within int32.
func (x *topicIndex) add(topic string) {
	if i, found := slices.BinarySearch(x.sorted, topic); !found {
		x.sorted = slices.Insert(x.sorted, i, topic)
	}
	if len(x.nodes) == 0 {
		x.nodes = append(x.nodes, topicNode{})
	}
	n := int32(0)
	for comp := range strings.SplitSeq(topic, ".") {
		c := x.nodes[n].child(comp)
		if c == 0 {
			c = int32(len(x.nodes)) //nolint:gosec // at most one node per component of max_retained_topics topics
			x.nodes = append(x.nodes, topicNode{})
			x.nodes[n].addChild(comp, c)
		}
		n = c
	}
	x.nodes[n].topic, x.nodes[n].end = topic, true
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
		if len(x.nodes) > 0 {
			x.walk(0, p.URI(), f)
		}
	}
}

// walk calls f for the topics below node n that match pattern, the
// wildcard pattern's components left.
func (x *topicIndex) walk(n int32, pattern string, f func(topic string)) {
	comp, rest, more := strings.Cut(pattern, ".")
	visit := func(c int32) {
		switch {
		case more:
			x.walk(c, rest, f)
		case x.nodes[c].end:
			f(x.nodes[c].topic)
		}
	}
	if comp != "" {
		if c := x.nodes[n].child(comp); c != 0 {
			visit(c)
		}
		return
	}
	x.nodes[n].eachChild(visit)
}
