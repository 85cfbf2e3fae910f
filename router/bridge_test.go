package router_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/gorilla/websocket"

	"github.com/switchboard-wamp/switchboard/bridge"
	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

const (
	bridgeSecret = "django-signing-secret-0123456789"
	bridgeToken  = "worker-bearer-token-0123456789"
)

// withBridge serves the bridge beside WebSocket on listener 0, with a signing
// key and a bearer key acting as role "backend".
func withBridge(compat bool) func(*config.Config) {
	return func(c *config.Config) {
		c.Listeners[0].Bridge = &config.Bridge{
			Realm: "realm1", PublishPath: "/publish", CallPath: "/call", PositionPath: "/position",
			MaxBodySize: 4096, TimestampDeltaLimit: time.Minute, CallTimeout: 5 * time.Second,
			ReadTimeout:    10 * time.Second,
			CrossbarCompat: compat,
			Keys: []config.BridgeKey{
				{Key: "django", Secret: bridgeSecret, AuthID: "django-app", Role: "backend"},
				{Key: "worker", BearerToken: bridgeToken, AuthID: "worker-1", Role: "backend"},
			},
		}
		c.Realms[0].Roles = append(c.Realms[0].Roles, config.Role{Name: "backend", Permissions: []config.Permission{
			{URI: "app.", Match: "prefix", Allow: config.Allow{Publish: true, Call: true}},
			{URI: "app.shown.", Match: "prefix", Allow: config.Allow{Publish: true, Call: true},
				Disclose: config.Disclose{Publisher: true, Caller: true}},
		}})
	}
}

type bridgeClient struct {
	t     *testing.T
	base  string
	nonce int
}

func newBridgeClient(t *testing.T, srv *routertest.Server) *bridgeClient {
	return &bridgeClient{t: t, base: "http://" + srv.Addr(0).String()}
}

// signedURL signs body for path with the django key.
func (b *bridgeClient) signedURL(path string, body []byte, mutate func(q url.Values)) string {
	b.nonce++
	ts := bridge.Timestamp(time.Now())
	nonce := fmt.Sprintf("%d-%d", time.Now().UnixNano(), b.nonce)
	q := url.Values{"key": {"django"}, "timestamp": {ts}, "seq": {"1"}, "nonce": {nonce},
		"signature": {bridge.Sign(bridgeSecret, "django", ts, "1", nonce, body)}}
	if mutate != nil {
		mutate(q)
	}
	return b.base + path + "?" + q.Encode()
}

type bridgeReply struct {
	status int
	body   map[string]any
	raw    string
}

func (b *bridgeClient) do(method, url string, header http.Header, body []byte) bridgeReply {
	b.t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	must(b.t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	must(b.t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := bridgeReply{status: resp.StatusCode, raw: string(raw)}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		b.t.Fatalf("%s %s: status %d, body %q is not a JSON object", method, url, resp.StatusCode, raw)
	}
	return r
}

func (b *bridgeClient) signed(path, body string) bridgeReply {
	b.t.Helper()
	return b.do(http.MethodPost, b.signedURL(path, []byte(body), nil), http.Header{"Content-Type": {"application/json"}}, []byte(body))
}

func (b *bridgeClient) bearer(path, body string) bridgeReply {
	b.t.Helper()
	return b.do(http.MethodPost, b.base+path, http.Header{"Authorization": {"Bearer " + bridgeToken}, "Content-Type": {"application/json"}}, []byte(body))
}

func (r bridgeReply) expect(t *testing.T, status int, errURI string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.raw)
	}
	if errURI != "" {
		if r.body["error"] != errURI {
			t.Fatalf("error %v, want %s; body %s", r.body["error"], errURI, r.raw)
		}
		if _, ok := r.body["args"].([]any); !ok {
			t.Fatalf("error body lacks args: %s", r.raw)
		}
		if _, ok := r.body["kwargs"].(map[string]any); !ok {
			t.Fatalf("error body lacks kwargs: %s", r.raw)
		}
	}
}

func TestBridgePublish(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, withBridge(false))
	b := newBridgeClient(t, srv)
	subWS := srv.Dial(t, 0, "json", client.Config{})
	subRaw := srv.Dial(t, 1, "cbor", client.Config{})
	wsEvents, rawEvents := make(chan *wamp.Event, 64), make(chan *wamp.Event, 64)
	must(t, subWS.SubscribeChan("app.news", wsEvents, nil))
	must(t, subRaw.SubscribeChan("app.news", rawEvents, nil))

	// Signed and bearer publications reach WebSocket and RawSocket subscribers.
	r := b.signed("/publish", `{"topic":"app.news","args":["hello",42],"kwargs":{"who":"django","n":1.5}}`)
	r.expect(t, http.StatusOK, "")
	if id, ok := r.body["id"].(float64); !ok || id <= 0 {
		t.Fatalf("publish reply %s lacks a publication id", r.raw)
	}
	for _, ch := range []chan *wamp.Event{wsEvents, rawEvents} {
		ev := recv(t, ch)
		if ev.Arguments[0] != "hello" || fmt.Sprint(ev.Arguments[1]) != "42" || ev.ArgumentsKw["who"] != "django" {
			t.Fatalf("event %v %v", ev.Arguments, ev.ArgumentsKw)
		}
		if _, ok := ev.Details["publisher_authid"]; ok {
			t.Fatalf("publisher disclosed without a disclosing permission: %v", ev.Details)
		}
	}
	b.bearer("/publish", `{"topic":"app.news","args":["bearer"]}`).expect(t, http.StatusOK, "")
	if ev := recv(t, wsEvents); ev.Arguments[0] != "bearer" {
		t.Fatalf("bearer event %v", ev.Arguments)
	}
	<-rawEvents

	// Options are honoured: eligible by session, exclude_authid.
	b.signed("/publish", fmt.Sprintf(`{"topic":"app.news","args":["only raw"],"options":{"eligible":[%d]}}`, subRaw.ID())).expect(t, http.StatusOK, "")
	b.signed("/publish", `{"topic":"app.news","args":["marker"]}`).expect(t, http.StatusOK, "")
	if ev := recv(t, wsEvents); ev.Arguments[0] != "marker" {
		t.Fatalf("websocket subscriber got %v, want only the marker", ev.Arguments)
	}
	if ev := recv(t, rawEvents); ev.Arguments[0] != "only raw" {
		t.Fatalf("rawsocket subscriber got %v", ev.Arguments)
	}
	<-rawEvents

	// A batch is published in order, one id each; /publish/batch too.
	var items []string
	for i := range 20 {
		items = append(items, fmt.Sprintf(`{"topic":"app.news","args":[%d]}`, i))
	}
	for _, path := range []string{"/publish", "/publish/batch"} {
		r = b.signed(path, "["+strings.Join(items, ",")+"]")
		r.expect(t, http.StatusOK, "")
		if ids, _ := r.body["ids"].([]any); len(ids) != 20 {
			t.Fatalf("batch reply %s: want 20 ids", r.raw)
		}
		for i := range 20 {
			if ev := recv(t, wsEvents); fmt.Sprint(ev.Arguments[0]) != fmt.Sprint(i) {
				t.Fatalf("batch event %d arrived as %v", i, ev.Arguments)
			}
			<-rawEvents
		}
	}

	// Disclosure by the key's role permission: the key's authid and role.
	shown := make(chan *wamp.Event, 1)
	must(t, subWS.SubscribeChan("app.shown.news", shown, nil))
	b.signed("/publish", `{"topic":"app.shown.news"}`).expect(t, http.StatusOK, "")
	if ev := recv(t, shown); ev.Details["publisher_authid"] != "django-app" || ev.Details["publisher_authrole"] != "backend" {
		t.Fatalf("disclosed details %v", ev.Details)
	}

	// Retained publications reach later subscribers that ask.
	b.signed("/publish", `{"topic":"app.retained","args":["kept"],"options":{"retain":true}}`).expect(t, http.StatusOK, "")
	late := rawJoin(t, srv.URL(0))
	must(t, late.WriteMessage(websocket.TextMessage, []byte(`[32,1,{"get_retained":true},"app.retained"]`)))
	for _, want := range []string{"[33,1,", `"retained":true},["kept"]`} {
		must(t, late.SetReadDeadline(time.Now().Add(5*time.Second)))
		_, msg, err := late.ReadMessage()
		must(t, err)
		if !strings.Contains(string(msg), want) {
			t.Fatalf("late subscriber got %s, want %s", msg, want)
		}
	}

	// Refusals: permission, URI, options; nothing of a refused batch is published.
	b.signed("/publish", `{"topic":"other.topic"}`).expect(t, http.StatusForbidden, "wamp.error.not_authorized")
	b.signed("/publish", `[{"topic":"app.news","args":["never"]},{"topic":"other.topic"}]`).expect(t, http.StatusForbidden, "wamp.error.not_authorized")
	b.signed("/publish", `{"topic":"app..bad"}`).expect(t, http.StatusBadRequest, "wamp.error.invalid_uri")
	b.signed("/publish", `{"topic":"app.news","options":{"eligible":"everyone"}}`).expect(t, http.StatusBadRequest, "wamp.error.invalid_argument")
	b.signed("/publish", `{"topic":"app.news","options":{"frobnicate":true}}`).expect(t, http.StatusBadRequest, bridge.ErrInvalidRequest)
	b.signed("/publish", `{"topic":"app.news","args":["after refusals"]}`).expect(t, http.StatusOK, "")
	if ev := recv(t, wsEvents); ev.Arguments[0] != "after refusals" {
		t.Fatalf("a refused publication was delivered: %v", ev.Arguments)
	}
}

func TestBridgeCall(t *testing.T) {
	t.Parallel()
	for _, compat := range []bool{false, true} {
		t.Run(fmt.Sprintf("crossbar_compat=%v", compat), func(t *testing.T) {
			t.Parallel()
			srv := routertest.Start(t, withBridge(compat))
			b := newBridgeClient(t, srv)
			callee := srv.Dial(t, 1, "msgpack", client.Config{})
			must(t, callee.Register("app.add", func(_ context.Context, inv *wamp.Invocation) client.InvokeResult {
				x, _ := wamp.AsInt64(inv.Arguments[0])
				y, _ := wamp.AsInt64(inv.Arguments[1])
				return client.InvokeResult{Args: wamp.List{x + y}, Kwargs: wamp.Dict{"caller": inv.Details["caller_authid"]}}
			}, nil))
			must(t, callee.Register("app.fail", func(context.Context, *wamp.Invocation) client.InvokeResult {
				return client.InvokeResult{Err: "app.error.invalid_length", Args: wamp.List{"too short"}, Kwargs: wamp.Dict{"min": 3, "max": 10}}
			}, nil))
			must(t, callee.Register("app.slow", func(ctx context.Context, _ *wamp.Invocation) client.InvokeResult {
				select {
				case <-ctx.Done():
				case <-time.After(3 * time.Second):
				}
				return client.InvokeResult{Args: wamp.List{"late"}}
			}, nil))
			must(t, callee.Register("app.shown.whoami", func(_ context.Context, inv *wamp.Invocation) client.InvokeResult {
				return client.InvokeResult{Args: wamp.List{inv.Details["caller_authid"]}}
			}, nil))

			r := b.signed("/call", `{"procedure":"app.add","args":[2,40]}`)
			r.expect(t, http.StatusOK, "")
			if args, _ := r.body["args"].([]any); len(args) != 1 || args[0] != float64(42) {
				t.Fatalf("call reply %s", r.raw)
			}
			r = b.bearer("/call", `{"procedure":"app.shown.whoami"}`)
			r.expect(t, http.StatusOK, "")
			if args, _ := r.body["args"].([]any); len(args) != 1 || args[0] != "worker-1" {
				t.Fatalf("disclosed caller %s, want worker-1", r.raw)
			}

			wampStatus := func(s int) int {
				if compat {
					return http.StatusOK
				}
				return s
			}
			r = b.signed("/call", `{"procedure":"app.fail"}`)
			r.expect(t, wampStatus(http.StatusBadGateway), "app.error.invalid_length")
			if args, _ := r.body["args"].([]any); len(args) != 1 || args[0] != "too short" {
				t.Fatalf("callee error args %s", r.raw)
			}
			if kw, _ := r.body["kwargs"].(map[string]any); kw["min"] != float64(3) || kw["max"] != float64(10) {
				t.Fatalf("callee error kwargs %s", r.raw)
			}
			b.signed("/call", `{"procedure":"app.missing"}`).expect(t, wampStatus(http.StatusNotFound), "wamp.error.no_such_procedure")
			b.signed("/call", `{"procedure":"other.proc"}`).expect(t, wampStatus(http.StatusForbidden), "wamp.error.not_authorized")
			start := time.Now()
			r = b.signed("/call", `{"procedure":"app.slow","options":{"timeout":200}}`)
			if r.status != wampStatus(http.StatusGatewayTimeout) || (r.body["error"] != "wamp.error.timeout" && r.body["error"] != "wamp.error.canceled") {
				t.Fatalf("slow call: status %d body %s, want a timeout", r.status, r.raw)
			}
			if time.Since(start) > 2*time.Second {
				t.Fatalf("the call timeout of 200ms took %v", time.Since(start))
			}
			// Request errors keep their 4xx in compatibility mode too.
			b.signed("/call", `{"args":[1]}`).expect(t, http.StatusBadRequest, bridge.ErrInvalidRequest)
		})
	}
}

func TestBridgeCredentials(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, withBridge(false))
	b := newBridgeClient(t, srv)
	body := []byte(`{"topic":"app.news"}`)
	ct := http.Header{"Content-Type": {"application/json"}}
	post := func(url string, h http.Header, body []byte) bridgeReply {
		t.Helper()
		return b.do(http.MethodPost, url, h, body)
	}
	post(b.signedURL("/publish", body, nil), ct, body).expect(t, http.StatusOK, "")
	for name, mutate := range map[string]func(url.Values){
		"wrong signature": func(q url.Values) {
			q.Set("signature", bridge.Sign("another-secret-0123456789", "django", q.Get("timestamp"), "1", q.Get("nonce"), body))
		},
		"wrong key": func(q url.Values) { q.Set("key", "nobody") },
		"stale timestamp": func(q url.Values) {
			ts := bridge.Timestamp(time.Now().Add(-2 * time.Minute))
			q.Set("timestamp", ts)
			q.Set("signature", bridge.Sign(bridgeSecret, "django", ts, "1", q.Get("nonce"), body))
		},
		"bad timestamp":     func(q url.Values) { q.Set("timestamp", "yesterday") },
		"missing nonce":     func(q url.Values) { q.Del("nonce") },
		"missing signature": func(q url.Values) { q.Del("signature") },
		"tampered seq":      func(q url.Values) { q.Set("seq", "2") },
	} {
		t.Run(name, func(t *testing.T) {
			post(b.signedURL("/publish", body, mutate), ct, body).expect(t, http.StatusUnauthorized, bridge.ErrUnauthorized)
		})
	}
	// A replayed request is refused.
	u := b.signedURL("/publish", body, nil)
	post(u, ct, body).expect(t, http.StatusOK, "")
	post(u, ct, body).expect(t, http.StatusUnauthorized, bridge.ErrUnauthorized)
	// A tampered body fails the signature.
	post(b.signedURL("/publish", body, nil), ct, []byte(`{"topic":"app.other"}`)).expect(t, http.StatusUnauthorized, bridge.ErrUnauthorized)
	// Bearer tokens; no credentials at all.
	post(b.base+"/publish", http.Header{"Authorization": {"Bearer wrong-token-0123456789"}, "Content-Type": ct["Content-Type"]}, body).expect(t, http.StatusUnauthorized, bridge.ErrUnauthorized)
	post(b.base+"/publish", http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}, "Content-Type": ct["Content-Type"]}, body).expect(t, http.StatusUnauthorized, bridge.ErrUnauthorized)
	post(b.base+"/publish", ct, body).expect(t, http.StatusUnauthorized, bridge.ErrUnauthorized)
}

func TestBridgeBadInput(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, func(c *config.Config) {
		withBridge(false)(c)
		c.Limits.MaxMessageItems = 1000
	})
	b := newBridgeClient(t, srv)
	for _, tc := range []struct {
		name, body, contentType string
		status                  int
		uri                     string
	}{
		{"invalid JSON", `{"topic":`, "application/json", 400, bridge.ErrInvalidRequest},
		{"trailing data", `{"topic":"app.a"} {}`, "application/json", 400, bridge.ErrInvalidRequest},
		{"not an object", `"app.news"`, "application/json", 400, bridge.ErrInvalidRequest},
		{"missing topic", `{"args":[1]}`, "application/json", 400, bridge.ErrInvalidRequest},
		{"topic not a string", `{"topic":7}`, "application/json", 400, bridge.ErrInvalidRequest},
		{"args not a list", `{"topic":"app.a","args":{"x":1}}`, "application/json", 400, bridge.ErrInvalidRequest},
		{"empty batch", `[]`, "application/json", 400, bridge.ErrInvalidRequest},
		{"bad URI", `{"topic":"app. news"}`, "application/json", 400, "wamp.error.invalid_uri"},
		{"not UTF-8", "{\"topic\":\"app.\xff\"}", "application/json", 400, bridge.ErrInvalidRequest},
		{"wrong content type", `{"topic":"app.a"}`, "text/plain", 415, bridge.ErrUnsupportedMediaType},
		{"form content type", `{"topic":"app.a"}`, "application/x-www-form-urlencoded", 415, bridge.ErrUnsupportedMediaType},
		{"no content type", `{"topic":"app.a"}`, "", 415, bridge.ErrUnsupportedMediaType},
		{"json with charset", `{"topic":"app.a"}`, "Application/JSON; charset=UTF-8", 200, ""},
		{"wrong charset", `{"topic":"app.a"}`, "application/json; charset=latin-1", 415, bridge.ErrUnsupportedMediaType},
		{"oversized body", `{"topic":"app.a","args":["` + strings.Repeat("x", 5000) + `"]}`, "application/json", 413, bridge.ErrPayloadTooLarge},
		// limits.max_nesting_depth (64) bounds a body as a client's message.
		{"nested to the limit", nestedBody(64), "application/json", 200, ""},
		{"nested one deeper", nestedBody(65), "application/json", 400, bridge.ErrInvalidRequest},
		{"batch nested to the limit", "[" + nestedBody(64) + "]", "application/json", 200, ""},
		{"batch nested one deeper", "[" + nestedBody(65) + "]", "application/json", 400, bridge.ErrInvalidRequest},
		// and limits.max_message_items (1000 here) the values in it.
		{"values within the limit", `{"topic":"app.a","args":[` + strings.Repeat("0,", 900) + `0]}`, "application/json", 200, ""},
		{"too many values", `{"topic":"app.a","args":[` + strings.Repeat("0,", 1500) + `0]}`, "application/json", 400, bridge.ErrInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			h := http.Header{}
			if tc.contentType != "" {
				h.Set("Content-Type", tc.contentType)
			}
			b.do(http.MethodPost, b.signedURL("/publish", body, nil), h, body).expect(t, tc.status, tc.uri)
		})
	}
	r := b.do(http.MethodGet, b.base+"/publish", nil, nil)
	r.expect(t, http.StatusMethodNotAllowed, bridge.ErrMethodNotAllowed)
	// Restrictive CORS: a browser preflight from another origin is refused
	// and no Access-Control-Allow-Origin is ever sent.
	req, _ := http.NewRequest(http.MethodOptions, b.base+"/publish", nil)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight: status %d, ACAO %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

// nestedBody is a publish body whose arrays and objects nest depth levels,
// its own object included.
func nestedBody(depth int) string {
	return `{"topic":"app.a","args":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + "}"
}

// TestBridgeLoopbackWithoutKeys: the embedded default: no keys, loopback
// clients publish with the realm's anonymous role.
func TestBridgeLoopbackWithoutKeys(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse("default", config.DefaultYAML(), nil)
	must(t, err)
	srv := routertest.Start(t, func(c *config.Config) {
		c.Listeners[0].Bridge = cfg.Listeners[0].Bridge
	})
	sub := srv.Dial(t, 0, "json", client.Config{})
	events := make(chan *wamp.Event, 1)
	must(t, sub.SubscribeChan("com.example.news", events, nil))
	b := newBridgeClient(t, srv)
	b.do(http.MethodPost, b.base+"/publish", http.Header{"Content-Type": {"application/json"}},
		[]byte(`{"topic":"com.example.news","args":["from curl"]}`)).expect(t, http.StatusOK, "")
	if ev := recv(t, events); ev.Arguments[0] != "from curl" {
		t.Fatalf("event %v", ev.Arguments)
	}
}
