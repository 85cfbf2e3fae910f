package auth

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/transport"
	"github.com/gammazero/nexus/v3/wamp"
)

// attempt runs one attempt of addr that fails or not; ok false means it
// was refused unchecked.
func attempt(l *FailureLimiter, addr string, failed bool) (ok, blocked bool) {
	done, ok := l.Begin(addr)
	if !ok {
		return false, false
	}
	return true, done(failed)
}

func TestFailureLimiterWindow(t *testing.T) {
	t.Parallel()
	start := time.Unix(1_000_000, 0)
	now := start
	l := NewFailureLimiter(3, 0)
	l.Now = func() time.Time { return now }
	const a, b = "192.0.2.1", "192.0.2.2"
	for i := 1; i <= 2; i++ {
		if ok, blocked := attempt(l, a, true); !ok || blocked {
			t.Fatalf("failure %d of 3: ok %v blocked %v", i, ok, blocked)
		}
		now = now.Add(10 * time.Second)
	}
	if ok, _ := attempt(l, a, false); !ok {
		t.Fatal("a success after 2 failures of 3 was refused")
	}
	if ok, blocked := attempt(l, a, true); !ok || !blocked {
		t.Fatalf("3rd failure: ok %v blocked %v, want checked and then blocked", ok, blocked)
	}
	if ok, _ := attempt(l, a, false); ok {
		t.Fatal("an attempt after the 3rd failure was checked")
	}
	if ok, _ := attempt(l, b, false); !ok {
		t.Fatal("another address is blocked")
	}
	if ok, _ := attempt(l, "", true); !ok {
		t.Fatal("a Unix socket client is limited")
	}
	// The oldest failure (at start) leaves the window at start+60s: until
	// then the address stays blocked, from then on it may try again, and
	// one more failure with two others in the window blocks it again.
	now = start.Add(FailureWindow - time.Nanosecond)
	if ok, _ := attempt(l, a, false); ok {
		t.Fatal("unblocked before the oldest failure left the window")
	}
	now = now.Add(time.Nanosecond)
	if ok, blocked := attempt(l, a, true); !ok || !blocked {
		t.Fatalf("once the oldest failure left the window: ok %v blocked %v", ok, blocked)
	}
	l.SetLimits(0, 0)
	for range 5 {
		if ok, blocked := attempt(l, a, true); !ok || blocked {
			t.Fatal("max 0 must not limit")
		}
	}
}

// TestFailureLimiterParallel: attempts in progress count against what is
// left, so parallel guesses get no more checks than sequential ones; an
// attempt beyond waits for one to finish, and is refused if none does.
func TestFailureLimiterParallel(t *testing.T) {
	t.Parallel()
	l := NewFailureLimiter(3, 0)
	l.MaxWait = 20 * time.Millisecond
	const a = "192.0.2.1"
	var dones []func(bool) bool
	for range 3 {
		done, ok := l.Begin(a)
		if !ok {
			t.Fatal("one of 3 parallel attempts was refused")
		}
		dones = append(dones, done)
	}
	if _, ok := l.Begin(a); ok {
		t.Fatal("a 4th parallel attempt was admitted while 3 are in progress")
	}
	if ok, _ := attempt(l, "192.0.2.2", false); !ok {
		t.Fatal("another address waits for this one's attempts")
	}
	l.MaxWait = 10 * time.Second
	admitted := make(chan bool, 1)
	go func() {
		done, ok := l.Begin(a)
		if ok {
			done(false)
		}
		admitted <- ok
	}()
	dones[0](false) // a success frees its slot
	if !<-admitted {
		t.Fatal("the waiting attempt was refused after a slot was freed")
	}
	// Three parallel guesses, all wrong: the last one blocks the address,
	// and the next attempt is refused at once, not after a wait.
	third, ok := l.Begin(a)
	if !ok {
		t.Fatal("a 3rd parallel attempt was refused with 2 in progress")
	}
	if dones[1](true) || dones[2](true) || !third(true) {
		t.Fatal("3 failures in progress did not block exactly at the 3rd")
	}
	if _, ok := l.Begin(a); ok {
		t.Fatal("an attempt after 3 parallel failures was admitted")
	}
}

func TestFailureLimiterTableBound(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	l := NewFailureLimiter(1, 0)
	l.Now = func() time.Time { return now }
	for i := range MaxTrackedAddresses {
		attempt(l, fmt.Sprintf("10.%d.%d.1", i>>8, i&255), true)
	}
	if ok, blocked := attempt(l, "192.0.2.9", true); !ok || blocked {
		t.Fatal("a new address was tracked in a full table")
	}
	now = now.Add(FailureWindow)
	if ok, blocked := attempt(l, "192.0.2.9", true); !ok || !blocked || len(l.byAddr) != 1 {
		t.Fatalf("expired addresses were not pruned: %d tracked", len(l.byAddr))
	}
	// Successes leave nothing behind.
	for i := range 100 {
		attempt(l, fmt.Sprintf("10.9.%d.1", i), false)
	}
	if len(l.byAddr) != 1 {
		t.Fatalf("%d addresses tracked after successes", len(l.byAddr))
	}
}

func TestClientAddress(t *testing.T) {
	t.Parallel()
	for peer, want := range map[string]string{
		"tcp4:192.0.2.1:5000":              "192.0.2.1",
		"tcp6:[::ffff:192.0.2.1]:5000":     "192.0.2.1",
		"tcp6:[2001:db8:1:2:3:4:5:6]:5000": "2001:db8:1:2::/64",
		"tcp6:[2001:db8:1:2:ffff::1]:1":    "2001:db8:1:2::/64",
		"tcp6:[fe80::1%eth0]:1":            "fe80::/64",
		"tcp6:[::1]:5000":                  "::/64",
		"unix:/run/switchboard.sock":       "",
		"":                                 "",
		"tcp4:garbage":                     "",
	} {
		if got := ClientAddress(wamp.Dict{"transport": wamp.Dict{"peer": peer}}); got != want {
			t.Errorf("ClientAddress(%q) = %q, want %q", peer, got, want)
		}
	}
}

type countingAuth struct {
	calls atomic.Int32
	err   error
}

func (c *countingAuth) AuthMethod() string { return "ticket" }
func (c *countingAuth) Authenticate(wamp.ID, wamp.Dict, wamp.Peer) (*wamp.Welcome, error) {
	c.calls.Add(1)
	if c.err != nil {
		return nil, c.err
	}
	return &wamp.Welcome{Details: wamp.Dict{}}, nil
}

// TestLimited: failures of the wrapped authenticator count, other errors
// and successes do not; a blocked address is refused without a call.
func TestLimited(t *testing.T) {
	t.Parallel()
	inner := &countingAuth{}
	var throttled, blocked atomic.Int32
	l := &Limited{Authenticator: inner, Limiter: NewFailureLimiter(2, time.Millisecond),
		OnThrottled: func(string) { throttled.Add(1) }, OnBlocked: func(string) { blocked.Add(1) }}
	details := wamp.Dict{"transport": wamp.Dict{"peer": "tcp4:192.0.2.1:5000"}}
	_, peer := transport.LinkedPeers()
	try := func(err error) error {
		inner.err = err
		_, got := l.Authenticate(1, details, peer)
		return got
	}
	for range 5 {
		if err := try(nil); err != nil {
			t.Fatal(err)
		}
		if err := try(ErrServiceFailed); !errors.Is(err, ErrServiceFailed) {
			t.Fatal(err)
		}
	}
	if err := try(ErrAuthFailed); err != ErrAuthFailed {
		t.Fatalf("1st failure: %v", err)
	}
	if err := try(nil); err != nil {
		t.Fatalf("after 1 failure of 2, a right credential is refused: %v", err)
	}
	if err := try(ErrAuthFailed); err != ErrAuthFailed || blocked.Load() != 1 {
		t.Fatalf("2nd failure: %v (blocked %d)", err, blocked.Load())
	}
	calls := inner.calls.Load()
	if err := try(nil); !errors.Is(err, ErrThrottled) || !errors.Is(err, ErrAuthFailed) || inner.calls.Load() != calls || throttled.Load() != 1 {
		t.Fatalf("3rd attempt with a right credential: %v, %d calls, %d throttled", err, inner.calls.Load()-calls, throttled.Load())
	}
}
