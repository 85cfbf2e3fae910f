package auth

import (
	"context"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/transport"
	"github.com/gammazero/nexus/v3/wamp"
)

// TestDynamicAuthID: an answer with a role only keeps the HELLO authid of a
// ticket join (the procedure got it with the ticket, as in Crossbar) but
// not of an anonymous join, which gets a random one; an answer's authid
// always wins.
func TestDynamicAuthID(t *testing.T) {
	t.Parallel()
	answer := any("user")
	d := &Dynamic{Realm: "realm1", Procedure: "app.authenticate", Timeout: time.Second,
		Call: func(context.Context, string, []any) ([]any, map[string]any, error) { return []any{answer}, nil, nil }}
	cli, rtr := transport.LinkedPeers()
	defer cli.Close()
	hello := wamp.Dict{"authid": "bob"}
	if id, err := d.Decide(1, hello, rtr, "ticket", "a-ticket"); err != nil || id.AuthID != "bob" || id.Role != "user" {
		t.Fatalf("ticket, role only: %+v %v; want bob", id, err)
	}
	if id, err := d.Decide(1, hello, rtr, "anonymous", ""); err != nil || id.AuthID == "bob" || id.AuthID == "" {
		t.Fatalf("anonymous, role only: %+v %v; want a random authid", id, err)
	}
	answer = map[string]any{"role": "user", "authid": "bob"}
	if id, err := d.Decide(1, hello, rtr, "anonymous", ""); err != nil || id.AuthID != "bob" {
		t.Fatalf("anonymous, authid in the answer: %+v %v; want bob", id, err)
	}
}
