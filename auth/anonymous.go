package auth

import (
	"crypto/rand"
	"encoding/hex"

	nexusauth "github.com/gammazero/nexus/v3/router/auth"
	"github.com/gammazero/nexus/v3/wamp"
)

// Anonymous admits every client that asks for anonymous authentication, with
// a random authid and the configured Role.
type Anonymous struct {
	Role string
}

var _ nexusauth.Authenticator = (*Anonymous)(nil)

// AuthMethod returns "anonymous".
func (a *Anonymous) AuthMethod() string { return "anonymous" }

// Authenticate welcomes the client as Role.
func (a *Anonymous) Authenticate(_ wamp.ID, _ wamp.Dict, _ wamp.Peer) (*wamp.Welcome, error) {
	return &wamp.Welcome{Details: wamp.Dict{
		"authid":       randomAuthID(),
		"authrole":     a.Role,
		"authmethod":   a.AuthMethod(),
		"authprovider": "static",
	}}, nil
}

func randomAuthID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	return hex.EncodeToString(b[:])
}
