package broker

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/realms"
)

// slowHistory is a cluster whose history reads wait until released (a
// JetStream that answers slowly).
type slowHistory struct {
	release chan struct{}
	reading sync.WaitGroup
}

func (*slowHistory) Interest(string, realms.Pattern, bool)   {}
func (*slowHistory) Forward(string, RemotePublication) error { return nil }
func (*slowHistory) KeepsHistory(string) bool                { return true }
func (h *slowHistory) HistoryEvents(context.Context, string, realms.Pattern) ([]HistoryEvent, error) {
	h.reading.Done()
	<-h.release
	return nil, nil
}

// limitErrors counts the limit_exceeded ERRORs queued for c.
func limitErrors(t *testing.T, c *recordingConn) int {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, f := range c.frames {
		var m []any
		if err := json.Unmarshal(f, &m); err != nil {
			t.Fatal(err)
		}
		if m[0] == float64(wamp.ERROR) && m[4] == string(LimitExceededURI) {
			n++
		}
	}
	return n
}

// TestClusterReadsBounded: a client cannot pile up goroutines reading the
// cluster's history: past the cap of reads at once, get_events is answered
// switchboard.error.limit_exceeded at once (and counted); once the reads
// end, get_events is served again.
func TestClusterReadsBounded(t *testing.T) {
	b, obs := limitedBroker(Realm{})
	h := &slowHistory{release: make(chan struct{})}
	const maxClusterReads = 5
	b.SetCluster(h, maxClusterReads)
	s, c := joinRecording(b, 1)
	s.Handle(&wamp.Subscribe{Request: 1, Options: wamp.Dict{}, Topic: "app.t"})
	sub, _ := wamp.AsID(lastReply(t, c)[2])
	getEvents := func(req wamp.ID) {
		s.Handle(&wamp.Call{Request: req, Options: wamp.Dict{}, Procedure: "wamp.subscription.get_events", Arguments: wamp.List{sub}})
	}
	h.reading.Add(maxClusterReads)
	for i := range maxClusterReads {
		getEvents(wamp.ID(10 + i))
	}
	h.reading.Wait() // all of them are reading
	if got := limitErrors(t, c); got != 0 {
		t.Fatalf("%d of %d get_events refused, want none", got, maxClusterReads)
	}
	getEvents(1000)
	if got := limitErrors(t, c); got != 1 {
		t.Fatalf("get_events past %d reads at once: %d limit_exceeded ERRORs, want 1", maxClusterReads, got)
	}
	obs.mu.Lock()
	counted := obs.exceeded[LimitClusterReads]
	obs.mu.Unlock()
	if counted != 1 {
		t.Fatalf("the refusal was counted %d times, want 1", counted)
	}
	close(h.release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.reading.Add(1)
		before := limitErrors(t, c)
		getEvents(2000)
		if limitErrors(t, c) == before {
			h.reading.Wait()
			return
		}
		h.reading.Done()
		if time.Now().After(deadline) {
			t.Fatal("get_events is still refused after the reads ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
