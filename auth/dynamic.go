package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
)

// Decider decides a join that no static credential covers: the webhook or
// the dynamic authenticator.
type Decider interface {
	Decide(sid wamp.ID, details wamp.Dict, client wamp.Peer, method, ticket string) (Identity, error)
	// Provider names it in WELCOME's authprovider.
	Provider() string
}

var (
	_ Decider = (*Webhook)(nil)
	_ Decider = (*Dynamic)(nil)
)

// Caller calls a WAMP procedure in the realm and returns its result.
type Caller func(ctx context.Context, procedure string, args []any) ([]any, map[string]any, error)

// Dynamic is Crossbar's dynamic authenticator: it calls
// Procedure(realm, authid, details) where details has authmethod, ticket,
// session, authextra and transport (with http_headers_received); the answer
// is a role, or {"role", "authid"?, "extra"?}. An error refuses the join.
type Dynamic struct {
	Realm     string
	Procedure string
	Timeout   time.Duration
	Call      Caller
}

// Provider returns "dynamic".
func (d *Dynamic) Provider() string { return "dynamic" }

// Decide calls the procedure.
func (d *Dynamic) Decide(sid wamp.ID, details wamp.Dict, client wamp.Peer, method, ticket string) (Identity, error) {
	authid, _ := wamp.AsString(details["authid"])
	transport := map[string]any{}
	if td, ok := wamp.AsDict(details["transport"]); ok {
		transport["type"], transport["peer"] = td["type"], td["peer"]
	}
	headers := map[string]any{}
	if hs, ok := client.(HeaderSource); ok {
		for name, values := range hs.RequestHeaders() {
			headers[strings.ToLower(name)] = strings.Join(values, ", ")
		}
	}
	transport["http_headers_received"] = headers
	info := map[string]any{"authmethod": method, "session": sid, "transport": transport, "authextra": details["authextra"]}
	if method == "ticket" {
		info["ticket"] = ticket
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.Timeout)
	defer cancel()
	args, kwargs, err := d.Call(ctx, d.Procedure, []any{d.Realm, authid, info})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return Identity{}, fmt.Errorf("%w: %s did not answer within %s", ErrServiceFailed, d.Procedure, d.Timeout)
		}
		return Identity{}, fmt.Errorf("%w: %v", ErrAuthFailed, err)
	}
	var answer any
	if len(args) > 0 {
		answer = args[0]
	} else if len(kwargs) > 0 {
		answer = map[string]any(kwargs)
	}
	// A role alone keeps the HELLO authid for ticket joins, as in Crossbar:
	// the procedure received that authid with the ticket and vouched for
	// both. An anonymous join's authid is the client's say only, and the
	// procedure decides on the request's cookies: without an authid in the
	// answer it gets a random one.
	id := Identity{AuthID: authid}
	if method != "ticket" {
		id.AuthID = ""
	}
	switch a := answer.(type) {
	case string:
		id.Role = a
	default:
		m, ok := wamp.AsDict(a)
		if !ok {
			return Identity{}, fmt.Errorf("%w: %s answered neither a role nor a dict", ErrServiceFailed, d.Procedure)
		}
		id.Role, _ = wamp.AsString(m["role"])
		if v, _ := wamp.AsString(m["authid"]); v != "" {
			id.AuthID = v
		}
		if extra, ok := wamp.AsDict(m["extra"]); ok {
			id.Extra = extra
		}
	}
	if id.Role == "" {
		return Identity{}, fmt.Errorf("%w: %s answered no role", ErrServiceFailed, d.Procedure)
	}
	if id.AuthID == "" {
		id.AuthID = randomAuthID()
	}
	return id, nil
}
