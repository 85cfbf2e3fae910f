package router_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/gorilla/websocket"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// TestFanOutDetailsAreNotShared is the regression test for nexus v3.3.0's
// shared EVENT.Details map (a fatal concurrent map write): 200 prefix and
// 200 exact subscribers announcing publisher_identification, 2000 publishes
// with disclosure. Under -race: no crash, no race report, every subscriber
// gets every event, each with exactly its own details. Not parallel: it
// loads both cores, and would starve the other tests' timeouts.
func TestFanOutDetailsAreNotShared(t *testing.T) {
	const perKind, publishes = 200, 2000
	srv := routertest.Start(t, func(c *config.Config) {
		c.Realms[0].Roles[0].Permissions[0].Disclose.Publisher = true
	})
	pub := srv.Dial(t, 0, "json", client.Config{})
	topic := "com.fanout.news"

	type counter struct {
		got  atomic.Int64
		errs atomic.Int64
		last atomic.Value
	}
	counters := make([]*counter, 2*perKind)
	var wg sync.WaitGroup
	for i := range counters {
		counters[i] = &counter{}
		prefix := i%2 == 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Alternate serializers and transports across subscribers.
			ser := serializers[i%3]
			c, err := srv.DialErr((i/2)%2, ser, client.Config{})
			if err != nil {
				counters[i].errs.Add(1)
				counters[i].last.Store(err.Error())
				return
			}
			t.Cleanup(func() { c.Close() })
			ctr := counters[i]
			check := func(ev *wamp.Event) {
				ctr.got.Add(1)
				_, hasTopic := ev.Details["topic"]
				id, _ := wamp.AsID(ev.Details["publisher"])
				if hasTopic != prefix || id != pub.ID() || len(ev.Details) != map[bool]int{true: 4, false: 3}[prefix] {
					ctr.errs.Add(1)
					ctr.last.Store(fmt.Sprint(ev.Details))
				}
			}
			if prefix {
				err = c.Subscribe("com.fanout.", check, wamp.Dict{"match": "prefix"})
			} else {
				err = c.Subscribe(topic, check, nil)
			}
			if err != nil {
				ctr.errs.Add(1)
				ctr.last.Store(err.Error())
			}
		}()
	}
	wg.Wait()
	for i := range publishes {
		opts := wamp.Dict{"disclose_me": true}
		if i%100 == 99 {
			opts["acknowledge"] = true // keeps the publisher from racing ahead unchecked
		}
		must(t, pub.Publish(topic, opts, wamp.List{i}, nil))
	}
	deadline := time.Now().Add(60 * time.Second)
	for i, ctr := range counters {
		for ctr.got.Load() < publishes && time.Now().Before(deadline) && ctr.errs.Load() == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		if n := ctr.errs.Load(); n > 0 {
			t.Fatalf("subscriber %d: %d bad events, last: %v", i, n, ctr.last.Load())
		}
		if got := ctr.got.Load(); got != publishes {
			t.Fatalf("subscriber %d received %d of %d events", i, got, publishes)
		}
	}
}

// TestSlowConsumerIsDisconnected: a subscriber that reads far slower than
// events arrive is disconnected with GOODBYE switchboard.error.slow_consumer
// and WebSocket status 1008, while a fast subscriber on the same topic gets
// every event and the publisher's acknowledged publishes all succeed.
func TestSlowConsumerIsDisconnected(t *testing.T) {
	t.Parallel()
	const events, size = 1000, 32 << 10
	srv := routertest.Start(t, func(c *config.Config) {
		c.Listeners[0].WebSocket.MaxQueueBytes = 256 << 10
		// The fast subscriber (RawSocket) can hold every event at once: it
		// cannot become a slow consumer however loaded the machine is.
		c.Listeners[1].RawSocket.MaxQueueBytes = 2 * events * size
	})

	slow := rawJoin(t, srv.URL(0))
	rawSubscribe(t, slow, "com.slow.topic")

	fast := srv.Dial(t, 1, "msgpack", client.Config{})
	var fastGot atomic.Int64
	must(t, fast.Subscribe("com.slow.topic", func(*wamp.Event) { fastGot.Add(1) }, nil))

	// The slow subscriber reads one message every 20ms, about 1.6 MB/s.
	type outcome struct {
		read    int
		goodbye []any
		close   *websocket.CloseError
		err     error
	}
	done := make(chan outcome, 1)
	go func() {
		var o outcome
		for {
			_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, msg, err := slow.ReadMessage()
			if err != nil {
				o.err = err
				errors.As(err, &o.close)
				done <- o
				return
			}
			if strings.HasPrefix(string(msg), "[6,") {
				_ = json.Unmarshal(msg, &o.goodbye)
			} else {
				o.read++
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	pub := srv.Dial(t, 0, "json", client.Config{})
	payload := strings.Repeat("x", size)
	for i := range events {
		opts := wamp.Dict{}
		if i%50 == 49 {
			opts["acknowledge"] = true
		}
		if err := pub.Publish("com.slow.topic", opts, wamp.List{i, payload}, nil); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for fastGot.Load() < events && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := fastGot.Load(); got != events {
		t.Fatalf("fast subscriber received %d of %d events", got, events)
	}
	o := <-done
	if o.read >= events {
		t.Fatalf("slow subscriber read all %d events: it was never behind", o.read)
	}
	if len(o.goodbye) < 3 || o.goodbye[2] != "switchboard.error.slow_consumer" {
		t.Fatalf("slow subscriber: GOODBYE = %v (read %d events, then %v)", o.goodbye, o.read, o.err)
	}
	if o.close == nil || o.close.Code != websocket.ClosePolicyViolation {
		t.Fatalf("slow subscriber: close = %v, want status 1008", o.err)
	}
	if n := srv.Stats().SlowConsumers; n != 1 {
		t.Fatalf("slow consumers counted: %d, want 1", n)
	}
	t.Logf("slow subscriber read %d of %d events before being disconnected", o.read, events)
}
