package realms

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gammazero/nexus/v3/wamp"
)

// Action is one of the four WAMP actions a permission controls.
type Action string

// The actions.
const (
	ActionCall      Action = "call"
	ActionRegister  Action = "register"
	ActionPublish   Action = "publish"
	ActionSubscribe Action = "subscribe"
)

// Actions says which actions a permission allows.
type Actions struct {
	Call, Register, Publish, Subscribe bool
}

// Allows reports whether a is allowed.
func (a Actions) Allows(action Action) bool {
	switch action {
	case ActionCall:
		return a.Call
	case ActionRegister:
		return a.Register
	case ActionPublish:
		return a.Publish
	case ActionSubscribe:
		return a.Subscribe
	}
	return false
}

// Disclose says whose identity the router reveals for URIs of a permission.
type Disclose struct {
	// Caller reveals the caller to the callee.
	Caller bool
	// Publisher reveals the publisher to subscribers.
	Publisher bool
}

// Permission grants Allow on the URIs matching URI under Match.
type Permission struct {
	URI      string
	Match    string
	Allow    Actions
	Disclose Disclose
}

// Role is a named set of permissions, or a dynamic authorizer.
type Role struct {
	Name        string
	Permissions []Permission
	// Authorizer, when set, decides instead of Permissions.
	Authorizer *DynamicAuthorizer
}

// Subject is who asks: the session, its authid and role.
type Subject struct {
	SessionID    wamp.ID
	AuthID, Role string
}

// permissionSet finds the most specific permission for a URI: an exact match,
// else the longest matching prefix, else the wildcard with the most fixed
// components (earliest in the configuration on a tie). Permissions whose URI
// holds {authid} or {authrole} are templates, instantiated per subject.
type permissionSet struct {
	exact      map[string]*Permission
	exactOrder []*Permission // the values of exact, in configuration order
	prefixes   []*Permission // longest first
	// prefixByURI and prefixLengths find the longest matching prefix with
	// one map lookup per distinct length (the first listed wins a tie).
	prefixByURI   map[string]*Permission
	prefixLengths PrefixLengths
	wildcards     []*wildcard // most specific first
	templates     []Permission
	static        []Permission // the permissions that are not templates

	// instancesOf caches, per (authid, role), the set of the templates'
	// instances, so that a lookup does not build one each time; it is
	// bounded by maxCachedSubjects and cleared when full.
	instancesOf sync.Map // subjectKey -> *permissionSet
	cached      atomic.Int64
}

// subjectKey is what a template's instances depend on.
type subjectKey struct{ authID, role string }

// maxCachedSubjects bounds the subjects whose template instances are kept.
const maxCachedSubjects = 10000

// isTemplate reports whether a permission URI holds a placeholder.
func isTemplate(uri string) bool {
	return strings.Contains(uri, "{authid}") || strings.Contains(uri, "{authrole}")
}

// validComponent reports whether s can stand for one URI component: a value
// with a "." could reach into another user's namespace.
func validComponent(s string) bool {
	return s != "" && !strings.ContainsAny(s, ".#{} \t\n\r")
}

// instantiate fills the templates for subject; templates whose values are
// not valid URI components are left out (they grant nothing).
func (s *permissionSet) instantiate(sub Subject) *permissionSet {
	key := subjectKey{sub.AuthID, sub.Role}
	if set, ok := s.instancesOf.Load(key); ok {
		return set.(*permissionSet)
	}
	set := newPermissionSet(s.instances(sub))
	if s.cached.Add(1) > maxCachedSubjects {
		s.instancesOf.Clear()
		s.cached.Store(1)
	}
	s.instancesOf.Store(key, set)
	return set
}

// forSubject returns one set that decides for sub as lookup does: the
// static permissions, then the subject's instances of the templates (the
// static ones win ties, as in lookup).
func (s *permissionSet) forSubject(sub Subject) *permissionSet {
	if len(s.templates) == 0 {
		return s
	}
	return newPermissionSet(append(slices.Clone(s.static), s.instances(sub)...))
}

func (s *permissionSet) instances(sub Subject) []Permission {
	var perms []Permission
	for _, t := range s.templates {
		if strings.Contains(t.URI, "{authid}") && !validComponent(sub.AuthID) {
			continue
		}
		if strings.Contains(t.URI, "{authrole}") && !validComponent(sub.Role) {
			continue
		}
		p := t
		p.URI = strings.NewReplacer("{authid}", sub.AuthID, "{authrole}", sub.Role).Replace(t.URI)
		perms = append(perms, p)
	}
	return perms
}

type wildcard struct {
	perm  *Permission
	parts []string
	fixed int
}

func newPermissionSet(perms []Permission) *permissionSet {
	s := &permissionSet{exact: map[string]*Permission{}}
	for i := range perms {
		p := &perms[i]
		if isTemplate(p.URI) {
			s.templates = append(s.templates, *p)
			continue
		}
		s.static = append(s.static, *p)
		switch p.Match {
		case MatchPrefix:
			s.prefixes = append(s.prefixes, p)
		case MatchWildcard:
			parts := strings.Split(p.URI, ".")
			fixed := 0
			for _, part := range parts {
				if part != "" {
					fixed++
				}
			}
			s.wildcards = append(s.wildcards, &wildcard{perm: p, parts: parts, fixed: fixed})
		default:
			if _, dup := s.exact[p.URI]; !dup {
				s.exact[p.URI] = p
				s.exactOrder = append(s.exactOrder, p)
			}
		}
	}
	slices.SortStableFunc(s.prefixes, func(a, b *Permission) int { return cmp.Compare(len(b.URI), len(a.URI)) })
	s.prefixByURI = make(map[string]*Permission, len(s.prefixes))
	for _, p := range s.prefixes {
		if _, dup := s.prefixByURI[p.URI]; dup {
			continue
		}
		s.prefixByURI[p.URI] = p
		s.prefixLengths.Add(p.URI)
	}
	slices.SortStableFunc(s.wildcards, func(a, b *wildcard) int { return cmp.Compare(b.fixed, a.fixed) })
	return s
}

// lookup returns the permission that governs uri for sub, or nil.
func (s *permissionSet) lookup(uri string, sub Subject) *Permission {
	if len(s.templates) == 0 {
		return s.lookupStatic(uri)
	}
	sets := [2]*permissionSet{s, s.instantiate(sub)}
	for _, set := range sets {
		if p, ok := set.exact[uri]; ok {
			return p
		}
	}
	var best *Permission
	for _, set := range sets {
		if p := set.longestPrefix(uri); p != nil && (best == nil || len(p.URI) > len(best.URI)) {
			best = p
		}
	}
	if best != nil {
		return best
	}
	parts := strings.Split(uri, ".")
	var bestW *wildcard
	for _, set := range sets {
		for _, w := range set.wildcards {
			if WildcardMatch(w.parts, parts) {
				if bestW == nil || w.fixed > bestW.fixed {
					bestW = w
				}
				break
			}
		}
	}
	if bestW != nil {
		return bestW.perm
	}
	return nil
}

func (s *permissionSet) lookupStatic(uri string) *Permission {
	if p, ok := s.exact[uri]; ok {
		return p
	}
	if p := s.longestPrefix(uri); p != nil {
		return p
	}
	if len(s.wildcards) == 0 {
		return nil
	}
	parts := strings.Split(uri, ".")
	for _, w := range s.wildcards {
		if WildcardMatch(w.parts, parts) {
			return w.perm
		}
	}
	return nil
}

// longestPrefix returns the prefix permission with the longest URI that
// is a prefix of uri (the first listed on a tie), or nil.
func (s *permissionSet) longestPrefix(uri string) *Permission {
	for prefix := range s.prefixLengths.Prefixes(uri) {
		if p, ok := s.prefixByURI[prefix]; ok {
			return p
		}
	}
	return nil
}
