package realms

import (
	"sync/atomic"

	nexusrouter "github.com/gammazero/nexus/v3/router"
	"github.com/gammazero/nexus/v3/wamp"
)

// Authorizer enforces role permissions on every PUBLISH, SUBSCRIBE, CALL and
// REGISTER of a realm, and applies each permission's disclose setting.
type Authorizer struct {
	state atomic.Pointer[roleState]
	// extraProtected are protected procedures beyond the roles' own
	// authorizers (the dynamic authenticator): see Protect.
	extraProtected atomic.Pointer[[]string]
}

// roleState is one configuration's roles; Update swaps it whole, so a check
// sees either the old rules or the new ones.
type roleState struct {
	roles   map[string]*permissionSet
	dynamic map[string]*DynamicAuthorizer
	// protected are the procedures the router calls with secrets (the
	// dynamic authenticator, the authorizers): see mayCover.
	protected []string
}

var _ nexusrouter.Authorizer = (*Authorizer)(nil)

// NewAuthorizer builds an authorizer for roles.
func NewAuthorizer(roles []Role) *Authorizer {
	a := &Authorizer{}
	a.Update(roles)
	return a
}

// Update replaces the roles (configuration reload); checks in progress
// finish with the old ones.
func (a *Authorizer) Update(roles []Role) {
	st := &roleState{roles: make(map[string]*permissionSet, len(roles)), dynamic: map[string]*DynamicAuthorizer{}}
	if extra := a.extraProtected.Load(); extra != nil {
		st.protected = append(st.protected, *extra...)
	}
	for _, r := range roles {
		st.roles[r.Name] = newPermissionSet(r.Permissions)
		if r.Authorizer != nil {
			st.dynamic[r.Name] = r.Authorizer
			st.protected = append(st.protected, r.Authorizer.Procedure)
		}
	}
	a.state.Store(st)
}

// Protect adds procedures (the dynamic authenticator's) to those that only
// an exact permission lets a role register, beside every role's
// authorizer procedure; roles is the current set (as for Update).
func (a *Authorizer) Protect(roles []Role, procedures ...string) {
	p := append([]string(nil), procedures...)
	a.extraProtected.Store(&p)
	a.Update(roles)
}

// mayCover reports whether the subject may register uri under match as far
// as the protected procedures go. The router calls them with tickets,
// cookies and every authorization question: a registration that could
// receive such a call (the procedure itself, or a pattern that matches it)
// needs an exact permission to register that very procedure. A broad grant
// (prefix "", a wildcard) is not enough, nor is a dynamic authorizer.
func (st *roleState) mayCover(sub Subject, uri, match string) bool {
	for _, proc := range st.protected {
		if !patternCovers(uri, match, proc) {
			continue
		}
		set, ok := st.roles[sub.Role]
		if !ok || st.dynamic[sub.Role] != nil {
			return false
		}
		p := set.lookup(proc, sub)
		if p == nil || p.Match != MatchExact || !p.Allow.Allows(ActionRegister) {
			return false
		}
	}
	return true
}

// Protected reports whether procedure is one the router calls with
// secrets (a role's authorizer, the dynamic authenticator): its callee's
// registration must still be allowed when a call is routed to it (a
// reload may have made it protected after it was registered).
func (a *Authorizer) Protected(procedure string) bool {
	for _, p := range a.state.Load().protected {
		if p == procedure {
			return true
		}
	}
	return false
}

// patternCovers reports whether a registration of uri under match would
// receive calls of procedure.
func patternCovers(uri, match, procedure string) bool {
	p := NewPattern(uri, match)
	return p.Matches(procedure)
}

// Permission returns the permission that governs action on uri for the
// subject, and whether the action is allowed.
func (a *Authorizer) Permission(sub Subject, uri string, action Action) (*Permission, bool) {
	st := a.state.Load()
	if d, ok := st.dynamic[sub.Role]; ok {
		allow, disclose := d.decide(sub, uri, action)
		p := &Permission{URI: uri, Match: MatchExact, Disclose: Disclose{Caller: disclose, Publisher: disclose}}
		return p, allow
	}
	set, ok := st.roles[sub.Role]
	if !ok {
		return nil, false
	}
	p := set.lookup(uri, sub)
	if p == nil {
		return nil, false
	}
	return p, p.Allow.Allows(action)
}

// AllowsPattern reports whether the subject may take action (subscribe or
// register) on uri under match: for a prefix or wildcard pattern, only if
// the action is allowed on every URI the pattern can match, so that a
// pattern cannot reach around a more specific deny (app.adm or app..secret
// past a deny on app.admin.). A dynamic authorizer is asked about the
// pattern itself, with the match policy in its options.
func (a *Authorizer) AllowsPattern(sub Subject, uri, match string, action Action) bool {
	if match == "" {
		match = MatchExact
	}
	st := a.state.Load()
	if d, ok := st.dynamic[sub.Role]; ok {
		allow, _ := d.decideMatch(sub, uri, match, action)
		return allow
	}
	set, ok := st.roles[sub.Role]
	if !ok {
		return false
	}
	return set.forSubject(sub).allowsPattern(uri, match, action)
}

// AllowsRegister reports whether the subject may register uri under match:
// the action is allowed on every procedure the pattern can match, and no
// protected procedure is reached by a grant broader than its own.
func (a *Authorizer) AllowsRegister(sub Subject, uri, match string) bool {
	return a.AllowsPattern(sub, uri, match, ActionRegister) && a.state.Load().mayCover(sub, uri, match)
}

// Authorize implements nexus's Authorizer. nexus holds the session's lock
// while it runs. A permission with disclose on sets disclose_me on PUBLISH
// and CALL, as Crossbar does; a client may still ask to disclose its own
// identity. A callee's disclose_caller request, which would reveal other
// sessions' identities, is dropped: only the callers' permissions decide.
func (a *Authorizer) Authorize(sess *wamp.Session, msg wamp.Message) (bool, error) {
	sub := Subject{SessionID: sess.ID}
	sub.Role, _ = wamp.AsString(sess.Details["authrole"])
	sub.AuthID, _ = wamp.AsString(sess.Details["authid"])
	switch m := msg.(type) {
	case *wamp.Publish:
		p, ok := a.Permission(sub, string(m.Topic), ActionPublish)
		if ok {
			m.Options = setDisclose(m.Options, p.Disclose.Publisher)
		}
		return ok, nil
	case *wamp.Subscribe:
		match, _ := wamp.AsString(m.Options[wamp.OptMatch])
		return a.AllowsPattern(sub, string(m.Topic), match, ActionSubscribe), nil
	case *wamp.Call:
		p, ok := a.Permission(sub, string(m.Procedure), ActionCall)
		if ok {
			m.Options = setDisclose(m.Options, p.Disclose.Caller)
		}
		return ok, nil
	case *wamp.Register:
		match, _ := wamp.AsString(m.Options[wamp.OptMatch])
		ok := a.AllowsRegister(sub, string(m.Procedure), match)
		if ok && m.Options != nil {
			delete(m.Options, wamp.OptDiscloseCaller)
		}
		return ok, nil
	}
	return true, nil
}

func setDisclose(opts wamp.Dict, disclose bool) wamp.Dict {
	if disclose {
		if opts == nil {
			opts = wamp.Dict{}
		}
		opts[wamp.OptDiscloseMe] = true
	}
	return opts
}
