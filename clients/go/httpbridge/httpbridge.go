// Package httpbridge is a client for switchboard's HTTP bridge (also
// Crossbar's): publish, batch publish and call over plain HTTP, with
// Crossbar-style signed requests or a bearer token.
package httpbridge

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Client publishes and calls through a bridge at URL ("http://host:port").
type Client struct {
	// URL is the bridge's base URL. Required.
	URL string
	// Key and Secret sign requests; or Token is sent as a bearer token;
	// with neither, requests are unauthenticated (loopback bridges).
	Key, Secret string
	Token       string
	// PublishPath and CallPath default to /publish and /call.
	PublishPath, CallPath string
	// HTTP is the client used (default http.DefaultClient).
	HTTP *http.Client

	seq atomic.Uint64
}

// Publication is one event of a batch.
type Publication struct {
	Topic   string         `json:"topic"`
	Args    []any          `json:"args,omitempty"`
	Kwargs  map[string]any `json:"kwargs,omitempty"`
	Options map[string]any `json:"options,omitempty"`
}

// Error is a refusal: the HTTP status and the bridge's error body.
type Error struct {
	Status int
	URI    string         `json:"error"`
	Args   []any          `json:"args"`
	Kwargs map[string]any `json:"kwargs"`
}

func (e *Error) Error() string {
	if len(e.Args) > 0 {
		return fmt.Sprintf("httpbridge: %d %s: %v", e.Status, e.URI, e.Args[0])
	}
	return fmt.Sprintf("httpbridge: %d %s", e.Status, e.URI)
}

// Sign computes the Crossbar signature: base64url with padding of
// HMAC-SHA256(secret, key || timestamp || seq || nonce || body).
func Sign(secret, key, timestamp, seq, nonce string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	for _, s := range []string{key, timestamp, seq, nonce} {
		mac.Write([]byte(s))
	}
	mac.Write(body)
	return base64.URLEncoding.EncodeToString(mac.Sum(nil))
}

// Publish publishes one event and returns its publication ID.
func (c *Client) Publish(ctx context.Context, topic string, args []any, kwargs map[string]any, options map[string]any) (uint64, error) {
	var reply struct{ ID uint64 }
	err := c.post(ctx, c.path(c.PublishPath, "/publish"), Publication{Topic: topic, Args: args, Kwargs: kwargs, Options: options}, &reply)
	return reply.ID, err
}

// PublishBatch publishes events in order (all are checked before any is
// published) and returns their IDs.
func (c *Client) PublishBatch(ctx context.Context, pubs []Publication) ([]uint64, error) {
	var reply struct{ IDs []uint64 }
	err := c.post(ctx, c.path(c.PublishPath, "/publish"), pubs, &reply)
	return reply.IDs, err
}

// Call calls a procedure; timeout 0 uses the bridge's default.
func (c *Client) Call(ctx context.Context, procedure string, args []any, kwargs map[string]any, timeout time.Duration) ([]any, map[string]any, error) {
	req := map[string]any{"procedure": procedure, "args": args, "kwargs": kwargs}
	if timeout > 0 {
		req["options"] = map[string]any{"timeout": timeout.Milliseconds()}
	}
	var reply struct {
		Args   []any          `json:"args"`
		Kwargs map[string]any `json:"kwargs"`
	}
	err := c.post(ctx, c.path(c.CallPath, "/call"), req, &reply)
	return reply.Args, reply.Kwargs, err
}

func (c *Client) path(p, def string) string {
	if p == "" {
		p = def
	}
	return strings.TrimSuffix(c.URL, "/") + p
}

func (c *Client) post(ctx context.Context, target string, payload, reply any) error {
	body, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("httpbridge: %w", err)
	}
	if c.Secret != "" {
		seq := strconv.FormatUint(c.seq.Add(1), 10)
		ts := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
		var n [12]byte
		_, _ = rand.Read(n[:])
		nonce := base64.RawURLEncoding.EncodeToString(n[:])
		q := url.Values{"key": {c.Key}, "timestamp": {ts}, "seq": {seq}, "nonce": {nonce},
			"signature": {Sign(c.Secret, c.Key, ts, seq, nonce, body)}}
		target += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("httpbridge: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.Token != "" && c.Secret == "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("httpbridge: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("httpbridge: %w", err)
	}
	var e Error
	if json.Unmarshal(raw, &e) == nil && e.URI != "" {
		e.Status = resp.StatusCode
		return &e
	}
	if resp.StatusCode != http.StatusOK {
		return &Error{Status: resp.StatusCode, URI: "httpbridge.error.http", Args: []any{string(raw)}}
	}
	if err := json.Unmarshal(raw, reply); err != nil {
		return fmt.Errorf("httpbridge: reply: %w", err)
	}
	return nil
}
