package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"

	nexusauth "github.com/gammazero/nexus/v3/router/auth"
	"github.com/gammazero/nexus/v3/wamp"
)

// CryptosignPrincipal holds a principal's Ed25519 public keys.
type CryptosignPrincipal struct {
	Keys []ed25519.PublicKey
	Role string
}

// Cryptosign authenticates authmethod cryptosign (WAMP-Cryptosign): the
// router sends 32 random bytes, the client answers with its Ed25519
// signature followed by the challenge (hex), checked against the
// principal's authorized keys (only the one named in HELLO's
// authextra.pubkey, when given).
type Cryptosign struct {
	Principals map[string]CryptosignPrincipal
	Timeout    time.Duration
}

var _ nexusauth.Authenticator = (*Cryptosign)(nil)

// AuthMethod returns "cryptosign".
func (c *Cryptosign) AuthMethod() string { return "cryptosign" }

// Authenticate runs the challenge.
func (c *Cryptosign) Authenticate(_ wamp.ID, details wamp.Dict, client wamp.Peer) (*wamp.Welcome, error) {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	authid, _ := wamp.AsString(details["authid"])
	var challengeBytes [32]byte
	_, _ = rand.Read(challengeBytes[:])
	challengeHex := hex.EncodeToString(challengeBytes[:])
	// Everyone gets a challenge, known or not: no user enumeration.
	signature, err := challenge(client, c.AuthMethod(), wamp.Dict{"challenge": challengeHex}, timeout)
	if err != nil {
		return nil, err
	}
	p, ok := c.Principals[authid]
	if !ok || authid == "" {
		return nil, ErrAuthFailed
	}
	sig, err := hex.DecodeString(signature)
	if err != nil || len(sig) != ed25519.SignatureSize+len(challengeBytes) ||
		!strings.EqualFold(hex.EncodeToString(sig[ed25519.SignatureSize:]), challengeHex) {
		return nil, ErrAuthFailed
	}
	wanted := ""
	if extra, ok := wamp.AsDict(details["authextra"]); ok {
		wanted, _ = wamp.AsString(extra["pubkey"])
	}
	for _, key := range p.Keys {
		if wanted != "" && !strings.EqualFold(wanted, hex.EncodeToString(key)) {
			continue
		}
		if ed25519.Verify(key, challengeBytes[:], sig[:ed25519.SignatureSize]) {
			return welcome(authid, p.Role, "cryptosign", "static", nil), nil
		}
	}
	return nil, ErrAuthFailed
}
