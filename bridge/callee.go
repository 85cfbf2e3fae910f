package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// CalleeOptions configure an HTTPCallee.
type CalleeOptions struct {
	URL     string
	Secret  string
	Timeout time.Duration
	Client  *http.Client
	// AnswerLimits bound the nesting and the values of the app's answer.
	AnswerLimits BodyLimits
	Logger       *slog.Logger
	// Observer, when set, counts failures (for metrics).
	Observer CalleeObserver
}

// CalleeObserver counts an HTTP callee's failures by reason: "unreachable",
// "timeout", "redirect", "status" or "invalid_answer".
type CalleeObserver interface {
	Failed(reason string)
}

// HTTPCallee answers a procedure by POSTing each invocation to an app URL:
// {"procedure", "args", "kwargs", "caller": {"session", "authid", "authrole"}},
// signed with SignatureHeader. A 2xx JSON object with "args" and/or "kwargs"
// is the result; any other 2xx JSON value is the single result argument. A
// 4xx/5xx with {"error": uri, "args"?, "kwargs"?} is that error. Other
// failures, redirects included (they are never followed), are
// switchboard.error.http_callee_failed with the HTTP status at most: what
// the app's server said is logged, never shown to the caller.
type HTTPCallee struct {
	opts CalleeOptions
	log  *slog.Logger
}

// ErrHTTPCalleeFailed is the error URI of an app that did not answer usably.
const ErrHTTPCalleeFailed = "switchboard.error.http_callee_failed"

// NewHTTPCallee returns a callee for opts.
func NewHTTPCallee(opts CalleeOptions) *HTTPCallee {
	opts.Client = noRedirects(opts.Client)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &HTTPCallee{opts: opts, log: opts.Logger}
}

// Close releases idle connections to the app.
func (c *HTTPCallee) Close() { c.opts.Client.CloseIdleConnections() }

// loggedBodyBytes bounds how much of an unusable answer is logged.
const loggedBodyBytes = 512

// fail counts and logs a failure and returns the caller's error: a generic
// message and, when the app answered, its status.
func (c *HTTPCallee) fail(procedure, reason string, status int, detail error, body []byte) *Error {
	if c.opts.Observer != nil {
		c.opts.Observer.Failed(reason)
	}
	attrs := []any{"procedure", procedure, "reason", reason}
	if status != 0 {
		attrs = append(attrs, "status", status)
	}
	if detail != nil {
		attrs = append(attrs, "error", detail.Error())
	}
	c.log.Warn("http callee failed", attrs...)
	if len(body) > 0 {
		c.log.Debug("http callee answer", "procedure", procedure, "status", status,
			"body", string(body[:min(len(body), loggedBodyBytes)]), "body_bytes", len(body))
	}
	if status == 0 {
		return &Error{URI: ErrHTTPCalleeFailed, Args: []any{"the app did not answer " + procedure}}
	}
	msg := fmt.Sprintf("the app answered %s with HTTP %d", procedure, status)
	switch reason {
	case "redirect":
		msg += ", a redirect (not followed)"
	case "invalid_answer":
		msg += " and a body that is not JSON"
	}
	return &Error{URI: ErrHTTPCalleeFailed, Args: []any{msg}, Kwargs: map[string]any{"status": status}}
}

// Invoke calls the app. Errors are *Error.
func (c *HTTPCallee) Invoke(ctx context.Context, procedure string, args []any, kwargs map[string]any, caller map[string]any) ([]any, map[string]any, error) {
	if args == nil {
		args = []any{}
	}
	if kwargs == nil {
		kwargs = map[string]any{}
	}
	body, err := json.Marshal(map[string]any{"procedure": procedure, "args": args, "kwargs": kwargs, "caller": caller})
	if err != nil {
		return nil, nil, &Error{URI: "wamp.error.invalid_argument", Args: []any{err.Error()}}
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.opts.URL, bytes.NewReader(body))
	if err != nil {
		return nil, nil, c.fail(procedure, "unreachable", 0, err, nil)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, SignOutgoing(c.opts.Secret, time.Now(), body))
	resp, err := c.opts.Client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			if c.opts.Observer != nil {
				c.opts.Observer.Failed("timeout")
			}
			c.log.Warn("http callee failed", "procedure", procedure, "reason", "timeout", "timeout", c.opts.Timeout.String())
			return nil, nil, &Error{URI: "wamp.error.timeout", Args: []any{fmt.Sprintf("%s did not answer within %s", procedure, c.opts.Timeout)}}
		}
		return nil, nil, c.fail(procedure, "unreachable", 0, err, nil)
	}
	defer resp.Body.Close()
	if isRedirect(resp.StatusCode) {
		return nil, nil, c.fail(procedure, "redirect", resp.StatusCode, fmt.Errorf("redirect to %q", resp.Header.Get("Location")), nil)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, nil, c.fail(procedure, "unreachable", resp.StatusCode, err, nil)
	}
	v, jerr := decodeJSON(raw, c.opts.AnswerLimits)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if jerr != nil {
			return nil, nil, c.fail(procedure, "invalid_answer", resp.StatusCode, jerr, raw)
		}
		if obj, ok := v.(map[string]any); ok && onlyKeys(obj, "args", "kwargs") {
			a, _ := obj["args"].([]any)
			kw, _ := obj["kwargs"].(map[string]any)
			return a, kw, nil
		}
		return []any{v}, nil, nil
	}
	if obj, ok := v.(map[string]any); ok && jerr == nil {
		if uri, ok := obj["error"].(string); ok && uri != "" {
			a, _ := obj["args"].([]any)
			kw, _ := obj["kwargs"].(map[string]any)
			return nil, nil, &Error{URI: uri, Args: a, Kwargs: kw}
		}
	}
	return nil, nil, c.fail(procedure, "status", resp.StatusCode, nil, raw)
}

func onlyKeys(obj map[string]any, keys ...string) bool {
	if len(obj) == 0 {
		return false
	}
	for k := range obj {
		found := false
		for _, want := range keys {
			found = found || k == want
		}
		if !found {
			return false
		}
	}
	return true
}

// Answer is Invoke for a WAMP callee: every failure is an *Error whose URI
// the caller gets (an app error as the app sent it, anything else as
// ErrHTTPCalleeFailed).
func (c *HTTPCallee) Answer(ctx context.Context, procedure string, args []any, kwargs map[string]any, caller map[string]any) ([]any, map[string]any, *Error) {
	outArgs, outKwargs, err := c.Invoke(ctx, procedure, args, kwargs, caller)
	if err == nil {
		return outArgs, outKwargs, nil
	}
	var be *Error
	if !errors.As(err, &be) {
		be = &Error{URI: ErrHTTPCalleeFailed, Args: []any{err.Error()}}
	}
	return nil, nil, be
}
