package auth

import (
	"errors"
	"fmt"
	"time"

	nexusauth "github.com/gammazero/nexus/v3/router/auth"
	"github.com/gammazero/nexus/v3/wamp"
)

// CRAUser is a WAMP-CRA user. With Salt, Secret is the derived key
// (base64 of PBKDF2-SHA256(password, salt, Iterations, KeyLen)).
type CRAUser struct {
	Secret     string
	Role       string
	Salt       string
	Iterations int
	KeyLen     int
}

// NewWAMPCRA returns the WAMP-CRA authenticator for users: nexus's
// challenge-response (HMAC-SHA256, constant-time comparison; an unknown
// authid gets a challenge all the same, so users cannot be enumerated).
func NewWAMPCRA(users map[string]CRAUser, timeout time.Duration) nexusauth.Authenticator {
	return wampcra{nexusauth.NewCRAuthenticator(craKeyStore(users), timeout)}
}

// wampcra reports refused credentials as ErrAuthFailed.
type wampcra struct{ nexusauth.Authenticator }

func (w wampcra) Authenticate(sid wamp.ID, details wamp.Dict, client wamp.Peer) (*wamp.Welcome, error) {
	welcome, err := w.Authenticator.Authenticate(sid, details, client)
	if err != nil {
		switch err.Error() {
		case "invalid signature", "missing authid":
			return nil, fmt.Errorf("%w: %v", ErrAuthFailed, err)
		}
	}
	return welcome, err
}

// craKeyStore serves WAMP-CRA secrets to nexus's authenticator.
type craKeyStore map[string]CRAUser

var errUnknownUser = errors.New("unknown user")

func (ks craKeyStore) AuthKey(authid, _ string) ([]byte, error) {
	u, ok := ks[authid]
	if !ok {
		return nil, errUnknownUser
	}
	return []byte(u.Secret), nil
}

func (ks craKeyStore) PasswordInfo(authid string) (string, int, int) {
	u := ks[authid]
	if u.Salt == "" {
		return "", 0, 0
	}
	keylen, iters := u.KeyLen, u.Iterations
	if keylen == 0 {
		keylen = 32
	}
	if iters == 0 {
		iters = 1000
	}
	return u.Salt, keylen, iters
}

func (ks craKeyStore) Provider() string { return "static" }

func (ks craKeyStore) AuthRole(authid string) (string, error) {
	u, ok := ks[authid]
	if !ok {
		return "", errUnknownUser
	}
	return u.Role, nil
}
