package router_test

import (
	"testing"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// TestClientsCannotPublishMetaEvents: a forged wamp.session.on_leave is
// refused (ERROR wamp.error.invalid_uri when acknowledged) and reaches no
// meta subscriber, even for a role allowed to publish everywhere; the
// router's own on_leave still arrives. A testament to a wamp.* topic and
// REGISTER of a wamp.* procedure are refused too, and ordinary URIs stay
// open.
func TestClientsCannotPublishMetaEvents(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil) // anonymous may publish to every URI
	watcher := joinJSON(t, srv, "", "")
	watcher.subscribe(1, "wamp.session.on_leave", nil)
	watcher.subscribe(2, "wamp.", map[string]any{"match": "prefix"})

	forger := joinJSON(t, srv, "", "")
	forger.send(wamp.PUBLISH, 1, map[string]any{}, "wamp.session.on_leave", []any{forger.id})
	forger.send(wamp.PUBLISH, 2, map[string]any{"acknowledge": true}, "wamp.session.on_leave", []any{forger.id})
	m, _ := forger.reply(2)
	expectError(t, m, wamp.PUBLISH, wamp.ErrInvalidURI, "acknowledged publication to wamp.session.on_leave")
	forger.send(wamp.PUBLISH, 3, map[string]any{"acknowledge": true}, "wamp.subscription.on_create", []any{forger.id, map[string]any{}})
	m, _ = forger.reply(3)
	expectError(t, m, wamp.PUBLISH, wamp.ErrInvalidURI, "publication to wamp.subscription.on_create")
	// The boundary: a topic merely containing "wamp." is the app's.
	forger.send(wamp.PUBLISH, 4, map[string]any{"acknowledge": true}, "app.wamp.session.on_leave", []any{})
	if m, _ := forger.reply(4); m[0] != float64(wamp.PUBLISHED) {
		t.Fatalf("publication to app.wamp.session.on_leave: %v, want PUBLISHED", m)
	}

	// Nor can it have the router publish one for it when it leaves.
	forger.send(wamp.CALL, 7, map[string]any{}, "wamp.session.add_testament", []any{"wamp.session.on_leave", []any{forger.id}, map[string]any{}})
	m, _ = forger.reply(7)
	expectError(t, m, wamp.CALL, wamp.ErrInvalidURI, "testament to wamp.session.on_leave")
	forger.send(wamp.CALL, 8, map[string]any{}, "wamp.session.add_testament", []any{"app.testament.ok", []any{}, map[string]any{}})
	if m, _ := forger.reply(8); m[0] != float64(wamp.RESULT) {
		t.Fatalf("testament to app.testament.ok: %v, want RESULT", m)
	}

	forger.send(wamp.REGISTER, 5, map[string]any{}, "wamp.session.kill_all")
	m, _ = forger.reply(5)
	expectError(t, m, wamp.REGISTER, wamp.ErrInvalidURI, "registration of wamp.session.kill_all")
	forger.send(wamp.REGISTER, 6, map[string]any{}, "app.reserved.proc")
	if m, _ := forger.reply(6); m[0] != float64(wamp.REGISTERED) {
		t.Fatalf("registration of app.reserved.proc: %v, want REGISTERED", m)
	}

	// A real session leaves; until both subscriptions have its on_leave,
	// no on_leave or on_create naming the forger may arrive (the forger's publications were handled before it got its answers, so
	// a forged event would have come first).
	leaver := srv.Dial(t, 1, "msgpack", client.Config{})
	leaverID := leaver.ID()
	must(t, leaver.Close())
	for seen := 0; seen < 2; {
		ev := watcher.read()
		if ev[0] != float64(wamp.EVENT) {
			t.Fatalf("watcher got %v", ev)
		}
		args, _ := ev[4].([]any)
		if len(args) == 0 {
			continue
		}
		id, _ := wamp.AsID(args[0])
		switch topic := eventTopic(ev, "wamp.session.on_leave"); {
		case id == forger.id && (topic == "wamp.session.on_leave" || topic == "wamp.subscription.on_create"):
			t.Fatalf("a forged meta event reached the watcher: %v", ev)
		case topic == "wamp.session.on_leave" && id == leaverID:
			seen++ // once per subscription
		}
	}
}
