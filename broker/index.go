package broker

import (
	"strings"

	"github.com/switchboard-wamp/switchboard/realms"
)

// patternIndex finds the prefix and wildcard subscriptions that match a
// topic without looking at the others, so that a publication costs the
// same whether the realm holds ten pattern subscriptions or ten thousand
// (every user subscribed to app.user.<id>. is the common case).
//
// Prefix subscriptions are found by the lengths in use: for each length
// some prefix subscription has, one map lookup of the topic's first bytes
// (realms.PrefixLengths). Wildcard
// subscriptions live in a tree of their components, an empty component
// (matching any) as its own branch; a topic walks the branches its
// components allow.
type patternIndex struct {
	prefix  map[string]*subscription // the realm's prefix subscriptions, by URI
	lengths realms.PrefixLengths     // of their URIs
	wild    wildNode
}

// wildNode is a wildcard pattern component: children by component, any
// for an empty one, sub for the pattern that ends here.
type wildNode struct {
	children map[string]*wildNode
	any      *wildNode
	sub      *subscription
}

// newPatternIndex indexes the subscriptions of prefix (the realm's map,
// which the realm keeps) and the wildcard ones added.
func newPatternIndex(prefix map[string]*subscription) *patternIndex {
	return &patternIndex{prefix: prefix}
}

// add indexes a new prefix (already in the prefix map) or wildcard
// subscription.
func (x *patternIndex) add(sub *subscription) {
	uri := sub.pattern.URI()
	switch sub.pattern.Match() {
	case realms.MatchPrefix:
		x.lengths.Add(uri)
	case realms.MatchWildcard:
		n := &x.wild
		for comp := range strings.SplitSeq(uri, ".") {
			n = n.child(comp, true)
		}
		n.sub = sub
	}
}

// remove forgets a prefix (already gone from the prefix map) or wildcard
// subscription.
func (x *patternIndex) remove(sub *subscription) {
	uri := sub.pattern.URI()
	switch sub.pattern.Match() {
	case realms.MatchPrefix:
		x.lengths.Remove(uri)
	case realms.MatchWildcard:
		x.wild.removePath(uri, sub)
	}
}

// matches calls f for each indexed subscription matching topic.
func (x *patternIndex) matches(topic string, f func(*subscription)) {
	for prefix := range x.lengths.Prefixes(topic) {
		if sub, ok := x.prefix[prefix]; ok {
			f(sub)
		}
	}
	if x.wild.children != nil || x.wild.any != nil {
		x.wild.walk(topic, f)
	}
}

// child returns the node below n for a component, creating it if create.
func (n *wildNode) child(comp string, create bool) *wildNode {
	if comp == "" {
		if n.any == nil && create {
			n.any = &wildNode{}
		}
		return n.any
	}
	c := n.children[comp]
	if c == nil && create {
		if n.children == nil {
			n.children = map[string]*wildNode{}
		}
		c = &wildNode{}
		n.children[comp] = c
	}
	return c
}

// walk calls f for the patterns below n that match topic, the components
// left to match.
func (n *wildNode) walk(topic string, f func(*subscription)) {
	comp, rest, more := strings.Cut(topic, ".")
	for _, next := range [2]*wildNode{n.children[comp], n.any} {
		switch {
		case next == nil:
		case more:
			next.walk(rest, f)
		case next.sub != nil:
			f(next.sub)
		}
	}
}

// removePath clears sub at the end of uri's path and prunes the nodes left
// empty; it reports whether n itself is now empty.
func (n *wildNode) removePath(uri string, sub *subscription) bool {
	comp, rest, more := strings.Cut(uri, ".")
	next := n.child(comp, false)
	if next == nil {
		return false
	}
	if more {
		if !next.removePath(rest, sub) {
			return false
		}
	} else if next.sub == sub {
		next.sub = nil
	}
	if next.sub == nil && next.any == nil && len(next.children) == 0 {
		if comp == "" {
			n.any = nil
		} else {
			delete(n.children, comp)
		}
	}
	return n.sub == nil && n.any == nil && len(n.children) == 0
}
