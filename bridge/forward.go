package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
)

// ForwardEvent is one event POSTed to the app.
type ForwardEvent struct {
	Topic       string         `json:"topic"`
	Args        []any          `json:"args"`
	Kwargs      map[string]any `json:"kwargs"`
	Publication uint64         `json:"publication"`
}

// ForwardOptions configure a Forwarder.
type ForwardOptions struct {
	URL        string
	Secret     string
	QueueSize  int
	MaxRetries int
	Timeout    time.Duration
	// MinBackoff and MaxBackoff bound the exponential backoff between
	// retries (defaults 100ms and 30s).
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
	Client                 *http.Client
	// Observer, when set, counts outcomes (for metrics).
	Observer ForwardObserver
}

// ForwardObserver counts a forwarder's outcomes: Forwarded with
// "delivered", "failed" or "dropped", and Retried.
type ForwardObserver interface {
	Forwarded(result string)
	Retried()
}

func (f *Forwarder) count(result string) {
	if f.opts.Observer != nil {
		f.opts.Observer.Forwarded(result)
	}
}

// ForwardStats counts a forwarder's events.
type ForwardStats struct {
	Delivered, Retries, Failed, Dropped uint64
}

// Forwarder POSTs events to an app URL in order, one at a time, signed with
// SignatureHeader. An event is retried with exponential backoff (and
// jitter-free doubling) on network errors, 5xx and 429, up to MaxRetries;
// other 4xx answers and redirects (never followed) fail it at once. Events
// that find the queue full are dropped and counted: nothing is lost while
// the queue has room.
type Forwarder struct {
	opts  ForwardOptions
	queue chan ForwardEvent
	log   *slog.Logger

	delivered, retries, failed, dropped atomic.Uint64
}

// NewForwarder returns a forwarder; Run delivers.
func NewForwarder(opts ForwardOptions) *Forwarder {
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 100 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.Client = noRedirects(opts.Client)
	return &Forwarder{opts: opts, queue: make(chan ForwardEvent, opts.QueueSize), log: opts.Logger}
}

// Enqueue queues ev without blocking; false means the queue was full and
// the event was dropped (and counted).
func (f *Forwarder) Enqueue(ev ForwardEvent) bool {
	select {
	case f.queue <- ev:
		return true
	default:
		f.count("dropped")
		if f.dropped.Add(1) == 1 || f.dropped.Load()%1000 == 0 {
			f.log.Warn("forward queue full, events dropped", "url", f.opts.URL, "dropped", f.dropped.Load())
		}
		return false
	}
}

// Stats returns the counters.
func (f *Forwarder) Stats() ForwardStats {
	return ForwardStats{Delivered: f.delivered.Load(), Retries: f.retries.Load(), Failed: f.failed.Load(), Dropped: f.dropped.Load()}
}

// Run delivers queued events until ctx ends.
func (f *Forwarder) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			if n := len(f.queue); n > 0 {
				f.log.Warn("forwarder stopped with events undelivered", "url", f.opts.URL, "events", n)
			}
			f.opts.Client.CloseIdleConnections()
			return
		case ev := <-f.queue:
			f.deliver(ctx, ev)
		}
	}
}

func (f *Forwarder) deliver(ctx context.Context, ev ForwardEvent) {
	if ev.Args == nil {
		ev.Args = []any{}
	}
	if ev.Kwargs == nil {
		ev.Kwargs = map[string]any{}
	}
	body, err := json.Marshal(ev)
	if err != nil {
		f.failed.Add(1)
		f.count("failed")
		f.log.Error("cannot encode forwarded event", "topic", ev.Topic, "error", err)
		return
	}
	backoff := f.opts.MinBackoff
	for attempt := 0; ; attempt++ {
		retry, err := f.post(ctx, body)
		if err == nil {
			f.delivered.Add(1)
			f.count("delivered")
			return
		}
		if !retry || attempt >= f.opts.MaxRetries || ctx.Err() != nil {
			f.failed.Add(1)
			f.count("failed")
			f.log.Warn("event not forwarded", "url", f.opts.URL, "topic", ev.Topic, "attempts", attempt+1, "error", err)
			return
		}
		f.retries.Add(1)
		if f.opts.Observer != nil {
			f.opts.Observer.Retried()
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, f.opts.MaxBackoff)
	}
}

// post sends one attempt and reports whether a failure is worth retrying.
func (f *Forwarder) post(ctx context.Context, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.opts.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, SignOutgoing(f.opts.Secret, time.Now(), body))
	resp, err := f.opts.Client.Do(req)
	if err != nil {
		return true, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case isRedirect(resp.StatusCode):
		return false, fmt.Errorf("HTTP %d: redirects are not followed", resp.StatusCode)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return true, fmt.Errorf("HTTP %d", resp.StatusCode)
	default:
		return false, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
}
