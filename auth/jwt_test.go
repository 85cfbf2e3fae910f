package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestJWKS(t *testing.T) {
	t.Parallel()
	edPub, edKey, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	set := map[string]any{"keys": []map[string]string{
		{"kid": "ed1", "kty": "OKP", "crv": "Ed25519", "x": b64(edPub)},
		{"kid": "rsa1", "kty": "RSA", "n": b64(rsaKey.N.Bytes()), "e": b64(big.NewInt(int64(rsaKey.E)).Bytes())},
	}}
	data, _ := json.Marshal(set)
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := LoadJWKS(path)
	if err != nil || len(keys) != 2 {
		t.Fatalf("LoadJWKS: %v %v", keys, err)
	}
	v := &JWTVerifier{Algorithms: []string{"EdDSA", "RS256"}, JWKS: keys, AuthIDClaim: "sub", RoleClaim: "role"}
	claims := jwt.MapClaims{"sub": "svc", "role": "backend", "exp": time.Now().Add(time.Minute).Unix()}
	sign := func(m jwt.SigningMethod, kid string, key any) string {
		tok := jwt.NewWithClaims(m, claims)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for name, tok := range map[string]string{
		"ed25519": sign(jwt.SigningMethodEdDSA, "ed1", edKey),
		"rsa":     sign(jwt.SigningMethodRS256, "rsa1", rsaKey),
	} {
		if id, err := v.Verify(tok); err != nil || id.AuthID != "svc" || id.Role != "backend" {
			t.Errorf("%s: %+v %v", name, id, err)
		}
	}
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	for name, tok := range map[string]string{
		"unknown kid":              sign(jwt.SigningMethodEdDSA, "nope", edKey),
		"wrong key":                sign(jwt.SigningMethodEdDSA, "ed1", otherKey),
		"kid of another algorithm": sign(jwt.SigningMethodEdDSA, "rsa1", edKey),
	} {
		if _, err := v.Verify(tok); !errors.Is(err, ErrAuthFailed) {
			t.Errorf("%s: err = %v, want ErrAuthFailed", name, err)
		}
	}
}

// TestJWTClaims: each claim rule on both sides of its boundary, with a
// fixed clock and a leeway of 30s.
func TestJWTClaims(t *testing.T) {
	t.Parallel()
	secret := []byte("jwt-hmac-secret-for-tests-0123456789abcdef")
	now := time.Unix(1_700_000_000, 0)
	const leeway = 30 * time.Second
	v := &JWTVerifier{Algorithms: []string{"HS256"}, Secret: secret, Issuer: "https://app.example", Audience: "switchboard",
		AuthIDClaim: "sub", RoleClaim: "role", Leeway: leeway, Now: func() time.Time { return now }}
	valid := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": "carol", "role": "user", "iss": "https://app.example", "aud": "switchboard", "exp": now.Add(time.Minute).Unix()}
	}
	with := func(set map[string]any, drop ...string) jwt.MapClaims {
		c := valid()
		for k, val := range set {
			c[k] = val
		}
		for _, k := range drop {
			delete(c, k)
		}
		return c
	}
	sign := func(m jwt.SigningMethod, key any, c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hs := func(c jwt.MapClaims) string { return sign(jwt.SigningMethodHS256, secret, c) }
	sec := func(d time.Duration) int64 { return now.Add(d).Unix() }
	for name, tok := range map[string]string{
		"valid":                    hs(valid()),
		"exp just within leeway":   hs(with(map[string]any{"exp": sec(-leeway + time.Second)})),
		"nbf just within leeway":   hs(with(map[string]any{"nbf": sec(leeway - time.Second)})),
		"nbf past":                 hs(with(map[string]any{"nbf": sec(-time.Hour)})),
		"aud list containing ours": hs(with(map[string]any{"aud": []string{"other", "switchboard"}})),
	} {
		if id, err := v.Verify(tok); err != nil || id.AuthID != "carol" || id.Role != "user" {
			t.Errorf("%s: %+v %v, want carol/user", name, id, err)
		}
	}
	for name, tok := range map[string]string{
		"no exp claim at all":    hs(with(nil, "exp")),
		"exp null":               hs(with(map[string]any{"exp": nil})),
		"exp just beyond leeway": hs(with(map[string]any{"exp": sec(-leeway - time.Second)})),
		"nbf just beyond leeway": hs(with(map[string]any{"nbf": sec(leeway + time.Second)})),
		"wrong issuer":           hs(with(map[string]any{"iss": "https://evil.example"})),
		"no issuer":              hs(with(nil, "iss")),
		"wrong audience":         hs(with(map[string]any{"aud": "someone-else"})),
		"no audience":            hs(with(nil, "aud")),
		"algorithm not allowed":  sign(jwt.SigningMethodHS512, secret, valid()),
		"alg none":               sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid()),
		"another secret":         sign(jwt.SigningMethodHS256, []byte("another-secret-of-enough-length-0123456"), valid()),
		"no sub":                 hs(with(nil, "sub")),
		"no role and no default": hs(with(nil, "role")),
	} {
		if id, err := v.Verify(tok); !errors.Is(err, ErrAuthFailed) {
			t.Errorf("%s: %+v %v, want ErrAuthFailed", name, id, err)
		}
	}
	withDefault := *v
	withDefault.DefaultRole = "guest"
	if id, err := withDefault.Verify(hs(with(nil, "role"))); err != nil || id.Role != "guest" {
		t.Errorf("no role claim with default_role: %+v %v", id, err)
	}
	// An HMAC token is refused by a verifier that allows only EdDSA, even
	// when it has a secret: the algorithm list decides, not the token.
	edOnly := *v
	edOnly.Algorithms = []string{"EdDSA"}
	if _, err := edOnly.Verify(hs(valid())); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("HS256 token, EdDSA verifier: %v", err)
	}
}
