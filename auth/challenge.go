package auth

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
)

// HeaderSource is a peer that knows the HTTP headers of its WebSocket
// upgrade request (the transport's Peer does, until the session is
// welcomed).
type HeaderSource interface {
	RequestHeaders() http.Header
}

// ErrAuthFailed is the error authenticators return for bad credentials. Its
// text reaches the client in ABORT details.message: it never holds a secret.
var ErrAuthFailed = errors.New("authentication failed")

// ErrServiceFailed wraps failures of an authentication service (the
// webhook): unreachable, timed out, or a broken answer.
var ErrServiceFailed = errors.New("authentication service failed")

// challenge sends CHALLENGE for method and returns the client's AUTHENTICATE
// signature.
func challenge(client wamp.Peer, method string, extra wamp.Dict, timeout time.Duration) (string, error) {
	if extra == nil {
		extra = wamp.Dict{}
	}
	select {
	case client.Send() <- &wamp.Challenge{AuthMethod: method, Extra: extra}:
	default:
		return "", errors.New("cannot send CHALLENGE: client queue full")
	}
	msg, err := wamp.RecvTimeout(client, timeout)
	if err != nil {
		return "", fmt.Errorf("no AUTHENTICATE within %s", timeout)
	}
	authRsp, ok := msg.(*wamp.Authenticate)
	if !ok {
		return "", fmt.Errorf("expected AUTHENTICATE, got %s", msg.MessageType())
	}
	return authRsp.Signature, nil
}

// welcome builds WELCOME details.
func welcome(authid, role, method, provider string, extra map[string]any) *wamp.Welcome {
	d := wamp.Dict{"authid": authid, "authrole": role, "authmethod": method, "authprovider": provider}
	if len(extra) > 0 {
		d["authextra"] = wamp.Dict(extra)
	}
	return &wamp.Welcome{Details: d}
}
