package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// CalleeOptions configure an HTTPCallee.
type CalleeOptions struct {
	URL     string
	Secret  string
	Timeout time.Duration
	Client  *http.Client
}

// HTTPCallee answers a procedure by POSTing each invocation to an app URL:
// {"procedure", "args", "kwargs", "caller": {"session", "authid", "authrole"}},
// signed with SignatureHeader. A 2xx JSON object with "args" and/or "kwargs"
// is the result; any other 2xx JSON value is the single result argument. A
// 4xx/5xx with {"error": uri, "args"?, "kwargs"?} is that error; other
// failures are switchboard.error.http_callee_failed.
type HTTPCallee struct {
	opts CalleeOptions
}

// ErrHTTPCalleeFailed is the error URI of an app that did not answer usably.
const ErrHTTPCalleeFailed = "switchboard.error.http_callee_failed"

// NewHTTPCallee returns a callee for opts.
func NewHTTPCallee(opts CalleeOptions) *HTTPCallee {
	if opts.Client == nil {
		opts.Client = &http.Client{Transport: &http.Transport{}}
	}
	return &HTTPCallee{opts: opts}
}

// Close releases idle connections to the app.
func (c *HTTPCallee) Close() { c.opts.Client.CloseIdleConnections() }

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
		return nil, nil, &Error{URI: ErrHTTPCalleeFailed, Args: []any{err.Error()}}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, SignOutgoing(c.opts.Secret, time.Now(), body))
	resp, err := c.opts.Client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, nil, &Error{URI: "wamp.error.timeout", Args: []any{fmt.Sprintf("%s did not answer within %s", procedure, c.opts.Timeout)}}
		}
		return nil, nil, &Error{URI: ErrHTTPCalleeFailed, Args: []any{err.Error()}}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, nil, &Error{URI: ErrHTTPCalleeFailed, Args: []any{err.Error()}}
	}
	v, jerr := decodeJSON(raw)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if jerr != nil {
			return nil, nil, &Error{URI: ErrHTTPCalleeFailed, Args: []any{"answer is not JSON: " + jerr.Error()}}
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
	return nil, nil, &Error{URI: ErrHTTPCalleeFailed, Args: []any{resp.StatusCode, string(raw[:min(len(raw), 512)])}}
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
