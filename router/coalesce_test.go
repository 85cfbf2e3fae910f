package router_test

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// TestWriteDelayCoalesces: with write_delay, on a busy router (here 70
// subscribers), a subscriber receiving a stream of events gets them in a
// few writes instead of one per event, and loses none; the publisher's
// acknowledgements (replies) are not held back (each publish waits for its
// own, so the run would take 100 x 100 ms if they were). A quiet router
// writes at once (TestCoalesceWaitsOnlyWhenBusy).
func TestWriteDelayCoalesces(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, func(c *config.Config) {
		c.Listeners[0].WebSocket.WriteDelay = 100 * time.Millisecond
		c.Listeners[1].RawSocket.WriteDelay = 100 * time.Millisecond
	})
	const n = 100
	const subscribers = 70 // more than transport.BusyWriters
	events := make(chan *wamp.Event, n)
	sub := srv.Dial(t, 0, "msgpack", client.Config{})
	must(t, sub.SubscribeChan("app.stream", events, nil))
	for i := range subscribers - 1 {
		other := srv.Dial(t, i%2, "json", client.Config{})
		must(t, other.Subscribe("app.stream", func(*wamp.Event) {}, nil))
	}
	pub := srv.Dial(t, 0, "json", client.Config{})
	before := writeBatches(t, srv)
	for i := range n {
		must(t, pub.Publish("app.stream", wamp.Dict{"acknowledge": true}, wamp.List{i}, nil))
	}
	for i := range n {
		select {
		case ev := <-events:
			if got, _ := wamp.AsInt64(ev.Arguments[0]); got != int64(i) {
				t.Fatalf("event %d carries %v: lost or out of order", i, ev.Arguments)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d events arrived", i, n)
		}
	}
	// n acknowledgements (one write each: the publisher waits for each) and
	// the subscribers' writes: without coalescing about n for each.
	batches := writeBatches(t, srv) - before
	if limit := n + subscribers*n/4; batches > limit {
		t.Errorf("%d write batches for %d acknowledged publications to %d subscribers, want at most %d: events were not coalesced",
			batches, n, subscribers, limit)
	}
}

var batchCount = regexp.MustCompile(`(?m)^switchboard_outbound_queue_bytes_count (\d+)$`)

// writeBatches is how many write batches with queued frames the router
// has made (the count of switchboard_outbound_queue_bytes).
func writeBatches(t *testing.T, srv *routertest.Server) int {
	t.Helper()
	_, raw := scrape(t, srv)
	m := batchCount.FindSubmatch(raw)
	if m == nil {
		return 0
	}
	n, err := strconv.Atoi(string(m[1]))
	must(t, err)
	return n
}
