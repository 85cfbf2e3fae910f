package dealer

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/realms"
)

// realm holds one realm's registrations.
type realm struct {
	name     string
	authz    Authorizer
	strict   bool
	maxURI   int
	maxRegs  int
	maxCalls int

	mu     sync.RWMutex
	exact  map[string]*registration
	prefix map[string]*registration
	// prefixLengths are those of the prefix registrations' URIs: the
	// first of its prefixes in prefix is a procedure's longest match.
	prefixLengths realms.PrefixLengths
	wildcard      map[string]*registration
	wild          wildNode
	byID          map[wamp.ID]*registration
}

// registration is one procedure (or pattern) and the callees on it, in the
// order they registered.
type registration struct {
	id      wamp.ID
	uri     string
	match   string // realms.MatchExact, MatchPrefix or MatchWildcard
	policy  string // wamp.Invoke*
	created time.Time
	callees []*Session
	// discloseCaller: the (trusted) first callee asked for the callers'
	// identities.
	discloseCaller bool
	next           atomic.Uint64 // roundrobin position
}

// wildNode is a wildcard pattern component: children by component, any
// for an empty one, reg for the registration that ends here.
type wildNode struct {
	children map[string]*wildNode
	any      *wildNode
	reg      *registration
}

func newRealm(rc Realm) *realm {
	return &realm{
		name: rc.Name, authz: rc.Authorizer, strict: rc.StrictURI, maxURI: rc.MaxURILength,
		maxRegs: rc.MaxRegistrationsPerSession, maxCalls: rc.MaxCallsPerSession,
		exact: map[string]*registration{}, prefix: map[string]*registration{},
		wildcard: map[string]*registration{}, byID: map[wamp.ID]*registration{},
	}
}

// table returns the registrations of match (exact for an unknown one).
// The caller holds r.mu.
func (r *realm) table(match string) map[string]*registration {
	switch match {
	case realms.MatchPrefix:
		return r.prefix
	case realms.MatchWildcard:
		return r.wildcard
	}
	return r.exact
}

// add indexes a new registration. The caller holds r.mu for writing.
func (r *realm) add(reg *registration) {
	r.table(reg.match)[reg.uri] = reg
	r.byID[reg.id] = reg
	switch reg.match {
	case realms.MatchPrefix:
		r.prefixLengths.Add(reg.uri)
	case realms.MatchWildcard:
		node := &r.wild
		for comp := range strings.SplitSeq(reg.uri, ".") {
			node = node.child(comp, true)
		}
		node.reg = reg
	}
}

// remove forgets a registration without callees. The caller holds r.mu
// for writing.
func (r *realm) remove(reg *registration) {
	delete(r.table(reg.match), reg.uri)
	delete(r.byID, reg.id)
	switch reg.match {
	case realms.MatchPrefix:
		r.prefixLengths.Remove(reg.uri)
	case realms.MatchWildcard:
		r.wild.removePath(strings.Split(reg.uri, "."))
	}
}

// best returns the registration a call of procedure goes to, by the WAMP
// precedence: the exact registration, else the longest matching prefix,
// else the wildcard registration whose fixed components come first (a
// fixed component beats a wildcard at the first position where the
// candidates differ). The caller holds r.mu.
func (r *realm) best(procedure string) *registration {
	if reg, ok := r.exact[procedure]; ok {
		return reg
	}
	for prefix := range r.prefixLengths.Prefixes(procedure) {
		if reg, ok := r.prefix[prefix]; ok {
			return reg
		}
	}
	if r.wild.children == nil && r.wild.any == nil {
		return nil
	}
	return r.wild.best(strings.Split(procedure, "."))
}

// count returns how many registrations the realm holds. The caller holds
// r.mu.
func (r *realm) count() int { return len(r.byID) }

// uriProblem says what is wrong with uri as a procedure under match, or
// returns "". A URI over the length bound is not quoted.
func (r *realm) uriProblem(uri, match string) string {
	if r.maxURI > 0 && len(uri) > r.maxURI {
		return fmt.Sprintf("procedure URI of %d bytes exceeds %d bytes (limits.max_uri_length)", len(uri), r.maxURI)
	}
	if !realms.ValidURI(uri, r.strict, match) {
		if match != "" && match != realms.MatchExact {
			return fmt.Sprintf("invalid %s procedure URI %q", match, uri)
		}
		return fmt.Sprintf("invalid procedure URI %q", uri)
	}
	return ""
}

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

// removePath clears the registration at the end of parts and prunes the
// nodes left empty; it reports whether n itself is now empty.
func (n *wildNode) removePath(parts []string) bool {
	if len(parts) == 0 {
		n.reg = nil
	} else if c := n.child(parts[0], false); c != nil && c.removePath(parts[1:]) {
		if parts[0] == "" {
			n.any = nil
		} else {
			delete(n.children, parts[0])
		}
	}
	return n.reg == nil && n.any == nil && len(n.children) == 0
}

// best walks parts preferring the fixed component to the wildcard at each
// level, so the first registration found is the one the WAMP precedence
// picks.
func (n *wildNode) best(parts []string) *registration {
	if len(parts) == 0 {
		return n.reg
	}
	if c := n.children[parts[0]]; c != nil {
		if reg := c.best(parts[1:]); reg != nil {
			return reg
		}
	}
	if n.any != nil {
		return n.any.best(parts[1:])
	}
	return nil
}

// pick returns the callee of reg that takes the next call, by its
// invocation policy. The caller holds the realm's lock (read suffices).
func (reg *registration) pick(random func(n int) int) *Session {
	return reg.pickFrom(reg.callees, random)
}

// pickLocal is pick among this node's own callees only (for a call
// relayed from another node, which chose this node already).
func (reg *registration) pickLocal(random func(n int) int) *Session {
	local := reg.callees
	for i, c := range reg.callees {
		if c.info.Remote { // rare: a registration shared across nodes
			local = append(make([]*Session, 0, len(reg.callees)), reg.callees[:i]...)
			for _, c := range reg.callees[i+1:] {
				if !c.info.Remote {
					local = append(local, c)
				}
			}
			break
		}
	}
	return reg.pickFrom(local, random)
}

func (reg *registration) pickFrom(callees []*Session, random func(n int) int) *Session {
	switch len(callees) {
	case 0:
		return nil
	case 1:
		return callees[0]
	}
	switch reg.policy {
	case wamp.InvokeRoundRobin:
		i := reg.next.Add(1) - 1
		return callees[i%uint64(len(callees))]
	case wamp.InvokeRandom:
		return callees[random(len(callees))]
	case wamp.InvokeLast:
		return callees[len(callees)-1]
	}
	return callees[0] // first (single never has two)
}

// details is the registration as wamp.registration.get and on_create
// describe it.
func (reg *registration) details() wamp.Dict {
	return wamp.Dict{
		"id":      reg.id,
		"created": reg.created.UTC().Format("2006-01-02T15:04:05.000Z"),
		"uri":     reg.uri,
		"match":   reg.match,
		"invoke":  reg.policy,
	}
}
