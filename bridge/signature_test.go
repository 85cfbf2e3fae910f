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
	a, b := replayID("k", "ts", "1", "2", nil), replayID("other", "ts", "1", "2", nil)
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
// seq || nonce || body without separators, so the replay cache must not
// tell re-splits of seq, nonce and body apart, and must tell every other
// change apart.
func TestReplayIDIsTheSignedString(t *testing.T) {
	t.Parallel()
	const ts = "2011-10-14T16:59:51.123Z"
	body := []byte(`{"topic":"t"}`)
	base := replayID("k", ts, "1", "2345", body)
	for _, split := range []struct {
		seq, nonce string
		body       []byte
	}{
		{"12", "345", body}, {"123", "45", body}, {"1234", "5", body}, {"", "12345", body},
		{"1", "2345" + `{"topic"`, []byte(`:"t"}`)}, {"1", "234", []byte(`5{"topic":"t"}`)},
	} {
		if replayID("k", ts, split.seq, split.nonce, split.body) != base {
			t.Errorf("seq %q nonce %q body %q: another replay ID for the same signed bytes", split.seq, split.nonce, split.body)
		}
	}
	for _, other := range []struct {
		key, ts, seq, nonce string
		body                []byte
	}{
		{"k", ts, "1", "2346", body},
		{"k", "2011-10-14T16:59:51.124Z", "1", "2345", body},
		{"j", ts, "1", "2345", body},
		{"k", ts, "1", "2345", []byte(`{"topic":"u"}`)},
	} {
		if replayID(other.key, other.ts, other.seq, other.nonce, other.body) == base {
			t.Errorf("%+v: the same replay ID as another request", other)
		}
	}
}
