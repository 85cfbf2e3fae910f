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
