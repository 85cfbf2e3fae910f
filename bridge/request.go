package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/switchboard-wamp/switchboard/transport"
)

// PublishRequest is one event to publish: Crossbar's publisher body.
type PublishRequest struct {
	Topic   string
	Args    []any
	Kwargs  map[string]any
	Options map[string]any
}

// CallRequest is one call: Crossbar's caller body, plus options.timeout.
type CallRequest struct {
	Procedure string
	Args      []any
	Kwargs    map[string]any
	// TimeoutMillis is options.timeout, 0 when not given.
	TimeoutMillis int64
	DiscloseMe    bool
}

// publishOptions are the options a publish request may carry.
var publishOptions = map[string]bool{
	"exclude": true, "eligible": true, "exclude_authid": true, "exclude_authrole": true,
	"eligible_authid": true, "eligible_authrole": true, "exclude_me": true, "retain": true,
	"acknowledge": true, "disclose_me": true,
}

// ParsePublish decodes a publish body: a JSON object, or a non-empty array
// of objects (a batch). Fields other than topic, args, kwargs and options
// are ignored, as Crossbar does; unknown options are refused.
func ParsePublish(body []byte, lim BodyLimits) (reqs []PublishRequest, batch bool, err error) {
	v, err := decodeJSON(body, lim)
	if err != nil {
		return nil, false, err
	}
	var items []any
	switch v := v.(type) {
	case map[string]any:
		items = []any{v}
	case []any:
		if len(v) == 0 {
			return nil, true, errors.New("empty batch: want at least one publication")
		}
		items, batch = v, true
	default:
		return nil, false, errors.New("want a JSON object (or an array of objects)")
	}
	for i, item := range items {
		where := ""
		if batch {
			where = fmt.Sprintf("[%d]: ", i)
		}
		obj, ok := item.(map[string]any)
		if !ok {
			return nil, batch, fmt.Errorf("%swant a JSON object", where)
		}
		var r PublishRequest
		if r.Topic, err = requiredString(obj, "topic"); err != nil {
			return nil, batch, fmt.Errorf("%s%w", where, err)
		}
		if r.Args, r.Kwargs, err = payload(obj); err != nil {
			return nil, batch, fmt.Errorf("%s%w", where, err)
		}
		if r.Options, err = optionalObject(obj, "options"); err != nil {
			return nil, batch, fmt.Errorf("%s%w", where, err)
		}
		for k := range r.Options {
			if !publishOptions[k] {
				return nil, batch, fmt.Errorf("%soption %q is not supported", where, k)
			}
		}
		reqs = append(reqs, r)
	}
	return reqs, batch, nil
}

// ParseCall decodes a call body.
func ParseCall(body []byte, lim BodyLimits) (CallRequest, error) {
	var r CallRequest
	v, err := decodeJSON(body, lim)
	if err != nil {
		return r, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return r, errors.New("want a JSON object")
	}
	if r.Procedure, err = requiredString(obj, "procedure"); err != nil {
		return r, err
	}
	if r.Args, r.Kwargs, err = payload(obj); err != nil {
		return r, err
	}
	opts, err := optionalObject(obj, "options")
	if err != nil {
		return r, err
	}
	for k, v := range opts {
		switch k {
		case "timeout":
			n, ok := v.(int64)
			if !ok || n < 0 {
				return r, fmt.Errorf("option timeout: want milliseconds >= 0, got %v", v)
			}
			r.TimeoutMillis = n
		case "disclose_me":
			b, ok := v.(bool)
			if !ok {
				return r, fmt.Errorf("option disclose_me: want true or false, got %v", v)
			}
			r.DiscloseMe = b
		default:
			return r, fmt.Errorf("option %q is not supported", k)
		}
	}
	return r, nil
}

// BodyLimits bound the JSON of a request body (and of an HTTP callee's
// answer) as limits.max_nesting_depth and max_message_items bound a
// client's message: what is published or called over HTTP reaches
// clients and other nodes as a WAMP message.
type BodyLimits struct {
	// MaxNestingDepth is how deeply a publication's or call's arrays and
	// objects may nest, the body's own object included (0:
	// transport.DefaultMaxNestingDepth); a batch's array is one more level.
	MaxNestingDepth int
	// MaxItems is how many values a body may hold (0:
	// transport.DefaultMaxMessageItems).
	MaxItems int
}

// check refuses a body nested deeper, or holding more values, than lim
// allows, before it is decoded.
func (lim BodyLimits) check(body []byte) error {
	depth, items := lim.MaxNestingDepth, lim.MaxItems
	if depth <= 0 {
		depth = transport.DefaultMaxNestingDepth
	}
	if items <= 0 {
		items = transport.DefaultMaxMessageItems
	}
	if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '[' {
		depth++ // a batch: each publication inside its array
	}
	if err := transport.CheckNesting("json", body, depth, items); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	return nil
}

// decodeJSON decodes one UTF-8 JSON value within lim, with integers kept
// exact as int64 (other numbers as float64).
func decodeJSON(body []byte, lim BodyLimits) (any, error) {
	if !utf8.Valid(body) {
		return nil, errors.New("body is not valid UTF-8")
	}
	if err := lim.check(body); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("invalid JSON: data after the value")
	}
	return numbers(v), nil
}

// numbers replaces json.Number with int64 or float64, recursively.
func numbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, err := v.Float64()
		if err != nil || math.IsInf(f, 0) {
			return v.String() // out of range: keep the digits rather than lose them
		}
		return f
	case []any:
		for i := range v {
			v[i] = numbers(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = numbers(v[k])
		}
	}
	return v
}

func requiredString(obj map[string]any, key string) (string, error) {
	v, ok := obj[key]
	if !ok || v == nil {
		return "", fmt.Errorf("missing %q", key)
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return "", fmt.Errorf("%q: want a non-empty string", key)
	}
	return s, nil
}

func payload(obj map[string]any) ([]any, map[string]any, error) {
	var args []any
	if v, ok := obj["args"]; ok && v != nil {
		a, ok := v.([]any)
		if !ok {
			return nil, nil, errors.New(`"args": want an array`)
		}
		args = a
	}
	kwargs, err := optionalObject(obj, "kwargs")
	return args, kwargs, err
}

func optionalObject(obj map[string]any, key string) (map[string]any, error) {
	v, ok := obj[key]
	if !ok || v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%q: want an object", key)
	}
	return m, nil
}

// checkContentType requires application/json, with an optional UTF-8
// charset. A missing Content-Type is refused too: it is what a page's
// no-cors fetch with a Blob body sends, and (like text/plain or a form)
// needs no CORS preflight, whereas application/json from a page does.
func checkContentType(r *http.Request) *requestError {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return refuse(http.StatusUnsupportedMediaType, ErrUnsupportedMediaType,
			"Content-Type missing: want application/json").counted(ReasonContentType)
	}
	media, params, _ := strings.Cut(ct, ";")
	if !strings.EqualFold(strings.TrimSpace(media), "application/json") {
		return refuse(http.StatusUnsupportedMediaType, ErrUnsupportedMediaType,
			"Content-Type %q: want application/json", ct).counted(ReasonContentType)
	}
	for _, p := range strings.Split(params, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(name, "charset") && !strings.EqualFold(strings.Trim(value, `"`), "utf-8") {
			return refuse(http.StatusUnsupportedMediaType, ErrUnsupportedMediaType,
				"charset %q: want utf-8", value).counted(ReasonContentType)
		}
	}
	return nil
}
