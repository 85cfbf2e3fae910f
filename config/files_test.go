package config_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-wamp/switchboard/config"
)

// keyFiles writes a TLS pair, a PEM Ed25519 public key and a JWKS with that
// key to dir, and returns a config naming them.
func keyFiles(t *testing.T, dir string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cert := write("cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	priv := write("key.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	pubFile := write("jwt.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))
	jwks := write("jwks.json", fmt.Appendf(nil, `{"keys": [{"kid": "k1", "kty": "OKP", "crv": "Ed25519", "x": %q}]}`,
		base64.RawURLEncoding.EncodeToString(pub)))
	return fmt.Sprintf(`
listeners:
  - address: "127.0.0.1:0"
    tls: { cert_file: %q, key_file: %q }
    websocket: {}
realms:
  - name: app
    auth:
      jwt: { algorithms: [EdDSA], public_key_file: %q, jwks_file: %q }
    roles: [{name: user}]
`, cert, priv, pubFile, jwks)
}

// TestFilesReadOnce: Parse reads the TLS pair and the JWT key files and
// hands them over parsed; validating again does not read them again (they
// may be gone), and a path changed after validation hands out nothing until
// the config is validated again.
func TestFilesReadOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	yaml := keyFiles(t, dir)
	cfg, err := config.Parse("keys.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := config.Parse("keys.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	// A reload compares the listeners of two parses of one file.
	if !reflect.DeepEqual(cfg.Listeners, again.Listeners) || !reflect.DeepEqual(cfg.Realms, again.Realms) {
		t.Error("two parses of the same files differ")
	}
	for _, name := range []string{"cert.pem", "key.pem", "jwt.pem", "jwks.json"} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("validating again read the files again: %v", err)
	}
	l, j := &cfg.Listeners[0].TLS, cfg.Realms[0].Auth.JWT
	if c := l.Certificate(); c == nil || len(c.Certificate) != 1 || c.PrivateKey == nil {
		t.Fatalf("certificate = %v", c)
	}
	if _, ok := j.PublicKey().(ed25519.PublicKey); !ok {
		t.Fatalf("public key = %T", j.PublicKey())
	}
	if _, ok := j.JWKS()["k1"].(ed25519.PublicKey); !ok || len(j.JWKS()) != 1 {
		t.Fatalf("jwks = %v", j.JWKS())
	}

	l.CertFile = filepath.Join(dir, "other.pem")
	j.PublicKeyFile = filepath.Join(dir, "other-jwt.pem")
	if l.Certificate() != nil || j.PublicKey() != nil {
		t.Fatal("a value read from another path is handed out")
	}
	err = cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "listeners[0].tls: cannot load certificate: open "+l.CertFile) ||
		!strings.Contains(err.Error(), "realms[0].auth.jwt.public_key_file: cannot read: open "+j.PublicKeyFile) {
		t.Fatalf("changed paths: err = %v", err)
	}
	if j.JWKS() == nil {
		t.Fatal("the unchanged jwks_file lost its keys")
	}
}

// TestBadKeyFiles: unreadable and unparsable key files are refused at
// their keys.
func TestBadKeyFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Parse("keys.yaml", []byte(fmt.Sprintf(`
listeners: [{address: "127.0.0.1:0", websocket: {}}]
realms:
  - name: app
    auth:
      jwt: { algorithms: [EdDSA], public_key_file: %q, jwks_file: %q }
    roles: [{name: user}]
`, garbage, filepath.Join(dir, "missing.json"))), nil)
	for _, want := range []string{
		"keys.yaml: realms[0].auth.jwt.public_key_file: not a PEM file",
		"keys.yaml: realms[0].auth.jwt.jwks_file: cannot read: jwks: open " + filepath.Join(dir, "missing.json") + ": no such file or directory",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want %q", err, want)
		}
	}
}
