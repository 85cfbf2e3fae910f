package realms

import (
	"testing"

	"github.com/gammazero/nexus/v3/wamp"
)

func TestPermissionMostSpecificWins(t *testing.T) {
	t.Parallel()
	all := Actions{Call: true, Register: true, Publish: true, Subscribe: true}
	a := NewAuthorizer([]Role{{Name: "user", Permissions: []Permission{
		{URI: "", Match: MatchPrefix, Allow: Actions{Subscribe: true}},
		{URI: "app.", Match: MatchPrefix, Allow: Actions{Publish: true}},
		{URI: "app.admin.", Match: MatchPrefix, Allow: Actions{}},
		{URI: "app.admin.status", Match: MatchExact, Allow: Actions{Call: true}},
		{URI: "app..feed", Match: MatchWildcard, Allow: Actions{Register: true}},
	}}, {Name: "patterns", Permissions: []Permission{
		{URI: "...", Match: MatchWildcard, Allow: all},
		{URI: "..z.w", Match: MatchWildcard, Allow: Actions{Call: true}},
		{URI: "q..z.w", Match: MatchWildcard, Allow: Actions{Subscribe: true}},
	}}})
	for _, tc := range []struct {
		uri    string
		action Action
		want   bool
	}{
		{"other.topic", ActionSubscribe, true},     // "" prefix
		{"other.topic", ActionPublish, false},      // "" prefix lacks publish
		{"app.news", ActionPublish, true},          // longer prefix wins over ""
		{"app.news", ActionSubscribe, false},       // ... and lacks subscribe
		{"app.admin.users", ActionPublish, false},  // longest prefix denies
		{"app.admin.status", ActionCall, true},     // exact beats prefixes
		{"app.admin.status", ActionPublish, false}, // exact lacks publish
		{"app.y.feed", ActionRegister, false},      // prefix "app." beats wildcard
		{"a.b", ActionSubscribe, true},             // "" prefix
	} {
		_, got := a.Permission(Subject{Role: "user"}, tc.uri, tc.action)
		if got != tc.want {
			t.Errorf("%s %s: allowed=%v, want %v", tc.action, tc.uri, got, tc.want)
		}
	}
	for _, tc := range []struct {
		uri    string
		action Action
		want   bool
	}{
		{"a.b.c.d", ActionPublish, true},   // only "..." matches
		{"a.b.z.w", ActionCall, true},      // "..z.w" (2 fixed) beats "..."
		{"a.b.z.w", ActionPublish, false},  // ... and lacks publish
		{"q.r.z.w", ActionSubscribe, true}, // "q..z.w" (3 fixed) wins
		{"q.r.z.w", ActionCall, false},     // ... and lacks call
		{"a.b.c", ActionSubscribe, false},  // no pattern with 3 parts
	} {
		_, got := a.Permission(Subject{Role: "patterns"}, tc.uri, tc.action)
		if got != tc.want {
			t.Errorf("%s %s: allowed=%v, want %v", tc.action, tc.uri, got, tc.want)
		}
	}
	if _, ok := a.Permission(Subject{Role: "nobody"}, "other.topic", ActionSubscribe); ok {
		t.Error("an unknown role was allowed")
	}
	empty := NewAuthorizer([]Role{{Name: "none"}})
	if _, ok := empty.Permission(Subject{Role: "none"}, "a", ActionCall); ok {
		t.Error("a role without permissions was allowed")
	}
}

func TestAuthorizeSetsDisclosure(t *testing.T) {
	t.Parallel()
	a := NewAuthorizer([]Role{{Name: "r", Permissions: []Permission{
		{URI: "open.", Match: MatchPrefix, Allow: Actions{Call: true, Publish: true, Register: true}},
		{URI: "shown.", Match: MatchPrefix, Allow: Actions{Call: true, Publish: true},
			Disclose: Disclose{Caller: true, Publisher: true}},
	}}})
	sess := &wamp.Session{Details: wamp.Dict{"authrole": "r"}}

	call := &wamp.Call{Procedure: "open.p", Options: wamp.Dict{}}
	if ok, _ := a.Authorize(sess, call); !ok || call.Options["disclose_me"] != nil {
		t.Errorf("open call: ok=%v options=%v, want allowed without disclose_me", ok, call.Options)
	}
	call = &wamp.Call{Procedure: "open.p", Options: wamp.Dict{"disclose_me": true}}
	if ok, _ := a.Authorize(sess, call); !ok || call.Options["disclose_me"] != true {
		t.Errorf("open call asking disclosure: ok=%v options=%v, want disclose_me kept", ok, call.Options)
	}
	call = &wamp.Call{Procedure: "shown.p"}
	if ok, _ := a.Authorize(sess, call); !ok || call.Options["disclose_me"] != true {
		t.Errorf("shown call: ok=%v options=%v, want disclose_me", ok, call.Options)
	}
	reg := &wamp.Register{Procedure: "open.p", Options: wamp.Dict{"disclose_caller": true}}
	if ok, _ := a.Authorize(sess, reg); !ok || reg.Options["disclose_caller"] != nil {
		t.Errorf("register: ok=%v options=%v, want disclose_caller dropped", ok, reg.Options)
	}
	if ok, _ := a.Authorize(sess, &wamp.Call{Procedure: "closed.p"}); ok {
		t.Error("call outside every permission was allowed")
	}
	if ok, _ := a.Authorize(sess, &wamp.Subscribe{Topic: "open.t"}); ok {
		t.Error("subscribe without the subscribe action was allowed")
	}
}

func TestPermissionTemplates(t *testing.T) {
	t.Parallel()
	a := NewAuthorizer([]Role{{Name: "user", Permissions: []Permission{
		{URI: "app.user.{authid}.", Match: MatchPrefix, Allow: Actions{Subscribe: true}},
		{URI: "app.user.{authid}.inbox", Match: MatchExact, Allow: Actions{Subscribe: true, Publish: true}},
		{URI: "app.role.{authrole}.", Match: MatchPrefix, Allow: Actions{Subscribe: true}},
		{URI: "app.shared.", Match: MatchPrefix, Allow: Actions{Subscribe: true}},
		{URI: "app.user.", Match: MatchPrefix, Allow: Actions{}},
	}}})
	alice := Subject{AuthID: "alice", Role: "user"}
	bob := Subject{AuthID: "bob", Role: "user"}
	evil := Subject{AuthID: "alice.x", Role: "user"}
	for _, tc := range []struct {
		sub    Subject
		uri    string
		action Action
		want   bool
	}{
		{alice, "app.user.alice.news", ActionSubscribe, true},
		{alice, "app.user.alice.", ActionSubscribe, true},
		{alice, "app.user.bob.news", ActionSubscribe, false}, // the static "app.user." prefix denies
		{bob, "app.user.bob.news", ActionSubscribe, true},
		{bob, "app.user.alice.news", ActionSubscribe, false},
		{alice, "app.user.alice.inbox", ActionPublish, true}, // exact template beats prefix
		{alice, "app.user.alice.other", ActionPublish, false},
		{alice, "app.role.user.news", ActionSubscribe, true},
		{alice, "app.role.admin.news", ActionSubscribe, false},
		{alice, "app.shared.chat", ActionSubscribe, true},
		{alice, "app.user.", ActionSubscribe, false},            // the whole user namespace
		{evil, "app.user.alice.x.news", ActionSubscribe, false}, // an authid with a dot gets no template
		{evil, "app.user.alice.news", ActionSubscribe, false},
	} {
		if _, got := a.Permission(tc.sub, tc.uri, tc.action); got != tc.want {
			t.Errorf("%s %s %s: allowed=%v, want %v", tc.sub.AuthID, tc.action, tc.uri, got, tc.want)
		}
	}
}

// TestProtectedProcedures: a REGISTER that could receive the calls of a
// protected procedure (the dynamic authenticator, a role's authorizer)
// needs an exact register permission on that procedure.
func TestProtectedProcedures(t *testing.T) {
	t.Parallel()
	roles := []Role{
		{Name: "backend", Permissions: []Permission{
			{URI: "auth.login", Match: MatchExact, Allow: Actions{Register: true}},
			{URI: "", Match: MatchPrefix, Allow: Actions{Register: true}},
		}},
		{Name: "broad", Permissions: []Permission{{URI: "", Match: MatchPrefix, Allow: Actions{Register: true}}}},
		{Name: "user", Authorizer: &DynamicAuthorizer{Procedure: "auth.decide"}},
	}
	a := NewAuthorizer(roles)
	a.Protect(roles, "auth.login")
	register := func(role, uri, match string) bool {
		ok, err := a.Authorize(&wamp.Session{Details: wamp.Dict{"authrole": role}},
			&wamp.Register{Request: 1, Options: wamp.Dict{"match": match}, Procedure: wamp.URI(uri)})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	for _, tc := range []struct {
		role, uri, match string
		want             bool
	}{
		{"backend", "auth.login", "", true},
		{"backend", "auth.", MatchPrefix, false}, // also covers auth.decide, granted by prefix only
		{"backend", "auth.l", MatchPrefix, true},
		{"backend", "other", "", true},
		{"broad", "auth.login", "", false},
		{"broad", "auth.decide", "", false},
		{"broad", "auth.", MatchPrefix, false},
		{"broad", "", MatchPrefix, false},
		{"broad", "auth..x", MatchWildcard, true},
		{"broad", ".login", MatchWildcard, false},
		{"broad", "auth.logout", "", true},
		{"broad", "app.", MatchPrefix, true},
	} {
		if got := register(tc.role, tc.uri, tc.match); got != tc.want {
			t.Errorf("%s registers %q (%s): %v, want %v", tc.role, tc.uri, tc.match, got, tc.want)
		}
	}
	// Reload keeps the extra protection and follows the roles' authorizers.
	a.Protect(roles[:2], "auth.login")
	if !register("broad", "auth.decide", "") {
		t.Error("auth.decide still protected after its role's authorizer was removed")
	}
	if register("broad", "auth.login", "") {
		t.Error("auth.login no longer protected after a reload")
	}
}
