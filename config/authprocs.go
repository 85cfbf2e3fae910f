package config

import (
	"fmt"
	"strings"
)

// validateAuthProcedures refuses a realm whose anonymous role may register
// the procedures the router calls to authenticate and authorize: the
// dynamic authenticator receives every ticket and session cookie, and a
// role's authorizer decides that role's permissions, so whoever registers
// them first owns the realm. Only the anonymous role is checked: every
// other role is reached by authenticating. An anonymous role with its own
// authorizer is decided at run time and cannot be checked here.
func validateAuthProcedures(ps *problems, key string, r Realm) {
	if r.Anonymous == nil {
		return
	}
	anon := -1
	for j, role := range r.Roles {
		if role.Name == r.Anonymous.Role {
			anon = j
		}
	}
	if anon < 0 || r.Roles[anon].Authorizer != "" {
		return
	}
	type procedure struct{ uri, what string }
	var procs []procedure
	if d := r.Auth.Dynamic; d != nil && d.Procedure != "" {
		procs = append(procs, procedure{d.Procedure, "the dynamic authenticator, which receives every ticket and cookie"})
	}
	for _, role := range r.Roles {
		if role.Authorizer != "" {
			procs = append(procs, procedure{role.Authorizer, fmt.Sprintf("the authorizer of role %q", role.Name)})
		}
	}
	role := r.Roles[anon]
	for _, p := range procs {
		k := governingPermission(role.Permissions, p.uri, role.Name)
		if k < 0 || !role.Permissions[k].Allow.Register {
			continue
		}
		ps.add(fmt.Sprintf("%s.roles[%d].permissions[%d].allow.register", key, anon, k),
			"the anonymous role %q may register %q, %s: grant register on it to an authenticated backend role only",
			role.Name, p.uri, p.what)
	}
}

// governingPermission returns the index of the permission that decides uri
// for a session of role, with the realms package's rule: an exact match,
// else the longest prefix, else the wildcard with the most fixed
// components, the earliest on a tie. {authrole} is filled in; templates
// with {authid} are left out (an anonymous session's authid is random).
// -1 means none matches (denied).
func governingPermission(perms []Permission, uri, role string) int {
	exact, prefix, wildcard := -1, -1, -1
	prefixLen, fixed := -1, -1
	parts := strings.Split(uri, ".")
	for k, p := range perms {
		if strings.Contains(p.URI, "{authid}") {
			continue
		}
		u := strings.ReplaceAll(p.URI, "{authrole}", role)
		switch p.Match {
		case MatchPrefix:
			if strings.HasPrefix(uri, u) && len(u) > prefixLen {
				prefix, prefixLen = k, len(u)
			}
		case MatchWildcard:
			pattern := strings.Split(u, ".")
			if len(pattern) != len(parts) {
				continue
			}
			n, ok := 0, true
			for i, c := range pattern {
				if c != "" {
					n++
					ok = ok && c == parts[i]
				}
			}
			if ok && n > fixed {
				wildcard, fixed = k, n
			}
		default:
			if u == uri && exact < 0 {
				exact = k
			}
		}
	}
	switch {
	case exact >= 0:
		return exact
	case prefix >= 0:
		return prefix
	}
	return wildcard
}
