package router_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

const jwtSecret = "jwt-hmac-secret-for-tests-0123456789abcdef"

// authApp is the web app's auth view: it admits the session cookie
// "good-<user>", admits "role-only" with a role and no authid and "echo"
// with the HELLO's authid, refuses "bad", is slow for "slow" and fails for
// "boom".
func authApp(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Realm, AuthID, AuthMethod, Ticket string
			Transport                         struct{ Headers map[string][]string }
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		cookie := strings.Join(req.Transport.Headers["Cookie"], ";")
		session := strings.TrimPrefix(cookie, "sessionid=")
		if req.AuthMethod == "ticket" {
			session = req.Ticket
		}
		switch {
		case strings.HasPrefix(session, "good-"):
			_ = json.NewEncoder(w).Encode(map[string]any{"role": "user", "authid": strings.TrimPrefix(session, "good-")})
		case session == "role-only":
			_ = json.NewEncoder(w).Encode(map[string]any{"role": "user"})
		case session == "echo":
			_ = json.NewEncoder(w).Encode(map[string]any{"role": "user", "authid": req.AuthID})
		case session == "slow":
			time.Sleep(2 * time.Second)
		case session == "boom":
			http.Error(w, "oops", http.StatusInternalServerError)
		default:
			http.Error(w, "who are you?", http.StatusForbidden)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// authRealm: realm1 with ticket principals, JWT (HS256 and EdDSA) and the
// auth webhook for anonymous joins; role user may subscribe to its own
// namespace and a shared one.
func authRealm(t *testing.T, appURL string) (func(*config.Config), ed25519.PrivateKey) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	der, err := x509.MarshalPKIXPublicKey(pub)
	must(t, err)
	keyFile := filepath.Join(t.TempDir(), "jwt.pub")
	must(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600))
	return func(c *config.Config) {
		// These tests refuse many joins from 127.0.0.1: each must be checked.
		c.AuthLimits.MaxFailuresPerMinute = 1000
		r := &c.Realms[0]
		r.Anonymous = nil
		r.Roles = append(r.Roles, config.Role{Name: "user", Permissions: []config.Permission{
			{URI: "app.user.{authid}.", Match: "prefix", Allow: config.Allow{Subscribe: true}},
			{URI: "app.shared.", Match: "prefix", Allow: config.Allow{Subscribe: true}},
		}})
		r.Auth = config.Auth{
			Ticket: &config.TicketAuth{Principals: map[string]config.TicketPrincipal{
				"Alice": {Ticket: "alice-ticket-0123", Role: "user"},
			}},
			JWT: &config.JWTAuth{Algorithms: []string{"HS256", "EdDSA"}, Secret: jwtSecret, PublicKeyFile: keyFile,
				Issuer: "https://app.example", Audience: "switchboard", AuthIDClaim: "sub", RoleClaim: "role", Leeway: 30 * time.Second},
			Webhook: &config.WebhookAuth{URL: appURL, Methods: []string{"anonymous"},
				ForwardHeaders: []string{"Cookie"}, Timeout: 500 * time.Millisecond},
		}
	}, priv
}

func ticketAuth(authid, ticket string) client.Config {
	return client.Config{
		HelloDetails: wamp.Dict{"authid": authid, "authmethods": wamp.List{"ticket"}},
		AuthHandlers: map[string]client.AuthFunc{"ticket": func(*wamp.Challenge) (string, wamp.Dict) { return ticket, wamp.Dict{} }},
	}
}

func token(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	must(t, err)
	return s
}

func expectRefused(t *testing.T, srv *routertest.Server, l int, cfg client.Config, what string) {
	t.Helper()
	c, err := srv.DialErr(l, "json", cfg)
	if err == nil {
		c.Close()
		t.Fatalf("%s: joined", what)
	}
	// The nexus client reports ABORT's reason after HELLO, but only its
	// message after AUTHENTICATE; TestAuthAbortReason checks the reason.
	if msg := err.Error(); !strings.Contains(msg, "wamp.error.authentication_failed") &&
		!strings.Contains(msg, "authentication failed") && !strings.Contains(msg, "invalid JWT") {
		t.Fatalf("%s: error %v, want ABORT wamp.error.authentication_failed", what, err)
	}
	if strings.Contains(err.Error(), "alice-ticket") || strings.Contains(err.Error(), jwtSecret) {
		t.Fatalf("%s: the error reveals a secret: %v", what, err)
	}
}

// TestAuthAbortReason speaks WAMP by hand: a wrong ticket gets ABORT
// wamp.error.authentication_failed with a message that reveals nothing.
func TestAuthAbortReason(t *testing.T) {
	t.Parallel()
	app := authApp(t)
	edit, _ := authRealm(t, app.URL)
	srv := routertest.Start(t, edit)
	_, _, ws := upgrade(t, srv.URL(0), "", []string{"wamp.2.json"})
	must(t, ws.WriteMessage(websocket.TextMessage, []byte(`[1,"realm1",{"authid":"Alice","authmethods":["ticket"],"roles":{"subscriber":{}}}]`)))
	must(t, ws.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, msg, err := ws.ReadMessage()
	must(t, err)
	if !strings.HasPrefix(string(msg), `[4,"ticket"`) {
		t.Fatalf("want CHALLENGE ticket, got %s", msg)
	}
	must(t, ws.WriteMessage(websocket.TextMessage, []byte(`[5,"not-the-ticket",{}]`)))
	_, msg, err = ws.ReadMessage()
	must(t, err)
	var abort []any
	must(t, json.Unmarshal(msg, &abort))
	if abort[0] != float64(wamp.ABORT) || abort[2] != "wamp.error.authentication_failed" {
		t.Fatalf("want ABORT wamp.error.authentication_failed, got %s", msg)
	}
	if strings.Contains(string(msg), "alice-ticket") || strings.Contains(string(msg), "not-the-ticket") {
		t.Fatalf("ABORT reveals a ticket: %s", msg)
	}
}

func TestAuthTicketAndJWT(t *testing.T) {
	t.Parallel()
	app := authApp(t)
	edit, edKey := authRealm(t, app.URL)
	srv := routertest.Start(t, edit)

	for _, l := range []int{0, 1} {
		c := srv.Dial(t, l, "json", ticketAuth("Alice", "alice-ticket-0123"))
		if d := c.RealmDetails(); d["authid"] != "Alice" || d["authrole"] != "user" || d["authmethod"] != "ticket" {
			t.Fatalf("ticket welcome %v", d)
		}
	}
	expectRefused(t, srv, 0, ticketAuth("Alice", "wrong-ticket"), "wrong ticket")
	expectRefused(t, srv, 1, ticketAuth("mallory", "alice-ticket-0123"), "unknown authid")

	valid := jwt.MapClaims{"sub": "carol", "role": "user", "iss": "https://app.example", "aud": "switchboard",
		"exp": time.Now().Add(time.Minute).Unix()}
	c := srv.Dial(t, 0, "cbor", ticketAuth("", token(t, jwt.SigningMethodHS256, []byte(jwtSecret), valid)))
	if d := c.RealmDetails(); d["authid"] != "carol" || d["authrole"] != "user" {
		t.Fatalf("JWT welcome %v", d)
	}
	c = srv.Dial(t, 1, "msgpack", ticketAuth("", token(t, jwt.SigningMethodEdDSA, edKey, valid)))
	if d := c.RealmDetails(); d["authid"] != "carol" {
		t.Fatalf("EdDSA JWT welcome %v", d)
	}
	with := func(k string, v any) jwt.MapClaims {
		m := jwt.MapClaims{}
		for key, val := range valid {
			m[key] = val
		}
		m[k] = v
		return m
	}
	without := func(k string) jwt.MapClaims {
		m := with(k, nil)
		delete(m, k)
		return m
	}
	// The leeway is 30s: 10s off is within it, 2 minutes beyond it, however
	// slow the test runs.
	for name, claims := range map[string]jwt.MapClaims{
		"expired within the leeway": with("exp", time.Now().Add(-10*time.Second).Unix()),
		"nbf within the leeway":     with("nbf", time.Now().Add(10*time.Second).Unix()),
	} {
		c := srv.Dial(t, 0, "json", ticketAuth("", token(t, jwt.SigningMethodHS256, []byte(jwtSecret), claims)))
		if d := c.RealmDetails(); d["authid"] != "carol" {
			t.Fatalf("%s: welcome %v", name, d)
		}
	}
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	for name, tok := range map[string]string{
		"expired":        token(t, jwt.SigningMethodHS256, []byte(jwtSecret), with("exp", time.Now().Add(-2*time.Minute).Unix())),
		"not yet valid":  token(t, jwt.SigningMethodHS256, []byte(jwtSecret), with("nbf", time.Now().Add(2*time.Minute).Unix())),
		"no exp claim":   token(t, jwt.SigningMethodHS256, []byte(jwtSecret), without("exp")),
		"no issuer":      token(t, jwt.SigningMethodHS256, []byte(jwtSecret), without("iss")),
		"no audience":    token(t, jwt.SigningMethodHS256, []byte(jwtSecret), without("aud")),
		"HS512":          token(t, jwt.SigningMethodHS512, []byte(jwtSecret), valid),
		"forged":         token(t, jwt.SigningMethodHS256, []byte("another-secret-of-enough-length-0123456"), valid),
		"forged EdDSA":   token(t, jwt.SigningMethodEdDSA, otherKey, valid),
		"wrong audience": token(t, jwt.SigningMethodHS256, []byte(jwtSecret), with("aud", "someone-else")),
		"wrong issuer":   token(t, jwt.SigningMethodHS256, []byte(jwtSecret), with("iss", "https://evil.example")),
		"no expiry":      token(t, jwt.SigningMethodHS256, []byte(jwtSecret), with("exp", nil)),
		"alg none":       token(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid),
		"not a JWT":      "hello",
	} {
		expectRefused(t, srv, 0, ticketAuth("", tok), name)
	}
	// A token of someone else than the HELLO's authid is refused.
	expectRefused(t, srv, 0, ticketAuth("Alice", token(t, jwt.SigningMethodHS256, []byte(jwtSecret), valid)), "authid mismatch")
}

func cookieConfig(t *testing.T, srv *routertest.Server, session string) client.Config {
	jar, err := cookiejar.New(nil)
	must(t, err)
	u, _ := url.Parse("http://" + srv.Addr(0).String())
	jar.SetCookies(u, []*http.Cookie{{Name: "sessionid", Value: session}})
	return client.Config{WsCfg: transport.WebsocketConfig{Jar: jar}}
}

func TestAuthWebhookAndTemplates(t *testing.T) {
	t.Parallel()
	app := authApp(t)
	edit, _ := authRealm(t, app.URL)
	srv := routertest.Start(t, edit)

	alice := srv.Dial(t, 0, "json", cookieConfig(t, srv, "good-alice"))
	if d := alice.RealmDetails(); d["authid"] != "alice" || d["authrole"] != "user" || d["authprovider"] != "webhook" {
		t.Fatalf("webhook welcome %v", d)
	}
	for name, session := range map[string]string{"refused": "bad", "timeout": "slow", "5xx": "boom"} {
		expectRefused(t, srv, 0, cookieConfig(t, srv, session), "webhook "+name)
	}
	// Without a cookie the app refuses too; RawSocket has no headers.
	expectRefused(t, srv, 1, client.Config{}, "rawsocket without headers")

	// Template isolation: alice reads her namespace and the shared one, never bob's.
	noop := func(*wamp.Event) {}
	must(t, alice.Subscribe("app.user.alice.news", noop, nil))
	must(t, alice.Subscribe("app.user.alice.", noop, wamp.Dict{"match": "prefix"}))
	must(t, alice.Subscribe("app.shared.chat", noop, nil))
	for _, topic := range []string{"app.user.bob.news", "app.user.", "app.user.alice"} {
		if err := alice.Subscribe(topic, noop, wamp.Dict{"match": "prefix"}); !errorIs(err, wamp.ErrNotAuthorized) {
			t.Fatalf("alice subscribing to %s: %v, want not_authorized", topic, err)
		}
	}
	bob := srv.Dial(t, 0, "msgpack", cookieConfig(t, srv, "good-bob"))
	must(t, bob.Subscribe("app.user.bob.news", noop, nil))
	if err := bob.Subscribe("app.user.alice.news", noop, nil); !errorIs(err, wamp.ErrNotAuthorized) {
		t.Fatalf("bob subscribing to alice's topic: %v", err)
	}
}

// TestAuthWebhookAuthIDIsTheApps: a webhook answer with a role but no
// authid does not keep the authid the client chose in HELLO (which would
// open that user's {authid} namespace): the session gets a random one. An
// answer that echoes the HELLO authid keeps it.
func TestAuthWebhookAuthIDIsTheApps(t *testing.T) {
	t.Parallel()
	app := authApp(t)
	edit, _ := authRealm(t, app.URL)
	srv := routertest.Start(t, edit)
	claimBob := func(session string) client.Config {
		cfg := cookieConfig(t, srv, session)
		cfg.HelloDetails = wamp.Dict{"authid": "bob"}
		return cfg
	}
	noop := func(*wamp.Event) {}
	mallory := srv.Dial(t, 0, "json", claimBob("role-only"))
	if d := mallory.RealmDetails(); d["authid"] == "bob" || d["authid"] == "" || d["authrole"] != "user" {
		t.Fatalf("role-only answer: welcome %v, want role user with a random authid", d)
	}
	if err := mallory.Subscribe("app.user.bob.news", noop, nil); !errorIs(err, wamp.ErrNotAuthorized) {
		t.Fatalf("a session the app did not name bob subscribed to bob's topic: %v", err)
	}
	bob := srv.Dial(t, 0, "json", claimBob("echo"))
	if d := bob.RealmDetails(); d["authid"] != "bob" {
		t.Fatalf("echoing answer: welcome %v, want authid bob", d)
	}
	must(t, bob.Subscribe("app.user.bob.news", noop, nil))
}

// rawTicketAbort joins with authmethod ticket over a raw WebSocket and
// returns the router's answer to AUTHENTICATE.
func rawTicketAbort(t *testing.T, srv *routertest.Server, authid, ticket string) string {
	t.Helper()
	_, _, ws := upgrade(t, srv.URL(0), "", []string{"wamp.2.json"})
	hello, err := json.Marshal([]any{wamp.HELLO, "realm1", map[string]any{"authid": authid, "authmethods": []string{"ticket"}, "roles": map[string]any{"subscriber": map[string]any{}}}})
	must(t, err)
	must(t, ws.WriteMessage(websocket.TextMessage, hello))
	must(t, ws.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, msg, err := ws.ReadMessage()
	must(t, err)
	if !strings.HasPrefix(string(msg), `[4,"ticket"`) {
		t.Fatalf("want CHALLENGE ticket, got %s", msg)
	}
	auth, err := json.Marshal([]any{wamp.AUTHENTICATE, ticket, map[string]any{}})
	must(t, err)
	must(t, ws.WriteMessage(websocket.TextMessage, auth))
	_, msg, err = ws.ReadMessage()
	must(t, err)
	return string(msg)
}

// TestAuthTicketRevealsNoPrincipal: a wrong ticket gets the same ABORT,
// message included, for a static principal's authid and an unknown one
// (with JWT configured, both are tried as a JWT); the principal's right
// ticket joins.
func TestAuthTicketRevealsNoPrincipal(t *testing.T) {
	t.Parallel()
	app := authApp(t)
	edit, _ := authRealm(t, app.URL)
	srv := routertest.Start(t, edit)
	for _, ticket := range []string{"wrong-ticket", "alice-ticket-0124", "eyJhbGciOiJIUzI1NiJ9.e30.c2ln"} {
		known, unknown := rawTicketAbort(t, srv, "Alice", ticket), rawTicketAbort(t, srv, "mallory", ticket)
		if known != unknown || !strings.HasPrefix(known, `[3,{`) {
			t.Fatalf("ticket %q: the principal Alice gets %s, the unknown mallory %s", ticket, known, unknown)
		}
	}
	if msg := rawTicketAbort(t, srv, "Alice", "alice-ticket-0123"); !strings.HasPrefix(msg, `[2,`) {
		t.Fatalf("right ticket: %s, want WELCOME", msg)
	}
}
