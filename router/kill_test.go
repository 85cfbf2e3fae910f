package router_test

import (
	"context"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// TestSessionKillOption: wamp.session.kill is offered only with
// realms[].options.enable_meta_kill; with it a session closes another.
func TestSessionKillOption(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	off := routertest.Start(t, nil)
	asker := off.Dial(t, 0, "json", client.Config{})
	other := off.Dial(t, 0, "json", client.Config{})
	_, err := asker.Call(ctx, "wamp.session.kill", nil, wamp.List{other.ID()}, nil, nil)
	if got := rpcErrorURI(err); got != wamp.ErrNoSuchProcedure {
		t.Fatalf("wamp.session.kill without enable_meta_kill: %v, want %s", err, wamp.ErrNoSuchProcedure)
	}

	on := routertest.Start(t, func(c *config.Config) { c.Realms[0].Options.EnableMetaKill = true })
	asker = on.Dial(t, 0, "json", client.Config{})
	victim := on.Dial(t, 0, "json", client.Config{})
	_, err = asker.Call(ctx, "wamp.session.kill", nil, wamp.List{victim.ID()}, nil, nil)
	must(t, err)
	select {
	case <-victim.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the killed session is still open")
	}
}
