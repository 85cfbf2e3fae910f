package transport

import (
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
)

func coalescingPeer(delay time.Duration) *Peer {
	return &Peer{opts: PeerOptions{WriteDelay: delay}, notify: make(chan struct{}, 1), out: make(chan wamp.Message, 1),
		closing: make(chan struct{}), readerGone: make(chan struct{})}
}

// TestCoalesceWaitsOnlyWhenBusy: the writer waits for WriteDelay only
// after a recent write, and never for a reply, a message from nexus, or a
// closing connection. (A wait of an hour would time the test out.)
func TestCoalesceWaitsOnlyWhenBusy(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		p := coalescingPeer(time.Hour)
		p.coalesce(time.Now().Add(-2 * time.Hour)) // the last write was long ago
	})
	t.Run("disabled", func(t *testing.T) {
		p := coalescingPeer(0)
		p.coalesce(time.Now())
	})
	t.Run("reply queued", func(t *testing.T) {
		p := coalescingPeer(time.Hour)
		p.urgent.Store(true)
		p.coalesce(time.Now())
		if p.urgent.Load() {
			t.Fatal("the urgent mark was not consumed")
		}
	})
	t.Run("reply queued while waiting", func(t *testing.T) {
		p := coalescingPeer(time.Hour)
		go func() {
			p.notify <- struct{}{} // an event: keeps waiting
			p.urgent.Store(true)
			p.notify <- struct{}{} // then a reply: stops
		}()
		p.coalesce(time.Now())
	})
	t.Run("nexus message while waiting", func(t *testing.T) {
		p := coalescingPeer(time.Hour)
		want := &wamp.Goodbye{Reason: wamp.CloseNormal}
		go func() { p.out <- want }()
		if got := p.coalesce(time.Now()); got != want {
			t.Fatalf("coalesce returned %v, want the nexus message to write first", got)
		}
	})
	t.Run("quiet router", func(t *testing.T) {
		p := coalescingPeer(time.Hour)
		p.opts.Activity = &Activity{} // a single session written to: not busy
		p.opts.Activity.writers.Store(1)
		p.coalesce(time.Now())
	})
	t.Run("busy router", func(t *testing.T) {
		p := coalescingPeer(20 * time.Millisecond)
		p.opts.Activity = &Activity{}
		p.opts.Activity.writers.Store(BusyWriters)
		last := time.Now()
		p.coalesce(last)
		if waited := time.Since(last); waited < 20*time.Millisecond {
			t.Fatalf("a writer on a busy router waited %v, want WriteDelay", waited)
		}
	})
	t.Run("closing", func(t *testing.T) {
		p := coalescingPeer(time.Hour)
		close(p.closing)
		p.coalesce(time.Now())
	})
	t.Run("busy", func(t *testing.T) {
		p := coalescingPeer(20 * time.Millisecond)
		last := time.Now()
		p.coalesce(last)
		if waited := time.Since(last); waited < 20*time.Millisecond {
			t.Fatalf("a busy writer waited %v, want WriteDelay after its last write", waited)
		}
	})
}
