package bridge

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingObserver records failure reasons.
type countingObserver struct{ reasons []string }

func (o *countingObserver) Failed(reason string) { o.reasons = append(o.reasons, reason) }

func TestHTTPCalleeAnswers(t *testing.T) {
	t.Parallel()
	var followed atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		followed.Add(1)
		_, _ = w.Write([]byte(`{"args":["followed"]}`))
	}))
	t.Cleanup(target.Close)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte(`{"args":[1],"kwargs":{"k":"v"}}`))
		case "/app-error":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"app.error.invalid","args":["no"]}`))
		case "/redirect":
			http.Redirect(w, r, target.URL, http.StatusPermanentRedirect)
		case "/not-json":
			_, _ = w.Write([]byte("<html>secret page</html>"))
		case "/too-deep": // one level past the default nesting limit, 64
			_, _ = w.Write([]byte(`{"args":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}`))
		default:
			http.Error(w, "panic: secret internals", http.StatusInternalServerError)
		}
	}))
	t.Cleanup(app.Close)
	for _, tc := range []struct {
		path, uri, reason string
		status            int
	}{
		{"/ok", "", "", 0},
		{"/app-error", "app.error.invalid", "", 0},
		{"/redirect", ErrHTTPCalleeFailed, "redirect", http.StatusPermanentRedirect},
		{"/not-json", ErrHTTPCalleeFailed, "invalid_answer", http.StatusOK},
		{"/too-deep", ErrHTTPCalleeFailed, "invalid_answer", http.StatusOK},
		{"/crash", ErrHTTPCalleeFailed, "status", http.StatusInternalServerError},
	} {
		t.Run(tc.path, func(t *testing.T) {
			obs := &countingObserver{}
			c := NewHTTPCallee(CalleeOptions{URL: app.URL + tc.path, Secret: "s", Timeout: 5 * time.Second, Observer: obs})
			defer c.Close()
			args, kwargs, err := c.Invoke(context.Background(), "app.p", nil, nil, nil)
			if tc.uri == "" {
				if err != nil || fmt.Sprint(args, kwargs) != "[1] map[k:v]" {
					t.Fatalf("result %v %v %v", args, kwargs, err)
				}
				return
			}
			e, ok := err.(*Error)
			if !ok || e.URI != tc.uri {
				t.Fatalf("error %v, want %s", err, tc.uri)
			}
			if tc.reason == "" {
				return // the app's own WAMP error, as it sent it
			}
			if shown := fmt.Sprint(e.Args, e.Kwargs); strings.Contains(shown, "secret") || strings.Contains(shown, target.URL) {
				t.Fatalf("the caller sees the app's answer: %s", shown)
			}
			if e.Kwargs["status"] != tc.status {
				t.Fatalf("error %v, want status %d", e, tc.status)
			}
			if fmt.Sprint(obs.reasons) != "["+tc.reason+"]" {
				t.Fatalf("counted %v, want [%s]", obs.reasons, tc.reason)
			}
		})
	}
	if n := followed.Load(); n != 0 {
		t.Fatalf("a redirect was followed %d times", n)
	}
}

func TestForwarderDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	var followed atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		followed.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(target.Close)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(app.Close)
	for path, want := range map[string]ForwardStats{"/moved": {Failed: 1}, "/events": {Delivered: 1}} {
		f := NewForwarder(ForwardOptions{URL: app.URL + path, Secret: "s", QueueSize: 1, MaxRetries: 3, Timeout: 5 * time.Second})
		f.deliver(context.Background(), ForwardEvent{Topic: "t"})
		if got := f.Stats(); got != want {
			t.Errorf("%s: stats %+v, want %+v", path, got, want)
		}
	}
	if n := followed.Load(); n != 0 {
		t.Fatalf("a redirect was followed %d times", n)
	}
}

// TestHTTPCalleeAnswerLimits: an answer nested to AnswerLimits is the
// result; one level deeper is an invalid answer (TestHTTPCalleeAnswers
// covers the default limit).
func TestHTTPCalleeAnswerLimits(t *testing.T) {
	t.Parallel()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		depth := 10
		if r.URL.Path == "/deeper" {
			depth = 11
		}
		_, _ = w.Write([]byte(`{"args":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`))
	}))
	t.Cleanup(app.Close)
	for _, path := range []string{"/at-limit", "/deeper"} {
		c := NewHTTPCallee(CalleeOptions{URL: app.URL + path, Secret: "s", Timeout: 5 * time.Second,
			AnswerLimits: BodyLimits{MaxNestingDepth: 10}})
		args, _, err := c.Invoke(context.Background(), "app.p", nil, nil, nil)
		c.Close()
		switch e, _ := err.(*Error); {
		case path == "/at-limit" && (err != nil || len(args) != 1):
			t.Fatalf("answer at the limit: %v %v", args, err)
		case path == "/deeper" && (e == nil || e.URI != ErrHTTPCalleeFailed):
			t.Fatalf("answer past the limit: %v %v, want %s", args, err, ErrHTTPCalleeFailed)
		}
	}
}
