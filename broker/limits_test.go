package broker

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/realms"
)

// limitObserver records what the broker reports about limits.
type limitObserver struct {
	mu                                          sync.Mutex
	exceeded                                    map[string]int
	topics, retainB                             int
	historyTopics, historyBytes, historyEvicted int
}

func (o *limitObserver) Published(string)      {}
func (o *limitObserver) Delivered(string, int) {}
func (o *limitObserver) Sent(wamp.MessageType) {}
func (o *limitObserver) LimitExceeded(_, limit string) {
	o.mu.Lock()
	o.exceeded[limit]++
	o.mu.Unlock()
}
func (o *limitObserver) History(_ string, topics, bytes, evicted int) {
	o.mu.Lock()
	o.historyTopics, o.historyBytes = topics, bytes
	o.historyEvicted += evicted
	o.mu.Unlock()
}
func (o *limitObserver) Retained(_ string, topics, bytes int) {
	o.mu.Lock()
	o.topics, o.retainB = topics, bytes
	o.mu.Unlock()
}

func limitedBroker(r Realm) (*Broker, *limitObserver) {
	r.Name = "realm1"
	r.Authorizer = realms.NewAuthorizer([]realms.Role{{Name: "r", Permissions: []realms.Permission{
		{URI: "", Match: realms.MatchPrefix, Allow: realms.Actions{Publish: true, Subscribe: true, Call: true}},
	}}})
	obs := &limitObserver{exceeded: map[string]int{}}
	return New([]Realm{r}, nil, obs), obs
}

func joinRecording(b *Broker, id int) (*Session, *recordingConn) {
	c := &recordingConn{countingConn: *newConn("json")}
	s := b.Join(c, &wamp.Hello{Realm: "realm1", Details: wamp.Dict{}},
		&wamp.Welcome{ID: wamp.ID(id), Details: wamp.Dict{"authid": "a", "authrole": "r"}})
	return s, c
}

// lastReply decodes the last frame queued for c.
func lastReply(t *testing.T, c *recordingConn) []any {
	t.Helper()
	var m []any
	if err := json.Unmarshal(c.last(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRetainedLimits(t *testing.T) {
	t.Parallel()
	b, obs := limitedBroker(Realm{MaxRetainedTopics: 2, MaxRetainedBytes: 4096})
	s, c := joinRecording(b, 1)
	retain := func(topic string, payload string) []any {
		t.Helper()
		s.Handle(&wamp.Publish{Request: 1, Topic: wamp.URI(topic), Options: wamp.Dict{"retain": true, "acknowledge": true},
			Arguments: wamp.List{payload}})
		return lastReply(t, c)
	}
	published := func(m []any) bool { return m[0] == float64(wamp.PUBLISHED) }
	for _, topic := range []string{"t.a", "t.b", "t.a", "t.b"} { // replacing keeps the count
		if m := retain(topic, "x"); !published(m) {
			t.Fatalf("retain %s: %v", topic, m)
		}
	}
	if obs.topics != 2 {
		t.Fatalf("retained topics reported %d, want 2", obs.topics)
	}
	m := retain("t.c", "x")
	if m[0] != float64(wamp.ERROR) || m[4] != string(LimitExceededURI) {
		t.Fatalf("a third retained topic: %v, want ERROR %s", m, LimitExceededURI)
	}
	if obs.exceeded[LimitRetainedTopics] != 1 {
		t.Fatalf("limit refusals %v", obs.exceeded)
	}
	// Bytes: the replaced event's size is given back.
	before := obs.retainB
	if m := retain("t.a", strings.Repeat("y", 3000)); !published(m) {
		t.Fatalf("a 3000-byte retained event under a 4096-byte limit: %v", m)
	}
	if obs.retainB-before != 2999 { // a 1-byte payload replaced by a 3000-byte one
		t.Fatalf("retained bytes %d after replacing 1 payload byte with 3000 (was %d)", obs.retainB, before)
	}
	if m := retain("t.b", strings.Repeat("y", 1000)); m[0] != float64(wamp.ERROR) {
		t.Fatalf("retained bytes over the limit: %v", m)
	}
	if m := retain("t.a", strings.Repeat("y", 2000)); !published(m) {
		t.Fatalf("replacing with a smaller event: %v", m)
	}
	if obs.exceeded[LimitRetainedBytes] != 1 {
		t.Fatalf("limit refusals %v", obs.exceeded)
	}
	// Without acknowledge nothing is answered, but the refusal is counted.
	n := len(c.frames)
	s.Handle(&wamp.Publish{Request: 2, Topic: "t.d", Options: wamp.Dict{"retain": true}, Arguments: wamp.List{"x"}})
	if len(c.frames) != n || obs.exceeded[LimitRetainedTopics] != 2 {
		t.Fatalf("unacknowledged refusal: %d new frames, refusals %v", len(c.frames)-n, obs.exceeded)
	}
	// In-process publishers meet the same limits.
	if _, err := b.Publish("realm1", &Publisher{AuthID: "bridge"}, "t.e", nil, nil, wamp.Dict{"retain": true}); !errors.Is(err, ErrLimitExceeded) {
		t.Fatalf("in-process retain over the limit: %v", err)
	}
}

func TestSubscriptionLimit(t *testing.T) {
	t.Parallel()
	b, obs := limitedBroker(Realm{MaxSubscriptionsPerSession: 2})
	s, c := joinRecording(b, 1)
	subscribe := func(req int, topic string) []any {
		s.Handle(&wamp.Subscribe{Request: wamp.ID(req), Topic: wamp.URI(topic), Options: wamp.Dict{}})
		return lastReply(t, c)
	}
	first := subscribe(1, "t.a")
	subscribe(2, "t.b")
	if m := subscribe(3, "t.a"); m[0] != float64(wamp.SUBSCRIBED) || m[2] != first[2] {
		t.Fatalf("subscribing again to a topic at the limit: %v, want its subscription", m)
	}
	if m := subscribe(4, "t.c"); m[0] != float64(wamp.ERROR) || m[4] != string(LimitExceededURI) {
		t.Fatalf("a third subscription: %v", m)
	}
	id, _ := wamp.AsID(first[2])
	s.Handle(&wamp.Unsubscribe{Request: 5, Subscription: id})
	if m := subscribe(6, "t.c"); m[0] != float64(wamp.SUBSCRIBED) {
		t.Fatalf("after an unsubscribe: %v", m)
	}
	if obs.exceeded[LimitSubscriptionsPerSession] != 1 {
		t.Fatalf("limit refusals %v", obs.exceeded)
	}
}

func TestReservedTopics(t *testing.T) {
	t.Parallel()
	b, _ := limitedBroker(Realm{})
	s, c := joinRecording(b, 1)
	meta, mc := joinRecording(b, 2)
	meta.Handle(&wamp.Subscribe{Request: 1, Topic: "wamp.session.on_leave", Options: wamp.Dict{}})
	s.Handle(&wamp.Publish{Request: 1, Topic: "wamp.session.on_leave", Options: wamp.Dict{"acknowledge": true}, Arguments: wamp.List{1}})
	if m := lastReply(t, c); m[0] != float64(wamp.ERROR) || m[4] != string(wamp.ErrInvalidURI) {
		t.Fatalf("client publication to wamp.*: %v, want ERROR wamp.error.invalid_uri", m)
	}
	if _, err := b.Publish("realm1", &Publisher{AuthID: "bridge"}, "wamp.session.on_leave", nil, nil, nil); !errors.Is(err, ErrInvalidURI) {
		t.Fatalf("in-process publisher to wamp.*: %v", err)
	}
	if len(mc.frames) != 1 { // SUBSCRIBED only
		t.Fatalf("the meta subscriber got %d frames, want only SUBSCRIBED", len(mc.frames))
	}
	// The router's own events (no publisher) are delivered.
	if _, err := b.Publish("realm1", nil, "wamp.session.on_leave", wamp.List{1}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if m := lastReply(t, mc); m[0] != float64(wamp.EVENT) {
		t.Fatalf("router meta event: %v", m)
	}
}

func TestValueSize(t *testing.T) {
	t.Parallel()
	small := valueSize(wamp.List{"x"}, 0)
	big := valueSize(wamp.List{strings.Repeat("x", 1000)}, 0)
	if big-small != 999 {
		t.Errorf("a 1000-byte string counts %d more than a 1-byte one", big-small)
	}
	nested := any("x")
	for range 200 {
		nested = []any{nested}
	}
	if n := valueSize(nested, 0); n < maxSizeDepth*sliceHeader {
		t.Errorf("deeply nested value counted %d bytes", n)
	}
	if n := valueSize(map[any]any{1: []int{1, 2}}, 0); n < mapHeader+mapEntry+sliceHeader {
		t.Errorf("a map with non-string keys counted %d bytes", n)
	}
}

// TestHistoryBytesBound: past max_history_bytes the oldest events of the
// least recently published topic go first, one at a time, and are
// counted; the bytes kept never exceed the bound.
func TestHistoryBytesBound(t *testing.T) {
	payload := strings.Repeat("x", 1000)
	one := historyEventOverhead + retainedSize(&publication{topic: "app.a", args: wamp.List{payload}})
	b, obs := limitedBroker(Realm{
		History:         []History{{Topic: "app.", Match: realms.MatchPrefix, Limit: 100}},
		MaxHistoryBytes: 3*one + one/2, // room for three events
	})
	r := b.realms["realm1"]
	publish := func(topic string) {
		t.Helper()
		if _, err := b.Publish("realm1", &Publisher{AuthID: "app"}, topic, wamp.List{payload}, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	publish("app.a")
	publish("app.a")
	publish("app.b")
	if obs.historyEvicted != 0 || obs.historyBytes != 3*one {
		t.Fatalf("three events: evicted %d, bytes %d, want 0 and %d", obs.historyEvicted, obs.historyBytes, 3*one)
	}
	publish("app.b") // a is the least recently published: its oldest event goes
	if obs.historyEvicted != 1 || len(r.history[0].topics["app.a"].events) != 1 || len(r.history[0].topics["app.b"].events) != 2 {
		t.Fatalf("after a fourth event: evicted %d, a keeps %d, b keeps %d; want 1, 1, 2", obs.historyEvicted,
			len(r.history[0].topics["app.a"].events), len(r.history[0].topics["app.b"].events))
	}
	publish("app.b") // a's last event goes, and a with it
	if _, ok := r.history[0].topics["app.a"]; ok || obs.historyTopics != 1 || obs.historyEvicted != 2 {
		t.Fatalf("after a fifth event: a kept %v, topics %d, evicted %d; want gone, 1, 2", ok, obs.historyTopics, obs.historyEvicted)
	}
	if obs.historyBytes > 3*one+one/2 {
		t.Fatalf("history holds %d bytes, over the bound %d", obs.historyBytes, 3*one+one/2)
	}
}
