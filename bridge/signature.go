package bridge

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"sync"
	"time"
)

// Sign computes Crossbar's HTTP bridge signature:
// base64url_padded(HMAC-SHA256(secret, key || timestamp || seq || nonce || body)),
// where the four strings are the query values exactly as sent.
func Sign(secret, key, timestamp, seq, nonce string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(key))
	mac.Write([]byte(timestamp))
	mac.Write([]byte(seq))
	mac.Write([]byte(nonce))
	mac.Write(body)
	return base64.URLEncoding.EncodeToString(mac.Sum(nil))
}

// validSignature compares in constant time.
func validSignature(secret, key, timestamp, seq, nonce string, body []byte, signature string) bool {
	want := Sign(secret, key, timestamp, seq, nonce, body)
	return hmac.Equal([]byte(want), []byte(signature))
}

// Timestamp formats t as signed requests carry it: UTC with fractional
// seconds and "Z", e.g. 2011-10-14T16:59:51.123Z.
func Timestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// parseTimestamp accepts the formats Crossbar's clients send: fractional
// seconds (any precision) or none, always in UTC with "Z".
func parseTimestamp(s string) (time.Time, bool) {
	for _, layout := range []string{"2006-01-02T15:04:05.999999999Z", "2006-01-02T15:04:05Z"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// replayID identifies a signed request by the whole string its signature
// covers: key || timestamp || seq || nonce || body, with no separators, so
// that no re-split of those bytes (seq into nonce, nonce into body) passes
// for another request.
func replayID(key, timestamp, seq, nonce string, body []byte) [sha256.Size]byte {
	h := sha256.New()
	for _, s := range []string{key, timestamp, seq, nonce} {
		h.Write([]byte(s))
	}
	h.Write(body)
	var id [sha256.Size]byte
	h.Sum(id[:0])
	return id
}

// nonceStore remembers the accepted signed requests (by replayID) for as
// long as their timestamps are acceptable, so that a replay is refused.
type nonceStore struct {
	mu     sync.Mutex
	window time.Duration
	seen   map[[sha256.Size]byte]time.Time // replayID -> last instant its timestamp is acceptable
	next   time.Time                       // next purge
}

// fresh records the request id, acceptable until expires, and reports
// whether it was not already recorded.
func (s *nonceStore) fresh(id [sha256.Size]byte, expires, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[[sha256.Size]byte]time.Time{}
	}
	if now.After(s.next) {
		for k, until := range s.seen {
			if now.After(until) {
				delete(s.seen, k)
			}
		}
		s.next = now.Add(s.window / 4)
	}
	if until, ok := s.seen[id]; ok && !now.After(until) {
		return false
	}
	s.seen[id] = expires
	return true
}

// len returns how many requests are remembered.
func (s *nonceStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}
