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
		_, got := a.Permission("user", tc.uri, tc.action)
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
		_, got := a.Permission("patterns", tc.uri, tc.action)
		if got != tc.want {
			t.Errorf("%s %s: allowed=%v, want %v", tc.action, tc.uri, got, tc.want)
		}
	}
	if _, ok := a.Permission("nobody", "other.topic", ActionSubscribe); ok {
		t.Error("an unknown role was allowed")
	}
	empty := NewAuthorizer([]Role{{Name: "none"}})
	if _, ok := empty.Permission("none", "a", ActionCall); ok {
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
