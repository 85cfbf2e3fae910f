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

// TestHistoryPerTopic: an event_history prefix entry keeps the last
// `limit` events of each topic under it, so a busy user's topic does not
// push out a quiet one's; a pattern subscription equal to the entry reads
// them all in publication order.
func TestHistoryPerTopic(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, func(c *config.Config) {
		c.Realms[0].Options.EventHistory = []config.EventHistory{{Topic: "app.user.", Match: "prefix", Limit: 2}}
	})
	pub := srv.Dial(t, 0, "json", client.Config{})
	reader := srv.Dial(t, 0, "cbor", client.Config{})
	publish := func(topic string, n int) {
		t.Helper()
		must(t, pub.Publish(topic, wamp.Dict{"acknowledge": true}, wamp.List{n}, nil))
	}
	publish("app.user.quiet", 1)
	for n := 1; n <= 5; n++ {
		publish("app.user.busy", 10+n)
	}
	must(t, reader.Subscribe("app.user.quiet", func(*wamp.Event) {}, nil))
	must(t, reader.Subscribe("app.user.busy", func(*wamp.Event) {}, nil))
	must(t, reader.Subscribe("app.user.", func(*wamp.Event) {}, wamp.Dict{"match": "prefix"}))

	if got := historyArgs(t, reader, "app.user.quiet", "exact", 0); !equalInts(got, 1) {
		t.Errorf("quiet user's history = %v, want [1] (kept despite the busy topic)", got)
	}
	if got := historyArgs(t, reader, "app.user.busy", "exact", 0); !equalInts(got, 14, 15) {
		t.Errorf("busy user's history = %v, want its last 2: [14 15]", got)
	}
	if got := historyArgs(t, reader, "app.user.", "prefix", 0); !equalInts(got, 1, 14, 15) {
		t.Errorf("prefix history = %v, want every topic's, in publication order: [1 14 15]", got)
	}
	if got := historyArgs(t, reader, "app.user.", "prefix", 2); !equalInts(got, 14, 15) {
		t.Errorf("prefix history with limit 2 = %v, want the 2 most recent", got)
	}
}

// TestHistoryBounds: past max_history_topics the least recently published
// topic's events go (the topic below the bound keeps its own), and every
// eviction is counted.
func TestHistoryBounds(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, func(c *config.Config) {
		c.Realms[0].Options.EventHistory = []config.EventHistory{{Topic: "app.user.", Match: "prefix", Limit: 3}}
		c.Realms[0].Options.MaxHistoryTopics = 2
	})
	pub := srv.Dial(t, 0, "json", client.Config{})
	reader := srv.Dial(t, 0, "msgpack", client.Config{})
	publish := func(topic string, n int) {
		t.Helper()
		must(t, pub.Publish(topic, wamp.Dict{"acknowledge": true}, wamp.List{n}, nil))
	}
	for _, topic := range []string{"app.user.a", "app.user.b", "app.user.c"} {
		must(t, reader.Subscribe(topic, func(*wamp.Event) {}, nil))
	}
	publish("app.user.a", 1)
	publish("app.user.a", 2)
	publish("app.user.b", 3)
	publish("app.user.a", 4) // a is now the most recently published
	// Two topics: at the bound, nothing evicted.
	if got := historyArgs(t, reader, "app.user.b", "exact", 0); !equalInts(got, 3) {
		t.Fatalf("b's history at the bound = %v, want [3]", got)
	}
	if n := metricValue(t, srv, "switchboard_broker_history_evicted_total", "realm1"); n != 0 {
		t.Fatalf("evictions at the bound = %v, want 0", n)
	}
	publish("app.user.c", 5) // one topic more: b, least recently published, goes
	if got := historyArgs(t, reader, "app.user.b", "exact", 0); len(got) != 0 {
		t.Errorf("b's history past the bound = %v, want evicted", got)
	}
	if got := historyArgs(t, reader, "app.user.a", "exact", 0); !equalInts(got, 1, 2, 4) {
		t.Errorf("a's history = %v, want [1 2 4]", got)
	}
	if got := historyArgs(t, reader, "app.user.c", "exact", 0); !equalInts(got, 5) {
		t.Errorf("c's history = %v, want [5]", got)
	}
	if n := metricValue(t, srv, "switchboard_broker_history_evicted_total", "realm1"); n != 1 {
		t.Errorf("evictions = %v, want 1 (b's one event)", n)
	}
	if n := metricValue(t, srv, "switchboard_broker_history_topics", "realm1"); n != 2 {
		t.Errorf("history topics = %v, want 2", n)
	}
}

// historyArgs returns the first argument of each event get_events answers
// for the reader's subscription to topic under match.
func historyArgs(t *testing.T, c *client.Client, topic, match string, limit int) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := c.Call(ctx, "wamp.subscription.lookup", nil, wamp.List{topic, wamp.Dict{"match": match}}, nil, nil)
	if err != nil {
		t.Fatalf("lookup %s: %v", topic, err)
	}
	args := wamp.List{res.Arguments[0]}
	if limit > 0 {
		args = append(args, limit)
	}
	res, err = c.Call(ctx, "wamp.subscription.get_events", nil, args, nil, nil)
	if err != nil {
		t.Fatalf("get_events %s: %v", topic, err)
	}
	events, _ := wamp.AsList(res.Arguments[0])
	var out []int64
	for _, e := range events {
		d, _ := wamp.AsDict(e)
		a, _ := wamp.AsList(d["args"])
		n, _ := wamp.AsInt64(a[0])
		out = append(out, n)
	}
	return out
}

// metricValue is the sample of family name for realm.
func metricValue(t *testing.T, srv *routertest.Server, name, realm string) float64 {
	t.Helper()
	families, _ := scrape(t, srv)
	return value(families, name, map[string]string{"realm": realm})
}

func equalInts(got []int64, want ...int64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}
