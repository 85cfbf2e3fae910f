package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-wamp/switchboard/config"
)

// TestBadConfigs loads every file in testdata/bad and compares the problems
// with the file's "# want:" lines, exactly and in any order.
func TestBadConfigs(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 15 {
		t.Fatalf("only %d bad configs", len(files))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, line := range strings.Split(string(data), "\n") {
				if w, ok := strings.CutPrefix(line, "# want: "); ok {
					want = append(want, w)
				}
			}
			if len(want) == 0 {
				t.Fatal("no # want: lines")
			}
			_, err = config.Parse(filepath.Base(path), data, nil)
			var cerr *config.Error
			if !errors.As(err, &cerr) {
				t.Fatalf("err = %v, want *config.Error", err)
			}
			got := strings.Split(cerr.Error(), "\n")
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestDefault(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse("default", config.DefaultYAML(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Listeners) != 1 || cfg.Listeners[0].Address != "127.0.0.1:8080" {
		t.Fatalf("default listeners = %+v, want one on 127.0.0.1:8080", cfg.Listeners)
	}
	ws := cfg.Listeners[0].WebSocket
	if ws == nil || ws.Path != "/ws" || !slices.Equal(ws.Serializers, []string{"json", "msgpack", "cbor"}) {
		t.Fatalf("default websocket = %+v", ws)
	}
	if slices.Contains(ws.AllowedOrigins, "*") {
		t.Fatal("default config allows every origin")
	}
	if ws.PingInterval != 30*time.Second || ws.MaxMessageSize != 4<<20 {
		t.Fatalf("default ping/size = %v/%d", ws.PingInterval, ws.MaxMessageSize)
	}
	if len(cfg.Realms) != 1 || cfg.Realms[0].Name != "realm1" || cfg.Realms[0].Anonymous.Role != "anonymous" {
		t.Fatalf("default realms = %+v", cfg.Realms)
	}
}

func TestDefaultsFillOmittedKeys(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse("min", []byte(`
listeners:
  - address: "127.0.0.1:1"
    websocket:
  - address: "unix:/tmp/x.sock"
    rawsocket: {}
realms:
  - name: r
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	ws, rs := cfg.Listeners[0].WebSocket, cfg.Listeners[1].RawSocket
	if ws == nil || ws.Path != "/ws" || ws.PingInterval != 30*time.Second || ws.MaxMessageSize != 4<<20 || len(ws.Serializers) != 3 {
		t.Fatalf("websocket defaults = %+v", ws)
	}
	if rs == nil || rs.MaxMessageSize != 4<<20 || rs.PingInterval != 30*time.Second || len(rs.Serializers) != 3 {
		t.Fatalf("rawsocket defaults = %+v", rs)
	}
	if cfg.ShutdownTimeout != 10*time.Second || cfg.Log.Level != "info" || cfg.Log.Format != "text" {
		t.Fatalf("top-level defaults = %+v", cfg)
	}
	// An explicit 0s ping interval disables keepalive rather than defaulting.
	cfg, err = config.Parse("noping", []byte("listeners: [{address: \"127.0.0.1:1\", websocket: {ping_interval: 0s}}]\nrealms: [{name: r}]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Listeners[0].WebSocket.PingInterval; got != 0 {
		t.Fatalf("ping_interval: 0s gave %v", got)
	}
}

func TestEnvOverrides(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"SWITCHBOARD_LOG_LEVEL":                                 "debug",
		"SWITCHBOARD_SHUTDOWN_TIMEOUT":                          "3s",
		"SWITCHBOARD_LISTENERS_0_ADDRESS":                       "0.0.0.0:9000",
		"SWITCHBOARD_LISTENERS_0_WEBSOCKET_PING_INTERVAL":       "5s",
		"SWITCHBOARD_LISTENERS_0_WEBSOCKET_SERIALIZERS":         "json,cbor",
		"SWITCHBOARD_REALMS_0_ROLES_0_PERMISSIONS_0_ALLOW_CALL": "false",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err := config.Parse("default", config.DefaultYAML(), lookup)
	if err != nil {
		t.Fatal(err)
	}
	ws := cfg.Listeners[0].WebSocket
	switch {
	case cfg.Log.Level != "debug":
		t.Errorf("log.level = %q", cfg.Log.Level)
	case cfg.ShutdownTimeout != 3*time.Second:
		t.Errorf("shutdown_timeout = %v", cfg.ShutdownTimeout)
	case cfg.Listeners[0].Address != "0.0.0.0:9000":
		t.Errorf("address = %q", cfg.Listeners[0].Address)
	case ws.PingInterval != 5*time.Second:
		t.Errorf("ping_interval = %v", ws.PingInterval)
	case !slices.Equal(ws.Serializers, []string{"json", "cbor"}):
		t.Errorf("serializers = %v", ws.Serializers)
	case cfg.Realms[0].Roles[0].Permissions[0].Allow.Call:
		t.Errorf("allow.call still true")
	}
	// A bad override is reported with its key like a bad file value.
	env = map[string]string{"SWITCHBOARD_LOG_LEVEL": "loud"}
	_, err = config.Parse("default", config.DefaultYAML(), lookup)
	if err == nil || !strings.Contains(err.Error(), `log.level: want debug|info|warn|error, got "loud"`) {
		t.Fatalf("bad env override: err = %v", err)
	}
}

// TestExamplesLoad loads config.yaml and every YAML block in the docs and
// README: the documentation never shows a config that does not load.
func TestExamplesLoad(t *testing.T) {
	t.Setenv("SWITCHBOARD_BRIDGE_SECRET", "an-example-secret-for-tests")
	t.Setenv("SWITCHBOARD_BACKEND_TICKET", "an-example-ticket-for-tests")
	if _, err := config.Load("../config.yaml"); err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	docs, _ := filepath.Glob("../docs/*.md")
	docs = append(docs, "../README.md")
	blocks := 0
	fence := regexp.MustCompile("(?s)```yaml\n(.*?)```")
	for _, doc := range docs {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range fence.FindAllSubmatch(data, -1) {
			blocks++
			// Secrets named in examples ("${NAME}") resolve to a placeholder.
			secrets := func(name string) (string, bool) {
				if strings.HasPrefix(name, config.EnvPrefix) {
					return "", false
				}
				return "placeholder-secret-for-the-docs-examples-0123456789", true
			}
			if _, err := config.Parse(filepath.Base(doc), m[1], secrets); err != nil {
				t.Errorf("%s yaml block %d: %v", doc, i+1, err)
			}
		}
	}
	if blocks == 0 {
		t.Fatal("no yaml blocks found in docs")
	}
}

// TestEveryKeyDocumented fails when a config key is missing from
// docs/config.md, where each key appears as `key.path` in backquotes.
func TestEveryKeyDocumented(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for _, key := range config.Keys() {
		if !strings.Contains(doc, "`"+key+"`") {
			t.Errorf("docs/config.md does not document `%s`", key)
		}
	}
}

func TestPrincipalsKeepTheirCase(t *testing.T) {
	t.Parallel()
	env := func(name string) (string, bool) {
		if name == "ALICE_TICKET" {
			return "alice-secret-ticket", true
		}
		return "", false
	}
	cfg, err := config.Parse("auth.yaml", []byte(`
listeners: [{address: "127.0.0.1:1", websocket: {}}]
realms:
  - name: app
    auth:
      ticket:
        principals:
          Alice: { ticket: "${ALICE_TICKET}", role: user }
          bob: { ticket: "bob-ticket-0123456", role: user }
    roles: [{name: user}]
`), env)
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Realms[0].Auth.Ticket.Principals
	if p["Alice"].Ticket != "alice-secret-ticket" || p["bob"].Role != "user" || len(p) != 2 {
		t.Fatalf("principals = %+v", p)
	}
}

// TestMistypedSecretNotEchoed: a secret given as a YAML number is refused
// with its key, and its digits appear in no problem.
func TestMistypedSecretNotEchoed(t *testing.T) {
	t.Parallel()
	_, err := config.Parse("auth.yaml", []byte(`
listeners: [{address: "127.0.0.1:1", websocket: {}}]
realms:
  - name: app
    auth:
      wampcra: { users: { alice: { secret: 31415926535897932, role: user } } }
      ticket: { principals: { bob: { ticket: 27182818284590452, role: user } } }
      jwt: { secret: 16180339887498948 }
    roles: [{name: user}]
`), nil)
	if err == nil {
		t.Fatal("loaded")
	}
	for _, digits := range []string{"31415926535897932", "27182818284590452", "16180339887498948", "3.14", "2.71", "1.61"} {
		if strings.Contains(err.Error(), digits) {
			t.Errorf("the error shows the secret %s:\n%v", digits, err)
		}
	}
	for _, key := range []string{"users[alice].secret", "principals[bob].ticket", "jwt.secret"} {
		if !strings.Contains(err.Error(), key+": want a string") {
			t.Errorf("the error does not name %s:\n%v", key, err)
		}
	}
}

// TestAuthProceduresRegisteredByBackends: the anonymous role must not be
// able to register the dynamic authenticator or an authorizer
// (testdata/bad/auth_procedures.yaml); a more specific permission that
// denies it, or a grant to an authenticated role only, loads.
func TestAuthProceduresRegisteredByBackends(t *testing.T) {
	t.Parallel()
	_, err := config.Parse("auth.yaml", []byte(`
listeners: [{address: "127.0.0.1:1", websocket: {}}]
realms:
  - name: app
    anonymous: { role: anonymous }
    auth:
      dynamic: { procedure: app.auth.authenticate }
    roles:
      - name: anonymous
        permissions:
          - { uri: "app.", match: prefix, allow: { register: true, call: true } }
          - { uri: "app.auth.", match: prefix, allow: { call: true } }
          - { uri: "app..authorize", match: wildcard, allow: { register: true } }
          - { uri: "app.authz.{authid}", match: exact, allow: { register: true } }
      - name: user
        authorizer: app.auth.authorize
      - name: backend
        permissions:
          - { uri: "app.authz.", match: prefix, allow: { register: true } }
    options: { strict_uri: false }
`), nil)
	if err != nil {
		t.Fatalf("a config whose anonymous role cannot register the auth procedures is refused: %v", err)
	}
}

// TestCalleeProcedurePerRealm: bridges of one realm may answer different
// procedures, and bridges of different realms the same one
// (testdata/bad/duplicate_callee.yaml has the refused case).
func TestCalleeProcedurePerRealm(t *testing.T) {
	t.Parallel()
	callee := func(proc string) string {
		return `{ procedure: ` + proc + `, url: "http://127.0.0.1:8000/rpc", secret: "a-long-enough-secret-123" }`
	}
	_, err := config.Parse("callees.yaml", []byte(`
listeners:
  - { address: "127.0.0.1:8080", bridge: { realm: realm1, callees: [`+callee("app.rpc")+`] } }
  - { address: "127.0.0.1:8081", bridge: { realm: realm1, callees: [`+callee("app.other")+`] } }
  - { address: "127.0.0.1:8082", bridge: { realm: realm2, callees: [`+callee("app.rpc")+`] } }
realms:
  - { name: realm1, anonymous: { role: anonymous }, roles: [{ name: anonymous }] }
  - { name: realm2, anonymous: { role: anonymous }, roles: [{ name: anonymous }] }
`), nil)
	if err != nil {
		t.Fatal(err)
	}
}

// TestNonStringKeys: YAML mappings with keys that are not strings (an
// unquoted numeric authid, a flow set like {0}) are read by the keys' text
// instead of crashing the decoder; two keys with one text are a problem.
func TestNonStringKeys(t *testing.T) {
	cfg, err := config.Parse("numeric.yaml", []byte(`
listeners: [{ address: "127.0.0.1:0", websocket: {} }]
realms:
  - name: realm1
    auth:
      wampcra:
        users:
          123: { secret: "a-secret-of-sixteen-chars", role: user }
    roles: [{ name: user }]
`), nil)
	if err != nil {
		t.Fatalf("numeric authid: %v", err)
	}
	if _, ok := cfg.Realms[0].Auth.WAMPCRA.Users["123"]; !ok {
		t.Fatalf("users %v, want authid \"123\"", cfg.Realms[0].Auth.WAMPCRA.Users)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"realms:\n  - name: r\n    auth:\n      wampcra:\n        users:\n          A: {0}\n", "realms[0].auth.wampcra.users[A].0: unknown key"},
		{"realms:\n  - name: r\n    auth:\n      wampcra:\n        users: {1: {role: x}, \"1\": {role: y}}\n", "already defined"},
	} {
		_, err := config.Parse("bad.yaml", []byte(tc.yaml), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want a problem naming %s", tc.yaml, err, tc.want)
		}
	}
}
