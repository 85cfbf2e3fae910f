package bridge

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// Action is what a request does to a URI, for permission checks.
type Action string

// The bridge's actions.
const (
	ActionPublish Action = "publish"
	ActionCall    Action = "call"
)

// Identity is who a request acts as.
type Identity struct {
	// Key names the credential ("" for credential-less loopback requests).
	Key    string
	AuthID string
	Role   string
}

// Backend is the router as the bridge uses it.
type Backend interface {
	// Authorize reports whether id may do action on uri, and whether the
	// role's permission discloses the requester's identity.
	Authorize(id Identity, uri string, action Action) (allowed, disclose bool)
	// Publish publishes one event and returns the publication ID. A refused
	// publication returns an *Error (e.g. wamp.error.invalid_uri).
	Publish(id Identity, disclose bool, req PublishRequest) (uint64, error)
	// Call calls a procedure until ctx ends. WAMP errors are *Error.
	Call(ctx context.Context, id Identity, disclose bool, req CallRequest) (args []any, kwargs map[string]any, err error)
	// Position returns the newest kept publication of topic (its event
	// history), and false when none is kept.
	Position(topic string) (uint64, bool, error)
}

// Key is one backend credential.
type Key struct {
	Key         string
	Secret      string // signs requests; "" if the key does not sign
	BearerToken string // "" if the key has no bearer token
	AuthID      string
	Role        string
}

// Options configure a Handler.
type Options struct {
	Backend       Backend
	Keys          []Key
	AnonymousRole string // role of credential-less loopback requests, when no keys are configured
	MaxBodySize   int
	// BodyLimits bound the nesting and the values of a body's JSON.
	BodyLimits          BodyLimits
	TimestampDeltaLimit time.Duration
	CallTimeout         time.Duration
	// ReadTimeout bounds reading a request's body (0: no bound).
	ReadTimeout    time.Duration
	CrossbarCompat bool
	// AllowedOrigins are the Origin patterns ("*" globs) of pages whose
	// requests are accepted; requests with any other Origin, or from another
	// site per Sec-Fetch-Site, are refused.
	AllowedOrigins []string
	// RequireIP, when set, limits clients to these networks (after
	// TrustedProxies); RequireTLS to requests that came over TLS.
	RequireIP      []*net.IPNet
	TrustedProxies []*net.IPNet
	RequireTLS     bool
	Logger         *slog.Logger
	// Observer, when set, counts refusals (for metrics).
	Observer Observer
	// Now is the clock of timestamps and nonces (default time.Now).
	Now func() time.Time
}

// Observer counts the requests a Handler refuses before they reach the
// Backend, by reason: ReasonOrigin, ReasonContentType, ReasonBodyTooLarge,
// ReasonReadTimeout or ReasonReplay.
type Observer interface {
	Refused(reason string)
}

// Handler serves the bridge's endpoints.
type Handler struct {
	opts   Options
	keys   atomic.Pointer[keyState]
	nonces nonceStore
	log    *slog.Logger
}

// keyState is one configuration's credentials; SetKeys swaps it whole.
type keyState struct {
	keys          []Key
	byKey         map[string]*Key
	anonymousRole string
}

// New returns a Handler for opts.
func New(opts Options) *Handler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{opts: opts, log: opts.Logger}
	h.SetKeys(opts.Keys, opts.AnonymousRole)
	h.nonces.window = opts.TimestampDeltaLimit
	return h
}

// SetKeys replaces the credentials (configuration reload); requests in
// progress finish with the old ones.
func (h *Handler) SetKeys(keys []Key, anonymousRole string) {
	st := &keyState{keys: append([]Key(nil), keys...), byKey: map[string]*Key{}, anonymousRole: anonymousRole}
	for i := range st.keys {
		st.byKey[st.keys[i].Key] = &st.keys[i]
	}
	h.keys.Store(st)
}

// Publish returns the handler of publish requests.
func (h *Handler) Publish() http.Handler { return http.HandlerFunc(h.servePublish) }

// Call returns the handler of call requests.
func (h *Handler) Call() http.Handler { return http.HandlerFunc(h.serveCall) }

// Position returns the handler of position requests.
func (h *Handler) Position() http.Handler { return http.HandlerFunc(h.servePosition) }

// servePosition answers {"topic": T} with the newest kept publication of T
// ({"topic": T, "publication": ID or null}), for a page that renders its
// data and then subscribes with _since. The key's role must be allowed to
// publish to T (the backend that publishes there renders the page).
func (h *Handler) servePosition(w http.ResponseWriter, r *http.Request) {
	id, body, rerr := h.prelude(w, r)
	if rerr != nil {
		rerr.write(w)
		return
	}
	var req struct {
		Topic string `json:"topic"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Topic == "" {
		refuse(http.StatusBadRequest, ErrInvalidRequest, "want {\"topic\": \"...\"}").write(w)
		return
	}
	if allowed, _ := h.opts.Backend.Authorize(id, req.Topic, ActionPublish); !allowed {
		h.wampError(w, &Error{URI: "wamp.error.not_authorized", Args: []any{"role " + id.Role + " may not publish to " + req.Topic}})
		return
	}
	pub, ok, err := h.opts.Backend.Position(req.Topic)
	if err != nil {
		h.wampError(w, asWAMPError(err))
		return
	}
	out := map[string]any{"topic": req.Topic, "publication": nil}
	if ok {
		out["publication"] = pub
	}
	writeJSON(w, http.StatusOK, out)
}

// prelude runs the checks every request passes, in Crossbar's order:
// method, content type, body size, credentials (with the client address and
// the requesting site checked before the content type).
func (h *Handler) prelude(w http.ResponseWriter, r *http.Request) (Identity, []byte, *requestError) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		return Identity{}, nil, refuse(http.StatusMethodNotAllowed, ErrMethodNotAllowed, "method %s: want POST", r.Method)
	}
	if err := h.checkAccess(r); err != nil {
		return Identity{}, nil, h.refused(r, err)
	}
	if err := checkSite(r, h.opts.AllowedOrigins); err != nil {
		return Identity{}, nil, h.refused(r, err)
	}
	if err := checkContentType(r); err != nil {
		return Identity{}, nil, h.refused(r, err)
	}
	body, rerr := h.readBody(w, r)
	if rerr != nil {
		return Identity{}, nil, h.refused(r, rerr)
	}
	id, rerr := h.authenticate(r, body)
	if rerr != nil {
		return Identity{}, nil, h.refused(r, rerr)
	}
	return id, body, nil
}

// refused logs and counts a refusal, and returns it.
func (h *Handler) refused(r *http.Request, e *requestError) *requestError {
	h.log.Info("http bridge request refused", "remote_addr", r.RemoteAddr, "path", r.URL.Path,
		"status", e.status, "reason", e.message)
	if e.reason != "" && h.opts.Observer != nil {
		h.opts.Observer.Refused(e.reason)
	}
	return e
}

// readBody reads the body, up to MaxBodySize bytes (whether or not the
// client declared its length) and within ReadTimeout.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *requestError) {
	limit := int64(h.opts.MaxBodySize)
	if r.ContentLength > limit {
		return nil, refuse(http.StatusRequestEntityTooLarge, ErrPayloadTooLarge,
			"body of %d bytes exceeds the limit of %d", r.ContentLength, limit).counted(ReasonBodyTooLarge)
	}
	if h.opts.ReadTimeout > 0 {
		// The headers are in; the body may still be arriving. The server
		// clears the deadline before it reads the connection's next request.
		if err := http.NewResponseController(w).SetReadDeadline(time.Now().Add(h.opts.ReadTimeout)); err != nil {
			h.log.Warn("http bridge cannot bound the body read time", "error", err)
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err == nil {
		return body, nil
	}
	var tooBig *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &tooBig):
		return nil, refuse(http.StatusRequestEntityTooLarge, ErrPayloadTooLarge,
			"body exceeds the limit of %d bytes", limit).counted(ReasonBodyTooLarge)
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		// The rest of the body may never come: do not wait for it.
		w.Header().Set("Connection", "close")
		return nil, refuse(http.StatusRequestTimeout, ErrRequestTimeout,
			"body not received within %s", h.opts.ReadTimeout).counted(ReasonReadTimeout)
	}
	return nil, refuse(http.StatusBadRequest, ErrInvalidRequest, "cannot read body: %v", err)
}

// authenticate finds the request's identity: a signed request, a bearer
// token, or (with no keys configured) a loopback client.
func (h *Handler) authenticate(r *http.Request, body []byte) (Identity, *requestError) {
	ks := h.keys.Load()
	q := r.URL.Query()
	if q.Has("signature") || q.Has("key") {
		return h.verifySigned(ks, q.Get, body)
	}
	if auth := r.Header.Get("Authorization"); auth != "" {
		token, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok {
			return Identity{}, refuse(http.StatusUnauthorized, ErrUnauthorized, "Authorization: want Bearer <token>")
		}
		// Compare with every token, so timing says nothing about which.
		var match *Key
		for i := range ks.keys {
			k := &ks.keys[i]
			if k.BearerToken != "" && subtle.ConstantTimeCompare([]byte(k.BearerToken), []byte(token)) == 1 {
				match = k
			}
		}
		if match == nil {
			return Identity{}, refuse(http.StatusUnauthorized, ErrUnauthorized, "invalid bearer token")
		}
		return Identity{Key: match.Key, AuthID: match.AuthID, Role: match.Role}, nil
	}
	if len(ks.keys) > 0 {
		return Identity{}, refuse(http.StatusUnauthorized, ErrUnauthorized,
			"credentials required: sign the request or send Authorization: Bearer <token>")
	}
	if ip := clientIP(r, h.opts.TrustedProxies); ip == nil || !ip.IsLoopback() {
		return Identity{}, refuse(http.StatusForbidden, ErrForbidden,
			"the bridge has no keys configured and answers loopback clients only")
	}
	return Identity{AuthID: "http-bridge", Role: ks.anonymousRole}, nil
}

func (h *Handler) verifySigned(ks *keyState, get func(string) string, body []byte) (Identity, *requestError) {
	params := map[string]string{}
	for _, p := range []string{"key", "timestamp", "seq", "nonce", "signature"} {
		v := get(p)
		if v == "" {
			return Identity{}, refuse(http.StatusUnauthorized, ErrUnauthorized, "signed request: query parameter %q missing", p)
		}
		params[p] = v
	}
	k, ok := ks.byKey[params["key"]]
	if !ok || k.Secret == "" {
		return Identity{}, refuse(http.StatusUnauthorized, ErrUnauthorized, "unknown key %q", params["key"])
	}
	ts, ok := parseTimestamp(params["timestamp"])
	if !ok {
		return Identity{}, refuse(http.StatusUnauthorized, ErrUnauthorized,
			"timestamp %q: want UTC like 2011-10-14T16:59:51.123Z", params["timestamp"])
	}
	now := h.opts.Now()
	if d := now.Sub(ts); d > h.opts.TimestampDeltaLimit || d < -h.opts.TimestampDeltaLimit {
		return Identity{}, refuse(http.StatusUnauthorized, ErrUnauthorized,
			"timestamp %s is more than %s from the router's clock", params["timestamp"], h.opts.TimestampDeltaLimit)
	}
	if !validSignature(k.Secret, params["key"], params["timestamp"], params["seq"], params["nonce"], body, params["signature"]) {
		return Identity{}, refuse(http.StatusUnauthorized, ErrUnauthorized, "invalid signature")
	}
	// The signature covers key || timestamp || seq || nonce || body without
	// separators, so a request is known by those bytes, not by its nonce:
	// seq 1 nonce 2345 and seq 12 nonce 345 are one signed request, and so
	// are nonce "7" with body "\t{}" and nonce "7\t" with body "{}".
	// Its timestamp is acceptable until ts + limit: remember it as long.
	if !h.nonces.fresh(replayID(params["key"], params["timestamp"], params["seq"], params["nonce"], body), ts.Add(h.opts.TimestampDeltaLimit), now) {
		return Identity{}, refuse(http.StatusUnauthorized, ErrUnauthorized,
			"request already received (replayed: key, timestamp, seq and nonce were used before)").counted(ReasonReplay)
	}
	return Identity{Key: k.Key, AuthID: k.AuthID, Role: k.Role}, nil
}

// asWAMPError returns err as an *Error; others become
// wamp.error.runtime_error.
func asWAMPError(err error) *Error {
	var we *Error
	if errors.As(err, &we) {
		return we
	}
	return &Error{URI: "wamp.error.runtime_error", Args: []any{err.Error()}}
}

// wampError answers a WAMP error: its mapped status, or 200 in Crossbar
// compatibility mode.
func (h *Handler) wampError(w http.ResponseWriter, e *Error) {
	status := StatusOf(e.URI)
	if h.opts.CrossbarCompat {
		status = http.StatusOK
	}
	args, kwargs := e.Args, e.Kwargs
	if args == nil {
		args = []any{}
	}
	if kwargs == nil {
		kwargs = map[string]any{}
	}
	writeJSON(w, status, errorBody{Error: e.URI, Args: args, Kwargs: kwargs})
}

func (h *Handler) servePublish(w http.ResponseWriter, r *http.Request) {
	id, body, rerr := h.prelude(w, r)
	if rerr != nil {
		rerr.write(w)
		return
	}
	reqs, batch, err := ParsePublish(body, h.opts.BodyLimits)
	if err != nil {
		refuse(http.StatusBadRequest, ErrInvalidRequest, "%v", err).write(w)
		return
	}
	batch = batch || strings.HasSuffix(r.URL.Path, "/batch")
	// Every publication is checked before any is published.
	disclose := make([]bool, len(reqs))
	for i, req := range reqs {
		allowed, d := h.opts.Backend.Authorize(id, req.Topic, ActionPublish)
		if !allowed {
			h.wampError(w, &Error{URI: "wamp.error.not_authorized",
				Args: []any{"role " + id.Role + " may not publish to " + req.Topic}})
			return
		}
		disclose[i] = d
	}
	ids := make([]uint64, 0, len(reqs))
	for i, req := range reqs {
		pid, err := h.opts.Backend.Publish(id, disclose[i], req)
		if err != nil {
			we := asWAMPError(err)
			if len(ids) > 0 { // a batch stopped midway: say what went out
				we.Kwargs = map[string]any{"published": ids}
			}
			h.wampError(w, we)
			return
		}
		ids = append(ids, pid)
	}
	if batch {
		writeJSON(w, http.StatusOK, map[string]any{"ids": ids})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": ids[0]})
}

func (h *Handler) serveCall(w http.ResponseWriter, r *http.Request) {
	id, body, rerr := h.prelude(w, r)
	if rerr != nil {
		rerr.write(w)
		return
	}
	req, err := ParseCall(body, h.opts.BodyLimits)
	if err != nil {
		refuse(http.StatusBadRequest, ErrInvalidRequest, "%v", err).write(w)
		return
	}
	allowed, disclose := h.opts.Backend.Authorize(id, req.Procedure, ActionCall)
	if !allowed {
		h.wampError(w, &Error{URI: "wamp.error.not_authorized",
			Args: []any{"role " + id.Role + " may not call " + req.Procedure}})
		return
	}
	timeout := h.opts.CallTimeout
	if req.TimeoutMillis > 0 {
		timeout = time.Duration(req.TimeoutMillis) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	args, kwargs, err := h.opts.Backend.Call(ctx, id, disclose || req.DiscloseMe, req)
	if err != nil {
		h.wampError(w, asWAMPError(err))
		return
	}
	out := map[string]any{}
	if len(args) > 0 {
		out["args"] = args
	}
	if len(kwargs) > 0 {
		out["kwargs"] = kwargs
	}
	writeJSON(w, http.StatusOK, out)
}
