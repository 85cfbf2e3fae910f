package auth

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	nexusauth "github.com/gammazero/nexus/v3/router/auth"
	"github.com/gammazero/nexus/v3/wamp"
)

// ErrThrottled refuses, without looking at its credentials, an attempt
// from an address that failed too often (or has too many attempts in
// progress). It is an ErrAuthFailed: the client gets the same ABORT
// wamp.error.authentication_failed.
var ErrThrottled = fmt.Errorf("%w: too many failed attempts from this address, retry later", ErrAuthFailed)

// FailureWindow is the sliding window failures are counted in.
const FailureWindow = time.Minute

// MaxTrackedAddresses bounds the addresses a FailureLimiter remembers; when
// it is full of addresses that failed within the window, new ones are not
// counted.
const MaxTrackedAddresses = 65536

// DefaultMaxWait is how long an attempt waits for a slot by default.
const DefaultMaxWait = 10 * time.Second

// FailureLimiter counts failed authentications per client address (see
// ClientAddress) in a sliding window: an address with max failures in the
// last FailureWindow is blocked until the oldest of them is older. Attempts
// in progress count against what is left, so that a burst of parallel
// guesses gets no more checks than sequential ones: an attempt that would
// exceed it waits for one in progress to finish. It is safe for concurrent
// use.
type FailureLimiter struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MaxWait bounds the wait for an attempt in progress to finish; then
	// the attempt is refused. Default DefaultMaxWait.
	MaxWait time.Duration

	mu        sync.Mutex
	max       int
	delay     time.Duration
	byAddr    map[string]*failureLog
	lastPrune time.Time
	changed   chan struct{} // closed when an attempt ends; nil when nobody waits
}

// failureLog holds an address's last max failure times (oldest at next)
// and its attempts in progress.
type failureLog struct {
	times    []time.Time
	next     int
	inFlight int
}

// inWindow counts the failures within the window before now.
func (f *failureLog) inWindow(now time.Time) int {
	n := 0
	for _, t := range f.times {
		if now.Sub(t) < FailureWindow {
			n++
		}
	}
	return n
}

// NewFailureLimiter allows max failures per address and window (0: no
// limit); refused attempts wait delay.
func NewFailureLimiter(max int, delay time.Duration) *FailureLimiter {
	l := &FailureLimiter{byAddr: map[string]*failureLog{}}
	l.SetLimits(max, delay)
	return l
}

// SetLimits changes the limits (configuration reload); when max changes,
// the failures counted are forgotten.
func (l *FailureLimiter) SetLimits(max int, delay time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if max != l.max {
		for addr, f := range l.byAddr {
			if f.inFlight == 0 {
				delete(l.byAddr, addr)
			} else {
				f.times, f.next = nil, 0
			}
		}
	}
	l.max, l.delay = max, delay
}

// Delay is how long a refused attempt waits before its ABORT.
func (l *FailureLimiter) Delay() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.delay
}

func (l *FailureLimiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// Begin starts an attempt of addr. It returns ok false, and the attempt
// must be refused unchecked, when addr has had the maximum of failures
// within the window, or when its failures and attempts in progress reach
// the maximum and none finishes within MaxWait. Otherwise the attempt's
// result must be given to done, which reports whether that failure blocked
// the address. The empty address (a Unix socket) is never limited.
func (l *FailureLimiter) Begin(addr string) (done func(failed bool) (blocked bool), ok bool) {
	noop := func(bool) bool { return false }
	if addr == "" {
		return noop, true
	}
	maxWait := l.MaxWait
	if maxWait == 0 {
		maxWait = DefaultMaxWait
	}
	var timeout <-chan time.Time
	l.mu.Lock()
	for {
		if l.max <= 0 {
			l.mu.Unlock()
			return noop, true
		}
		now := l.now()
		f := l.byAddr[addr]
		if f == nil {
			if len(l.byAddr) >= MaxTrackedAddresses {
				l.prune(now)
			}
			if len(l.byAddr) >= MaxTrackedAddresses {
				l.mu.Unlock()
				return noop, true
			}
			f = &failureLog{}
			l.byAddr[addr] = f
		}
		n := f.inWindow(now)
		if n >= l.max {
			l.mu.Unlock()
			return nil, false
		}
		if n+f.inFlight < l.max {
			f.inFlight++
			l.mu.Unlock()
			return func(failed bool) bool { return l.end(addr, f, failed) }, true
		}
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		changed := l.changed
		l.mu.Unlock()
		if timeout == nil {
			t := time.NewTimer(maxWait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-changed:
		case <-timeout:
			return nil, false
		}
		l.mu.Lock()
	}
}

// end records the result of an attempt of addr (log f).
func (l *FailureLimiter) end(addr string, f *failureLog, failed bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f.inFlight--
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
	blocked := false
	if failed && l.max > 0 {
		now := l.now()
		if len(f.times) < l.max {
			f.times = append(f.times, now)
		} else {
			f.times[f.next] = now
			f.next = (f.next + 1) % len(f.times)
		}
		blocked = f.inWindow(now) >= l.max
	}
	if f.inFlight == 0 && len(f.times) == 0 && l.byAddr[addr] == f {
		delete(l.byAddr, addr)
	}
	return blocked
}

// prune forgets the addresses whose failures are all out of the window and
// that have no attempt in progress, at most once a second (the scan is as
// long as the table).
func (l *FailureLimiter) prune(now time.Time) {
	if now.Sub(l.lastPrune) < time.Second {
		return
	}
	l.lastPrune = now
	for addr, f := range l.byAddr {
		if f.inFlight == 0 && f.inWindow(now) == 0 {
			delete(l.byAddr, addr)
		}
	}
}

// ClientAddress is the address failures are counted for, from the
// transport details nexus passes in HELLO details ("peer":
// "tcp4:192.0.2.1:5000"): the IPv4 address, or the /64 of an IPv6 address
// (one host usually has a whole /64). "" for a Unix socket or an unknown
// peer.
func ClientAddress(details wamp.Dict) string {
	td, _ := wamp.AsDict(details["transport"])
	peer, _ := wamp.AsString(td["peer"])
	network, hostport, ok := strings.Cut(peer, ":")
	if !ok || !strings.HasPrefix(network, "tcp") {
		return ""
	}
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return ""
	}
	ip := ap.Addr().Unmap()
	if ip.Is4() {
		return ip.String()
	}
	return netip.PrefixFrom(ip.WithZone(""), 64).Masked().String()
}

// Limited refuses the attempts of the addresses its Limiter blocks, after
// the Limiter's delay and without calling Authenticator; it counts the
// ErrAuthFailed refusals of the others.
type Limited struct {
	nexusauth.Authenticator
	Limiter *FailureLimiter
	// OnThrottled is told of every refused attempt. Default: nothing.
	OnThrottled func(addr string)
	// OnBlocked is told when an address reaches the limit. Default: nothing.
	OnBlocked func(addr string)
}

var _ nexusauth.Authenticator = (*Limited)(nil)

// Authenticate checks the address, then the credentials.
func (l *Limited) Authenticate(sid wamp.ID, details wamp.Dict, client wamp.Peer) (*wamp.Welcome, error) {
	addr := ClientAddress(details)
	done, ok := l.Limiter.Begin(addr)
	if !ok {
		if l.OnThrottled != nil {
			l.OnThrottled(addr)
		}
		// The delay slows a guesser down further and costs it a connection
		// for that long; the ABORT is the one a wrong credential gets.
		time.Sleep(l.Limiter.Delay())
		return nil, ErrThrottled
	}
	w, err := l.Authenticator.Authenticate(sid, details, client)
	if done(errors.Is(err, ErrAuthFailed)) && l.OnBlocked != nil {
		l.OnBlocked(addr)
	}
	return w, err
}
