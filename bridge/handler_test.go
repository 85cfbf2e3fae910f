package bridge

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const testSecret = "a-secret-of-enough-length"

// clock is a settable clock for Options.Now.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

// signedHandler has one signing key, "django", and a window of limit.
func signedHandler(c *clock, limit time.Duration) *Handler {
	return New(Options{Backend: refusingBackend{}, MaxBodySize: 1024, TimestampDeltaLimit: limit, Now: c.Now,
		Keys: []Key{{Key: "django", Secret: testSecret, AuthID: "d", Role: "r"}}})
}

// verify checks a request of key django signed correctly over the given
// values.
func verify(h *Handler, ts time.Time, seq, nonce string, body []byte) *requestError {
	return verifyParams(h, map[string]string{"key": "django", "timestamp": Timestamp(ts), "seq": seq, "nonce": nonce,
		"signature": Sign(testSecret, "django", Timestamp(ts), seq, nonce, body)}, body)
}

func verifyParams(h *Handler, params map[string]string, body []byte) *requestError {
	_, rerr := h.verifySigned(h.keys.Load(), func(k string) string { return params[k] }, body)
	return rerr
}

// TestTimestampWindowBothSides: a request dated up to the limit before or
// after the router's clock is accepted, a millisecond more is refused, in
// the past and in the future.
func TestTimestampWindowBothSides(t *testing.T) {
	t.Parallel()
	const limit = time.Minute
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		offset time.Duration
		ok     bool
	}{
		{"now", 0, true},
		{"past, at the limit", -limit, true},
		{"past, just outside", -limit - time.Millisecond, false},
		{"future, at the limit", limit, true},
		{"future, just outside", limit + time.Millisecond, false},
		{"far future", 24 * time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := signedHandler(&clock{now}, limit)
			rerr := verify(h, now.Add(tc.offset), "1", "n", []byte(`{}`))
			if tc.ok && rerr != nil {
				t.Fatalf("refused: %v", rerr)
			}
			if !tc.ok && (rerr == nil || !strings.Contains(rerr.message, "from the router's clock")) {
				t.Fatalf("got %v, want refused for its timestamp", rerr)
			}
		})
	}
}

// TestReplayOfResplitSeqNonce: once a signed request is accepted, the same
// signed bytes with seq and nonce split differently are replays; a new
// nonce is not.
func TestReplayOfResplitSeqNonce(t *testing.T) {
	t.Parallel()
	c := &clock{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	h := signedHandler(c, time.Minute)
	body := []byte(`{"topic":"a"}`)
	if rerr := verify(h, c.now, "1", "2345", body); rerr != nil {
		t.Fatalf("first request refused: %v", rerr)
	}
	for _, split := range [][2]string{{"12", "345"}, {"123", "45"}, {"1234", "5"}} {
		// The signature over the re-split values is the same string.
		if Sign(testSecret, "django", Timestamp(c.now), split[0], split[1], body) != Sign(testSecret, "django", Timestamp(c.now), "1", "2345", body) {
			t.Fatal("re-split changed the signature")
		}
		if rerr := verify(h, c.now, split[0], split[1], body); rerr == nil || rerr.reason != ReasonReplay {
			t.Errorf("seq %s nonce %s: got %v, want refused as a replay", split[0], split[1], rerr)
		}
	}
	if rerr := verify(h, c.now, "1", "2346", body); rerr != nil {
		t.Fatalf("a new nonce was refused: %v", rerr)
	}
}

// TestNonceRetention: a request is remembered for as long as its timestamp
// is acceptable, up to the last millisecond of the window, which for a
// request dated in the future is twice the window after it arrived.
func TestNonceRetention(t *testing.T) {
	t.Parallel()
	const limit = time.Minute
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	body := []byte(`{}`)
	for _, tc := range []struct {
		name string
		ts   time.Time
	}{
		{"dated now", start},
		{"dated the limit ahead", start.Add(limit)},
		{"dated the limit behind", start.Add(-limit)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := &clock{start}
			h := signedHandler(c, limit)
			if rerr := verify(h, tc.ts, "1", "n", body); rerr != nil {
				t.Fatalf("refused: %v", rerr)
			}
			// The last instant the timestamp is acceptable: still a replay.
			c.now = tc.ts.Add(limit)
			if rerr := verify(h, tc.ts, "1", "n", body); rerr == nil || rerr.reason != ReasonReplay {
				t.Fatalf("at %s after arrival: got %v, want refused as a replay", c.now.Sub(start), rerr)
			}
			// A millisecond later the timestamp itself is refused.
			c.now = tc.ts.Add(limit + time.Millisecond)
			if rerr := verify(h, tc.ts, "1", "n", body); rerr == nil || rerr.reason == ReasonReplay {
				t.Fatalf("after the window: got %v, want refused for its timestamp", rerr)
			}
		})
	}
}

func TestCheckSite(t *testing.T) {
	t.Parallel()
	allowed := []string{"https://app.example.com", "*.trusted.example"}
	for _, tc := range []struct {
		origin, site string
		ok           bool
	}{
		{"", "", true},            // a backend
		{"", "none", true},        // typed into the address bar
		{"", "same-origin", true}, // no Origin: not a POST from a page
		{"", "cross-site", false},
		{"", "Same-Site", false},
		{"https://app.example.com", "cross-site", true}, // allowed explicitly
		{"https://x.trusted.example", "same-site", true},
		{"http://app.example.com", "", false}, // wrong scheme
		{"https://evil.example", "", false},
		{"https://evil.example", "same-origin", false}, // DNS rebinding
		{"null", "cross-site", false},
	} {
		r := httptest.NewRequest(http.MethodPost, "/publish", nil)
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		if tc.site != "" {
			r.Header.Set("Sec-Fetch-Site", tc.site)
		}
		rerr := checkSite(r, allowed)
		if (rerr == nil) != tc.ok || (rerr != nil && rerr.uri != ErrOriginNotAllowed) {
			t.Errorf("Origin %q Sec-Fetch-Site %q: got %v, want ok=%v", tc.origin, tc.site, rerr, tc.ok)
		}
	}
	// By default no origin is allowed.
	r := httptest.NewRequest(http.MethodPost, "/publish", nil)
	r.Header.Set("Origin", "http://localhost:3000")
	if checkSite(r, nil) == nil {
		t.Error("an Origin was accepted with no allowed_origins")
	}
}
