package router_test

import (
	"strings"
	"testing"
	"time"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// TestAnonymousMayNotRegisterAuthProcedures: a router whose anonymous role
// may register the dynamic authenticator (which receives every ticket and
// cookie) does not start, and a reload that would allow it is refused;
// with the procedures reserved to an authenticated backend
// (dynamicRealm), it starts and the backend registers them
// (TestDynamicAuthenticator).
func TestAnonymousMayNotRegisterAuthProcedures(t *testing.T) {
	t.Parallel()
	open := routertest.Config() // anonymous may do everything
	open.Realms[0].Auth.Dynamic = &config.DynamicAuth{Procedure: "com.example.authenticate", Methods: []string{"ticket"}, Timeout: time.Second}
	_, err := router.New(open, router.Options{})
	if err == nil || !strings.Contains(err.Error(), "realms[0].roles[0].permissions[0].allow.register") ||
		!strings.Contains(err.Error(), `"com.example.authenticate"`) {
		t.Fatalf("router.New: %v, want the anonymous role's register permission refused", err)
	}

	srv := routertest.Start(t, dynamicRealm)
	next := routertest.Config()
	dynamicRealm(next)
	next.Realms[0].Roles[0].Permissions = append(next.Realms[0].Roles[0].Permissions,
		config.Permission{URI: "com.example.authenticate", Match: "exact", Allow: config.Allow{Register: true}})
	if err := srv.Reload(next); err == nil || !strings.Contains(err.Error(), "allow.register") {
		t.Fatalf("reload: %v, want refused", err)
	}
	safe := routertest.Config()
	dynamicRealm(safe)
	if err := srv.Reload(safe); err != nil {
		t.Fatalf("reload of the same safe config: %v", err)
	}
}
