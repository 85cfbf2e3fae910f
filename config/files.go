package config

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/switchboard-wamp/switchboard/auth"
)

// Validation reads every file a config names (TLS pairs, JWT public keys
// and key sets; secret files are read by Parse, see resolveSecrets) once,
// and keeps what it parsed beside the key, with the paths it came from:
// the router takes the parsed value (TLS.Certificate, JWTAuth.PublicKey,
// JWTAuth.JWKS) and reads no file itself. Validating again reads a file
// again only if its path changed; a value whose paths no longer match the
// config's is never handed out. These fields are unexported, so that no
// YAML key can reach them.

// fromFiles is a value parsed from files, with their paths.
type fromFiles[T any] struct {
	paths string
	value T
}

// readOnce sets *f to what read returns for paths, unless *f already holds
// the value of those paths.
func readOnce[T any](f **fromFiles[T], paths string, read func() (T, error)) error {
	if *f != nil && (*f).paths == paths {
		return nil
	}
	*f = nil
	v, err := read()
	if err != nil {
		return err
	}
	*f = &fromFiles[T]{paths: paths, value: v}
	return nil
}

// get returns the value if it was read from paths.
func (f *fromFiles[T]) get(paths string) (T, bool) {
	if f == nil || f.paths != paths {
		var zero T
		return zero, false
	}
	return f.value, true
}

func (t TLS) paths() string { return t.CertFile + "\x00" + t.KeyFile }

// Certificate returns the certificate chain and key that validation read
// from CertFile and KeyFile, or nil when TLS is off or the files changed
// since the config was last validated.
func (t TLS) Certificate() *tls.Certificate {
	cert, ok := t.cert.get(t.paths())
	if !ok {
		return nil
	}
	return &cert
}

// read loads the certificate pair, at key.
func (t *TLS) read(ps *problems, key string) {
	err := readOnce(&t.cert, t.paths(), func() (tls.Certificate, error) {
		return tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	})
	if err != nil {
		ps.add(key, "cannot load certificate: %v", err)
	}
}

// PublicKey returns the key that validation read from PublicKeyFile, or nil.
func (j *JWTAuth) PublicKey() crypto.PublicKey {
	key, _ := j.publicKey.get(j.PublicKeyFile)
	return key
}

// JWKS returns the keys by key ID that validation read from JWKSFile, or
// nil.
func (j *JWTAuth) JWKS() map[string]crypto.PublicKey {
	keys, _ := j.jwks.get(j.JWKSFile)
	return keys
}

// read loads the key files that are set, at key.
func (j *JWTAuth) read(ps *problems, key string) {
	if j.PublicKeyFile != "" {
		err := readOnce(&j.publicKey, j.PublicKeyFile, func() (crypto.PublicKey, error) {
			return loadPublicKey(j.PublicKeyFile)
		})
		if err != nil {
			ps.add(key+".public_key_file", "%v", err)
		}
	}
	if j.JWKSFile != "" {
		err := readOnce(&j.jwks, j.JWKSFile, func() (map[string]crypto.PublicKey, error) {
			return auth.LoadJWKS(j.JWKSFile)
		})
		if err != nil {
			ps.add(key+".jwks_file", "cannot read: %v", err)
		}
	}
}

// loadPublicKey reads a PEM public key (RSA, ECDSA or Ed25519) for JWTs.
func loadPublicKey(path string) (crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("not a PEM file")
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not a PEM public key: %w", err)
	}
	return key, nil
}
