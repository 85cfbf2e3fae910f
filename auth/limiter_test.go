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

func TestFailureLimiterWindow(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	l := NewFailureLimiter(3, 0)
	l.Now = func() time.Time { return now }
	const a, b = "192.0.2.1", "192.0.2.2"
	for i := 1; i <= 2; i++ {
		if l.Failed(a) || l.Blocked(a) {
			t.Fatalf("blocked after %d failures of 3", i)
		}
		now = now.Add(10 * time.Second)
	}
	if !l.Failed(a) || !l.Blocked(a) {
		t.Fatal("not blocked after the 3rd failure")
	}
	if l.Blocked(b) || l.Blocked("") {
		t.Fatal("another address is blocked")
	}
	// The oldest failure (t=0) leaves the window at t=60s: until then the
	// address stays blocked, from then on it may try again.
	now = time.Unix(1_000_000, 0).Add(FailureWindow - time.Nanosecond)
	if !l.Blocked(a) {
		t.Fatal("unblocked before the oldest failure left the window")
	}
	now = now.Add(time.Nanosecond)
	if l.Blocked(a) {
		t.Fatal("still blocked once the oldest failure left the window")
	}
	// One more failure within the window of the other two blocks again.
	if !l.Failed(a) || !l.Blocked(a) {
		t.Fatal("a failure with two others in the window does not block")
	}
	l.SetLimits(0, 0)
	if l.Failed(a) || l.Blocked(a) {
		t.Fatal("max 0 must not limit")
	}
}

func TestFailureLimiterTableBound(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	l := NewFailureLimiter(1, 0)
	l.Now = func() time.Time { return now }
	for i := range MaxTrackedAddresses {
		l.Failed(fmt.Sprintf("10.%d.%d.1", i>>8, i&255))
	}
	if l.Failed("192.0.2.9") {
		t.Fatal("a new address was tracked in a full table")
	}
	now = now.Add(FailureWindow)
	if !l.Failed("192.0.2.9") || len(l.byAddr) != 1 {
		t.Fatalf("expired addresses were not pruned: %d tracked", len(l.byAddr))
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
