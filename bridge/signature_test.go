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
	if !s.fresh("k", "1", now) || s.fresh("k", "1", now.Add(time.Second)) {
		t.Fatal("a nonce was accepted twice within the window")
	}
	if !s.fresh("other", "1", now) {
		t.Fatal("the same nonce of another key was refused")
	}
	if !s.fresh("k", "1", now.Add(3*time.Minute)) {
		t.Fatal("a nonce was still remembered long after the window")
	}
}
