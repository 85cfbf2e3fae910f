package router_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

func withFeedHistory(c *config.Config) {
	c.Realms[0].Options.EventHistory = []config.EventHistory{{Topic: "app.feed.", Match: "prefix", Limit: 1000}}
}

// publishAck publishes [n] with acknowledge and options and returns the
// publication ID.
func publishAck(w *wire, topic string, options wamp.Dict, n int) wamp.ID {
	w.t.Helper()
	opts := wamp.Dict{"acknowledge": true}
	for k, v := range options {
		opts[k] = v
	}
	req := w.req()
	w.send(&wamp.Publish{Request: req, Options: opts, Topic: wamp.URI(topic), Arguments: wamp.List{n}})
	p := expectMsg[*wamp.Published](w, "publish to "+topic)
	if p.Request != req {
		w.t.Fatalf("PUBLISHED %d, want %d", p.Request, req)
	}
	return p.Publication
}

// nextEvent reads the next message, an EVENT of sub, and returns its
// first argument.
func nextEvent(w *wire, sub wamp.ID) int64 {
	w.t.Helper()
	ev := expectMsg[*wamp.Event](w, "event")
	if ev.Subscription != sub {
		w.t.Fatalf("EVENT of subscription %d, want %d", ev.Subscription, sub)
	}
	n, _ := wamp.AsInt64(ev.Arguments[0])
	return n
}

// subscribeErr subscribes and expects an ERROR.
func subscribeErr(w *wire, topic string, options wamp.Dict) *wamp.Error {
	w.t.Helper()
	req := w.req()
	w.send(&wamp.Subscribe{Request: req, Options: options, Topic: wamp.URI(topic)})
	e := expectMsg[*wamp.Error](w, "subscribe "+topic)
	if e.Type != wamp.SUBSCRIBE || e.Request != req {
		w.t.Fatalf("ERROR %v %d, want SUBSCRIBE %d", e.Type, e.Request, req)
	}
	return e
}

func authIDOf(w *wire) string {
	id, _ := wamp.AsString(w.details["authid"])
	return id
}

// TestResumeFromPublication: a SUBSCRIBE with _since gets SUBSCRIBED, then
// every event of the topic after that publication, in order, then live
// events; an ID the history does not hold gets history_gap.
func TestResumeFromPublication(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, withFeedHistory)
	for _, ser := range []string{"json", "msgpack", "cbor"} {
		t.Run(ser, func(t *testing.T) {
			topic := "app.feed." + ser
			pub := dialWire(t, srv, 0, ser, wireHello{})
			var ids []wamp.ID
			for n := 1; n <= 5; n++ {
				ids = append(ids, publishAck(pub, topic, wamp.Dict{}, n))
			}
			sub := dialWire(t, srv, 1, ser, wireHello{})
			subID := sub.subscribe(topic, wamp.Dict{"_since": ids[1]})
			for _, want := range []int64{3, 4, 5} {
				if got := nextEvent(sub, subID); got != want {
					t.Fatalf("replayed event %d, want %d", got, want)
				}
			}
			publishAck(pub, topic, wamp.Dict{}, 6)
			if got := nextEvent(sub, subID); got != 6 {
				t.Fatalf("live event after the replay: %d, want 6", got)
			}
			// Resuming from the newest publication replays nothing.
			last := publishAck(pub, topic, wamp.Dict{}, 7)
			if got := nextEvent(sub, subID); got != 7 {
				t.Fatalf("live event: %d, want 7", got)
			}
			other := dialWire(t, srv, 0, ser, wireHello{})
			otherSub := other.subscribe(topic, wamp.Dict{"_since": last})
			publishAck(pub, topic, wamp.Dict{}, 8)
			if got := nextEvent(other, otherSub); got != 8 {
				t.Fatalf("after resuming from the newest: %d, want 8 (nothing replayed)", got)
			}
		})
	}
}

// TestResumeRefusals: the other side of each rule.
func TestResumeRefusals(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, withFeedHistory)
	c := dialWire(t, srv, 0, "json", wireHello{})
	publishAck(c, "app.feed.x", wamp.Dict{}, 1)
	// An ID the history never held (or evicted, or before a restart).
	e := subscribeErr(c, "app.feed.x", wamp.Dict{"_since": 12345})
	if e.Error != "switchboard.error.history_gap" || e.ArgumentsKw["topic"] != "app.feed.x" {
		t.Fatalf("unknown _since: %v %v, want switchboard.error.history_gap with kwargs topic and since", e.Error, e.ArgumentsKw)
	}
	if since, _ := wamp.AsInt64(e.ArgumentsKw["since"]); since != 12345 {
		t.Fatalf("history_gap since = %v", e.ArgumentsKw["since"])
	}
	// A topic without history.
	if e := subscribeErr(c, "app.nohistory", wamp.Dict{"_since": 1}); e.Error != "switchboard.error.history_gap" {
		t.Fatalf("_since on a topic without history: %v, want history_gap", e.Error)
	}
	// Patterns do not resume.
	if e := subscribeErr(c, "app.feed.", wamp.Dict{"_since": 1, "match": "prefix"}); e.Error != wamp.ErrInvalidArgument {
		t.Fatalf("_since on a prefix subscription: %v, want wamp.error.invalid_argument", e.Error)
	}
	if e := subscribeErr(c, "app.feed.x", wamp.Dict{"_since": "yesterday"}); e.Error != wamp.ErrInvalidArgument {
		t.Fatalf("_since not an ID: %v, want wamp.error.invalid_argument", e.Error)
	}
}

// TestResumeRestricted: a publication restricted with eligible_authid is
// replayed to a resumed subscriber with that authid only.
func TestResumeRestricted(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, withFeedHistory)
	pub := dialWire(t, srv, 0, "json", wireHello{})
	since := publishAck(pub, "app.feed.r", wamp.Dict{}, 0)
	alice := dialWire(t, srv, 0, "json", wireHello{})
	bob := dialWire(t, srv, 0, "json", wireHello{})
	publishAck(pub, "app.feed.r", wamp.Dict{"eligible_authid": wamp.List{authIDOf(alice)}}, 1)
	publishAck(pub, "app.feed.r", wamp.Dict{}, 2)
	a := alice.subscribe("app.feed.r", wamp.Dict{"_since": since})
	b := bob.subscribe("app.feed.r", wamp.Dict{"_since": since})
	if got := nextEvent(alice, a); got != 1 {
		t.Fatalf("alice's first replayed event: %d, want 1 (eligible)", got)
	}
	if got := nextEvent(alice, a); got != 2 {
		t.Fatalf("alice's second: %d, want 2", got)
	}
	if got := nextEvent(bob, b); got != 2 {
		t.Fatalf("bob's first replayed event: %d, want 2 (1 was for alice only)", got)
	}
}

// TestResumeUnderConcurrentPublishing: subscribers resume while a publisher
// publishes without pause; each sees every event after its resume point
// exactly once, in order: replay and live never overlap nor leave a gap.
func TestResumeUnderConcurrentPublishing(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, withFeedHistory)
	pub := dialWire(t, srv, 0, "msgpack", wireHello{})
	topic := "app.feed.race"
	const total = 600
	ids := make([]wamp.ID, total+1)
	var mu sync.Mutex
	ids[0] = publishAck(pub, topic, wamp.Dict{}, 0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := 1; n <= total; n++ {
			id := publishAck(pub, topic, wamp.Dict{}, n)
			mu.Lock()
			ids[n] = id
			mu.Unlock()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for round := range 20 {
		// Resume from a publication already made.
		mu.Lock()
		from := 0
		for i := total; i >= 0; i-- {
			if ids[i] != 0 {
				from = i
				break
			}
		}
		from = max(0, from-round%5) // sometimes a few events back
		since := ids[from]
		mu.Unlock()
		sub := dialWire(t, srv, round%2, []string{"json", "msgpack", "cbor"}[round%3], wireHello{})
		subID := sub.subscribe(topic, wamp.Dict{"_since": since})
		want := int64(from + 1)
		// Read until the publisher is done and the last event is seen.
		for want <= total {
			if ctx.Err() != nil {
				t.Fatal("timed out")
			}
			got := nextEvent(sub, subID)
			if got != want {
				t.Fatalf("round %d (resumed after %d): event %d, want %d: replay and live %s", round, from, got, want,
					map[bool]string{true: "overlap", false: "left a gap"}[got < want])
			}
			want++
			if want > int64(from+60) {
				break // enough of this round
			}
		}
		sub.close()
	}
	<-done
}

// TestBridgePosition: POST /position tells a backend where a topic's
// history ends; a page subscribing with _since at that position gets every
// later event. The other sides: a topic without kept events answers null,
// a topic the key may not publish to 403.
func TestBridgePosition(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, func(c *config.Config) {
		withBridge(false)(c)
		c.Realms[0].Options.EventHistory = []config.EventHistory{{Topic: "app.page.", Match: "prefix", Limit: 100}}
	})
	bc := newBridgeClient(t, srv)
	r := bc.signed("/publish", `{"topic":"app.page.1","args":[1]}`)
	r.expect(t, 200, "")
	first, _ := r.body["id"].(float64)
	pos := bc.signed("/position", `{"topic":"app.page.1"}`)
	pos.expect(t, 200, "")
	if got, _ := pos.body["publication"].(float64); got != first || got == 0 {
		t.Fatalf("position %v, want the publication %v just made", pos.body["publication"], first)
	}
	// The page renders, events keep coming, then it subscribes from there.
	bc.signed("/publish", `{"topic":"app.page.1","args":[2]}`).expect(t, 200, "")
	page := dialWire(t, srv, 0, "json", wireHello{})
	sub := page.subscribe("app.page.1", wamp.Dict{"_since": wamp.ID(first)})
	if got := nextEvent(page, sub); got != 2 {
		t.Fatalf("the page's first event: %d, want 2 (published after the render)", got)
	}
	none := bc.signed("/position", `{"topic":"app.page.2"}`)
	none.expect(t, 200, "")
	if v, ok := none.body["publication"]; !ok || v != nil {
		t.Fatalf("position of a topic without kept events: %v, want null", none.raw)
	}
	bc.signed("/position", `{"topic":"other.topic"}`).expect(t, 403, "wamp.error.not_authorized")
	bc.signed("/position", `{"nope":1}`).expect(t, 400, "")
}
