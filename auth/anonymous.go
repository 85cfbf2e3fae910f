package auth

import (
	"crypto/rand"
	"encoding/hex"

	nexusauth "github.com/gammazero/nexus/v3/router/auth"
	"github.com/gammazero/nexus/v3/wamp"
)

// Anonymous admits every client that asks for anonymous authentication, with
// a random authid and the configured Role, or, with a Webhook, as the web app
// decides from the upgrade request's headers (its session cookie).
type Anonymous struct {
	Role    string
	Webhook *Webhook
}

var _ nexusauth.Authenticator = (*Anonymous)(nil)

// AuthMethod returns "anonymous".
func (a *Anonymous) AuthMethod() string { return "anonymous" }

// Authenticate welcomes the client as Role, or asks the webhook.
func (a *Anonymous) Authenticate(sid wamp.ID, details wamp.Dict, client wamp.Peer) (*wamp.Welcome, error) {
	if a.Webhook != nil {
		id, err := a.Webhook.Ask(sid, details, client, "anonymous", "")
		if err != nil {
			return nil, err
		}
		return welcome(id.AuthID, id.Role, "anonymous", "webhook", id.Extra), nil
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
