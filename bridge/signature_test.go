package bridge

import (
	"testing"
	"time"
)

// The worked vector of ../shared/reference/crossbar-compat.md.
func TestSignCrossbarVector(t *testing.T) {
	t.Parallel()
	got := Sign("secret", "foobar", "2011-10-14T16:59:51.123Z", "1", "42", []byte(`{"topic":"com.myapp.topic1"}`))
	if want := "MJ1bOtB_-58dq05Lt6b9lV5UyP5YqHxXsPu0hye8EhY="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestTimestamps(t *testing.T) {
	t.Parallel()
	ts := time.Date(2011, 10, 14, 16, 59, 51, 123e6, time.UTC)
	if got := Timestamp(ts); got != "2011-10-14T16:59:51.123Z" {
		t.Fatalf("Timestamp = %s", got)
	}
	for in, ok := range map[string]bool{
		"2011-10-14T16:59:51.123Z":    true,
		"2011-10-14T16:59:51.123456Z": true, // Python's %f
		"2011-10-14T16:59:51Z":        true,
		"2011-10-14T16:59:51.123":     false,
		"2011-10-14 16:59:51.123Z":    false,
		"yesterday":                   false,
	} {
		if _, got := parseTimestamp(in); got != ok {
			t.Errorf("parseTimestamp(%q) ok = %v, want %v", in, got, ok)
		}
	}
}

func TestNonceStore(t *testing.T) {
	t.Parallel()
	s := nonceStore{window: time.Minute}
	now := time.Now()
	a, b := replayID("k", "ts", "1", "2"), replayID("other", "ts", "1", "2")
	if !s.fresh(a, now.Add(time.Minute), now) {
		t.Fatal("a new request was refused")
	}
	if s.fresh(a, now.Add(time.Minute), now.Add(time.Minute)) {
		t.Fatal("a request was accepted twice before it expired")
	}
	if !s.fresh(b, now.Add(time.Minute), now) {
		t.Fatal("the same seq and nonce of another key were refused")
	}
	// Past its expiry a request is forgotten.
	later := now.Add(time.Minute + time.Millisecond)
	if !s.fresh(a, later.Add(time.Minute), later) {
		t.Fatal("a request was still remembered after it expired")
	}
	// Expired requests are purged (at most a quarter window late): the
	// store does not grow without bound.
	later = later.Add(time.Minute + 15*time.Second + time.Millisecond)
	if !s.fresh(b, later.Add(time.Minute), later) {
		t.Fatal("an expired request was refused")
	}
	if n := s.len(); n != 1 {
		t.Fatalf("%d requests remembered after the others expired, want 1", n)
	}
}

// TestReplayIDIsTheSignedString: the signature covers key || timestamp ||
// seq || nonce without separators, so the replay cache must not tell
// re-splits of seq and nonce apart, and must tell every other change apart.
func TestReplayIDIsTheSignedString(t *testing.T) {
	t.Parallel()
	base := replayID("k", "2011-10-14T16:59:51.123Z", "1", "2345")
	for _, split := range [][2]string{{"12", "345"}, {"123", "45"}, {"1234", "5"}, {"", "12345"}} {
		if replayID("k", "2011-10-14T16:59:51.123Z", split[0], split[1]) != base {
			t.Errorf("seq %q nonce %q: another replay ID for the same signed bytes", split[0], split[1])
		}
	}
	for _, other := range [][4]string{
		{"k", "2011-10-14T16:59:51.123Z", "1", "2346"},
		{"k", "2011-10-14T16:59:51.124Z", "1", "2345"},
		{"j", "2011-10-14T16:59:51.123Z", "1", "2345"},
	} {
		if replayID(other[0], other[1], other[2], other[3]) == base {
			t.Errorf("%q: the same replay ID as another request", other)
		}
	}
}
