package auth

import (
	"crypto/rand"
	"encoding/hex"

	nexusauth "github.com/gammazero/nexus/v3/router/auth"
	"github.com/gammazero/nexus/v3/wamp"
)

// Anonymous admits every client that asks for anonymous authentication, with
// a random authid and the configured Role, or as the Decider (the web app's
// webhook, from the upgrade request's session cookie, or the dynamic
// authenticator) says.
type Anonymous struct {
	Role    string
	Decider Decider
}

var _ nexusauth.Authenticator = (*Anonymous)(nil)

// AuthMethod returns "anonymous".
func (a *Anonymous) AuthMethod() string { return "anonymous" }

// Authenticate welcomes the client as Role, or asks the webhook.
func (a *Anonymous) Authenticate(sid wamp.ID, details wamp.Dict, client wamp.Peer) (*wamp.Welcome, error) {
	if a.Decider != nil {
		id, err := a.Decider.Decide(sid, details, client, "anonymous", "")
		if err != nil {
			return nil, err
		}
		return welcome(id.AuthID, id.Role, "anonymous", a.Decider.Provider(), id.Extra), nil
	}
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
