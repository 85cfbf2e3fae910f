package router_test

import (
	"crypto/ed25519"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/gammazero/nexus/v3/wamp/crsign"
	"github.com/gorilla/websocket"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// challengeRealm: realm1 without anonymous joins, with WAMP-CRA user
// "worker" (salted, role user) and cryptosign principal "signer" (role
// user); every refused join is checked (no failure limit).
func challengeRealm(t *testing.T, signer ed25519.PublicKey) func(*config.Config) {
	derived, err := pbkdf2.Key(sha256.New, "worker-password", []byte("5f0c3e9a1b2d4c6e"), 1000, 32)
	must(t, err)
	return func(c *config.Config) {
		c.AuthLimits.MaxFailuresPerMinute = 0
		r := &c.Realms[0]
		r.Anonymous = nil
		r.Roles = append(r.Roles, config.Role{Name: "user", Permissions: []config.Permission{
			{URI: "app.", Match: "prefix", Allow: config.Allow{Subscribe: true}}}})
		r.Auth.WAMPCRA = &config.WAMPCRAAuth{Users: map[string]config.CRAUser{
			"worker": {Secret: base64.StdEncoding.EncodeToString(derived), Role: "user", Salt: "5f0c3e9a1b2d4c6e", Iterations: 1000, KeyLen: 32},
		}}
		r.Auth.Cryptosign = &config.CryptosignAuth{Principals: map[string]config.CryptosignPrincipal{
			"signer": {AuthorizedKeys: []string{hex.EncodeToString(signer)}, Role: "user"},
		}}
	}
}

func craAuth(authid, password string) client.Config {
	return client.Config{
		HelloDetails: wamp.Dict{"authid": authid, "authmethods": wamp.List{"wampcra"}},
		AuthHandlers: map[string]client.AuthFunc{"wampcra": func(ch *wamp.Challenge) (string, wamp.Dict) {
			return crsign.RespondChallenge(password, ch, nil), wamp.Dict{}
		}},
	}
}

// emptyKeyAuth signs the challenge with an empty key, as an attacker who
// hopes an unknown authid has no secret would.
func emptyKeyAuth(authid string) client.Config {
	return client.Config{
		HelloDetails: wamp.Dict{"authid": authid, "authmethods": wamp.List{"wampcra"}},
		AuthHandlers: map[string]client.AuthFunc{"wampcra": func(ch *wamp.Challenge) (string, wamp.Dict) {
			s, _ := wamp.AsString(ch.Extra["challenge"])
			return crsign.SignChallenge(s, nil), wamp.Dict{}
		}},
	}
}

func cryptosignAuth(authid string, key ed25519.PrivateKey) client.Config {
	return client.Config{
		HelloDetails: wamp.Dict{"authid": authid, "authmethods": wamp.List{"cryptosign"},
			"authextra": wamp.Dict{"pubkey": hex.EncodeToString(key.Public().(ed25519.PublicKey))}},
		AuthHandlers: map[string]client.AuthFunc{"cryptosign": func(ch *wamp.Challenge) (string, wamp.Dict) {
			challenge, _ := wamp.AsString(ch.Extra["challenge"])
			msg, _ := hex.DecodeString(challenge)
			return hex.EncodeToString(append(ed25519.Sign(key, msg), msg...)), wamp.Dict{}
		}},
	}
}

// TestAuthWAMPCRAAndCryptosign: the right secret or key joins; a wrong one,
// an unknown authid (also signing with an empty key) and a principal's key
// under another authid are refused.
func TestAuthWAMPCRAAndCryptosign(t *testing.T) {
	t.Parallel()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	_, otherKey, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	srv := routertest.Start(t, challengeRealm(t, pub))

	for _, l := range []int{0, 1} {
		c := srv.Dial(t, l, "json", craAuth("worker", "worker-password"))
		if d := c.RealmDetails(); d["authid"] != "worker" || d["authrole"] != "user" || d["authmethod"] != "wampcra" {
			t.Fatalf("wampcra welcome %v", d)
		}
		c = srv.Dial(t, l, "cbor", cryptosignAuth("signer", key))
		if d := c.RealmDetails(); d["authid"] != "signer" || d["authrole"] != "user" || d["authmethod"] != "cryptosign" {
			t.Fatalf("cryptosign welcome %v", d)
		}
	}
	for name, cfg := range map[string]client.Config{
		"wampcra wrong password":             craAuth("worker", "worker-passwore"),
		"wampcra unknown authid":             craAuth("nobody", "worker-password"),
		"wampcra unknown authid, empty key":  emptyKeyAuth("nobody"),
		"wampcra known authid, empty key":    emptyKeyAuth("worker"),
		"cryptosign wrong key":               cryptosignAuth("signer", otherKey),
		"cryptosign unknown authid":          cryptosignAuth("nobody", key),
		"cryptosign unknown authid, new key": cryptosignAuth("nobody", otherKey),
	} {
		expectRefused(t, srv, 0, cfg, name)
	}
}

// craChallenge sends HELLO for authid with authmethod wampcra over a raw
// WebSocket and returns the CHALLENGE's extra and its parsed challenge
// string.
func craChallenge(t *testing.T, srv *routertest.Server, authid string) (map[string]any, map[string]any) {
	t.Helper()
	_, _, ws := upgrade(t, srv.URL(0), "", []string{"wamp.2.json"})
	hello, err := json.Marshal([]any{wamp.HELLO, "realm1", map[string]any{"authid": authid, "authmethods": []string{"wampcra"}, "roles": map[string]any{"subscriber": map[string]any{}}}})
	must(t, err)
	must(t, ws.WriteMessage(websocket.TextMessage, hello))
	must(t, ws.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, raw, err := ws.ReadMessage()
	must(t, err)
	var msg []any
	must(t, json.Unmarshal(raw, &msg))
	if len(msg) != 3 || msg[0] != float64(wamp.CHALLENGE) || msg[1] != "wampcra" {
		t.Fatalf("%s: want CHALLENGE wampcra, got %s", authid, raw)
	}
	extra, _ := msg[2].(map[string]any)
	s, _ := extra["challenge"].(string)
	var ch map[string]any
	must(t, json.Unmarshal([]byte(s), &ch))
	return extra, ch
}

// TestAuthWAMPCRAChallengeRevealsNoUser: the CHALLENGE for an unknown
// authid has the same fields, role, salt length and alphabet, iterations
// and keylen as a known user's; the same unknown authid gets the same salt
// again (a real user's salt does not change either).
func TestAuthWAMPCRAChallengeRevealsNoUser(t *testing.T) {
	t.Parallel()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	srv := routertest.Start(t, challengeRealm(t, pub))
	knownExtra, knownCh := craChallenge(t, srv, "worker")
	if knownExtra["salt"] != "5f0c3e9a1b2d4c6e" || knownCh["authrole"] != "user" {
		t.Fatalf("known user's challenge: %v %v", knownExtra, knownCh)
	}
	isHex := func(s string) bool { _, err := hex.DecodeString(s); return err == nil }
	for _, authid := range []string{"nobody", "admin", "worker2"} {
		extra, ch := craChallenge(t, srv, authid)
		salt, _ := extra["salt"].(string)
		switch {
		case !slices.Equal(slices.Sorted(maps.Keys(extra)), slices.Sorted(maps.Keys(knownExtra))):
			t.Errorf("%s: CHALLENGE fields %v, a known user's %v", authid, extra, knownExtra)
		case !slices.Equal(slices.Sorted(maps.Keys(ch)), slices.Sorted(maps.Keys(knownCh))):
			t.Errorf("%s: challenge fields %v, a known user's %v", authid, ch, knownCh)
		case ch["authrole"] != knownCh["authrole"] || ch["authprovider"] != knownCh["authprovider"] || ch["authid"] != authid:
			t.Errorf("%s: challenge %v, a known user's %v", authid, ch, knownCh)
		case len(salt) != len(knownExtra["salt"].(string)) || !isHex(salt) || salt == knownExtra["salt"]:
			t.Errorf("%s: salt %q, a known user's %q", authid, salt, knownExtra["salt"])
		case extra["iterations"] != knownExtra["iterations"] || extra["keylen"] != knownExtra["keylen"]:
			t.Errorf("%s: PBKDF2 parameters %v, a known user's %v", authid, extra, knownExtra)
		}
		if again, _ := craChallenge(t, srv, authid); again["salt"] != salt {
			t.Errorf("%s: salt %q, then %q: a real user's is stable", authid, salt, again["salt"])
		}
	}
}
