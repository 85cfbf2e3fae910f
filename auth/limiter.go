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
// from an address that failed too often. It is an ErrAuthFailed: the client
// gets the same ABORT wamp.error.authentication_failed.
var ErrThrottled = fmt.Errorf("%w: too many failed attempts from this address, retry later", ErrAuthFailed)

// FailureWindow is the sliding window failures are counted in.
const FailureWindow = time.Minute

// MaxTrackedAddresses bounds the addresses a FailureLimiter remembers; when
// it is full of addresses that failed within the window, new ones are not
// counted.
const MaxTrackedAddresses = 65536

// FailureLimiter counts failed authentications per client address (see
// ClientAddress) in a sliding window: an address with Max failures in the
// last FailureWindow is blocked until the oldest of them is older. It is
// safe for concurrent use.
type FailureLimiter struct {
	// Now is the clock (default time.Now).
	Now func() time.Time

	mu        sync.Mutex
	max       int
	delay     time.Duration
	byAddr    map[string]*failureLog
	lastPrune time.Time
}

// failureLog holds an address's last max failure times, oldest at next.
type failureLog struct {
	times []time.Time
	next  int
}

// NewFailureLimiter allows max failures per address and window (0: no
// limit); refused attempts wait delay.
func NewFailureLimiter(max int, delay time.Duration) *FailureLimiter {
	l := &FailureLimiter{byAddr: map[string]*failureLog{}}
	l.SetLimits(max, delay)
	return l
}

// SetLimits changes the limits (configuration reload); what was counted is
// forgotten.
func (l *FailureLimiter) SetLimits(max int, delay time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if max != l.max {
		clear(l.byAddr)
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

// Blocked reports whether addr has had the maximum of failures within the
// window. The empty address (a Unix socket) is never blocked.
func (l *FailureLimiter) Blocked(addr string) bool {
	if addr == "" {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.byAddr[addr]
	return l.max > 0 && f != nil && len(f.times) == l.max && l.now().Sub(f.times[f.next]) < FailureWindow
}

// Failed counts a failure of addr; it reports whether addr is now blocked.
func (l *FailureLimiter) Failed(addr string) bool {
	if addr == "" {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max <= 0 {
		return false
	}
	now := l.now()
	f := l.byAddr[addr]
	if f == nil {
		if len(l.byAddr) >= MaxTrackedAddresses {
			l.prune(now)
			if len(l.byAddr) >= MaxTrackedAddresses {
				return false
			}
		}
		f = &failureLog{}
		l.byAddr[addr] = f
	}
	if len(f.times) < l.max {
		f.times = append(f.times, now)
	} else {
		f.times[f.next] = now
		f.next = (f.next + 1) % l.max
	}
	return len(f.times) == l.max && now.Sub(f.times[f.next]) < FailureWindow
}

// prune forgets the addresses whose last failure is out of the window, at
// most once a second (the scan is as long as the table).
func (l *FailureLimiter) prune(now time.Time) {
	if now.Sub(l.lastPrune) < time.Second {
		return
	}
	l.lastPrune = now
	for addr, f := range l.byAddr {
		last := f.times[(f.next+len(f.times)-1)%len(f.times)]
		if now.Sub(last) >= FailureWindow {
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
	if l.Limiter.Blocked(addr) {
		if l.OnThrottled != nil {
			l.OnThrottled(addr)
		}
		// The delay slows a guesser down further and costs it a connection
		// for that long; the ABORT is the one a wrong credential gets.
		time.Sleep(l.Limiter.Delay())
		return nil, ErrThrottled
	}
	w, err := l.Authenticator.Authenticate(sid, details, client)
	if errors.Is(err, ErrAuthFailed) && l.Limiter.Failed(addr) && l.OnBlocked != nil {
		l.OnBlocked(addr)
	}
	return w, err
}
