package auth

import (
	"crypto/subtle"
	"time"

	nexusauth "github.com/gammazero/nexus/v3/router/auth"
	"github.com/gammazero/nexus/v3/wamp"
)

// Principal is a static ticket principal.
type Principal struct {
	Ticket string
	Role   string
}

// Ticket authenticates authmethod "ticket": the client answers a CHALLENGE
// with its ticket, checked against the static principals (constant time),
// then as a JWT, then by the Decider, whichever are configured. A wrong
// ticket for a principal's authid goes on to the JWT and the Decider like
// any other, so the refusal is the same whether the authid is known.
type Ticket struct {
	Principals map[string]Principal
	JWT        *JWTVerifier
	// Decider (the webhook or the dynamic authenticator) decides tickets
	// the principals and JWT do not.
	Decider Decider
	// Timeout bounds the wait for AUTHENTICATE. Default 10s.
	Timeout time.Duration
}

var _ nexusauth.Authenticator = (*Ticket)(nil)

// AuthMethod returns "ticket".
func (t *Ticket) AuthMethod() string { return "ticket" }

// Authenticate runs the ticket challenge.
func (t *Ticket) Authenticate(sid wamp.ID, details wamp.Dict, client wamp.Peer) (*wamp.Welcome, error) {
	timeout := t.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ticket, err := challenge(client, t.AuthMethod(), nil, timeout)
	if err != nil {
		return nil, err
	}
	authid, _ := wamp.AsString(details["authid"])
	if p, ok := t.Principals[authid]; ok && authid != "" &&
		subtle.ConstantTimeCompare([]byte(p.Ticket), []byte(ticket)) == 1 {
		return welcome(authid, p.Role, "ticket", "static", nil), nil
	}
	// Not a principal's ticket: the JWT and the decider are tried as for
	// any authid, so that the answer (its message included) never tells
	// whether authid is a static principal.
	if t.JWT != nil {
		id, err := t.JWT.Verify(ticket)
		if err == nil {
			if authid != "" && authid != id.AuthID {
				return nil, ErrAuthFailed // the token is someone else's
			}
			return welcome(id.AuthID, id.Role, "ticket", "jwt", nil), nil
		}
		if t.Decider == nil {
			return nil, err
		}
	}
	if t.Decider != nil {
		id, err := t.Decider.Decide(sid, details, client, "ticket", ticket)
		if err != nil {
			return nil, err
		}
		return welcome(id.AuthID, id.Role, "ticket", t.Decider.Provider(), id.Extra), nil
	}
	return nil, ErrAuthFailed
}
