package router_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/bridge"
	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

const hookSecret = "forward-signing-secret-0123456789"

// app is the web app on loopback that switchboard calls: it records the
// forwarded events, fails the first failFirst requests with 503, and
// answers the HTTP callee.
type app struct {
	t         *testing.T
	mu        sync.Mutex
	failFirst int
	requests  int
	events    []bridge.ForwardEvent
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := bridge.VerifyOutgoing(hookSecret, r.Header.Get(bridge.SignatureHeader), body, time.Now(), time.Minute); err != nil {
		a.t.Errorf("%s: %v", r.URL.Path, err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	switch r.URL.Path {
	case "/events":
		a.mu.Lock()
		defer a.mu.Unlock()
		a.requests++
		if a.requests <= a.failFirst {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		var ev bridge.ForwardEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			a.t.Errorf("forwarded body %s: %v", body, err)
		}
		a.events = append(a.events, ev)
		w.WriteHeader(http.StatusNoContent)
	case "/rpc/greet":
		var inv struct {
			Procedure string
			Args      []any
			Caller    map[string]any
		}
		_ = json.Unmarshal(body, &inv)
		w.Header().Set("Content-Type", "application/json")
		if len(inv.Args) == 0 {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error": "app.error.no_name", "args": ["who?"]}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"args": []any{fmt.Sprintf("hello %v", inv.Args[0])},
			"kwargs": map[string]any{"caller_authid": inv.Caller["authid"], "procedure": inv.Procedure}})
	case "/rpc/slow":
		time.Sleep(2 * time.Second)
		_, _ = w.Write([]byte(`"late"`))
	default:
		http.NotFound(w, r)
	}
}

func (a *app) received() []bridge.ForwardEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]bridge.ForwardEvent(nil), a.events...)
}

func TestBridgeForwardsAndHTTPCallee(t *testing.T) {
	t.Parallel()
	a := &app{t: t, failFirst: 3}
	appSrv := httptest.NewServer(a)
	t.Cleanup(appSrv.Close)
	srv := routertest.Start(t, func(c *config.Config) {
		withBridge(false)(c)
		b := c.Listeners[0].Bridge
		b.Forwards = []config.Forward{{Topic: "app.orders.", Match: "prefix", URL: appSrv.URL + "/events",
			Secret: hookSecret, QueueSize: 100, MaxRetries: 10, Timeout: time.Second}}
		b.Callees = []config.HTTPCallee{
			{Procedure: "app.greet", URL: appSrv.URL + "/rpc/greet", Secret: hookSecret, Timeout: time.Second},
			{Procedure: "app.slow", URL: appSrv.URL + "/rpc/slow", Secret: hookSecret, Timeout: 200 * time.Millisecond},
		}
	})

	// Events forwarded in order, every one, though the app fails at first.
	pub := srv.Dial(t, 0, "json", client.Config{})
	for i := range 20 {
		must(t, pub.Publish(fmt.Sprintf("app.orders.%d", i), wamp.Dict{"acknowledge": true}, wamp.List{i}, wamp.Dict{"n": i}))
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(a.received()) < 20 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	got := a.received()
	if len(got) != 20 {
		t.Fatalf("app received %d of 20 events", len(got))
	}
	for i, ev := range got {
		if ev.Topic != fmt.Sprintf("app.orders.%d", i) || fmt.Sprint(ev.Args) != fmt.Sprintf("[%d]", i) || ev.Publication == 0 {
			t.Fatalf("event %d arrived as %+v", i, ev)
		}
	}
	if a.requests != 23 {
		t.Fatalf("app saw %d requests, want 20 + 3 refused and retried", a.requests)
	}

	// A browser-like session calls the app through the HTTP callee.
	caller := srv.Dial(t, 1, "msgpack", client.Config{HelloDetails: wamp.Dict{"authid": "alice"}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := caller.Call(ctx, "app.greet", nil, wamp.List{"alice"}, nil, nil)
	must(t, err)
	if res.Arguments[0] != "hello alice" || res.ArgumentsKw["procedure"] != "app.greet" {
		t.Fatalf("HTTP callee result %v %v", res.Arguments, res.ArgumentsKw)
	}
	callerAuthID, _ := wamp.AsString(caller.RealmDetails()["authid"])
	if res.ArgumentsKw["caller_authid"] != callerAuthID {
		t.Fatalf("the app saw caller %v, want %s", res.ArgumentsKw["caller_authid"], callerAuthID)
	}
	_, err = caller.Call(ctx, "app.greet", nil, nil, nil, nil)
	if uri := wampErrorURI(err); uri != "app.error.no_name" {
		t.Fatalf("app error came back as %v", err)
	}
	_, err = caller.Call(ctx, "app.slow", nil, nil, nil, nil)
	if uri := wampErrorURI(err); uri != "wamp.error.timeout" {
		t.Fatalf("slow app came back as %v, want wamp.error.timeout", err)
	}
	// The HTTP bridge's /call reaches the HTTP callee too.
	r := newBridgeClient(t, srv).signed("/call", `{"procedure":"app.greet","args":["bridge"]}`)
	r.expect(t, http.StatusOK, "")
}

func TestBridgeWebhookIn(t *testing.T) {
	t.Parallel()
	const ghSecret = "github-webhook-secret-0123456789"
	srv := routertest.Start(t, func(c *config.Config) {
		withBridge(false)(c)
		c.Listeners[0].Bridge.Webhooks = []config.Webhook{
			{Name: "plain", Topic: "app.hooks.plain"},
			{Name: "github", Topic: "app.hooks.github", GitHubSecret: ghSecret},
		}
	})
	sub := srv.Dial(t, 0, "json", client.Config{})
	events := make(chan *wamp.Event, 4)
	must(t, sub.SubscribeChan("app.hooks.", events, wamp.Dict{"match": "prefix"}))
	base := "http://" + srv.Addr(0).String()
	post := func(path string, h http.Header, body string) int {
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := post("/webhook/plain", http.Header{"X-Demo": {"1"}}, "raw body"); s != http.StatusAccepted {
		t.Fatalf("webhook status %d", s)
	}
	ev := recv(t, events)
	payload, _ := wamp.AsDict(ev.Arguments[0])
	headers, _ := wamp.AsDict(payload["headers"])
	if payload["body"] != "raw body" || fmt.Sprint(headers["X-Demo"]) != "[1]" {
		t.Fatalf("webhook event %v", ev.Arguments)
	}
	body := `{"ref":"refs/heads/main"}`
	mac := hmac.New(sha256.New, []byte(ghSecret))
	mac.Write([]byte(body))
	good := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if s := post("/webhook/github", http.Header{"X-Hub-Signature-256": {"sha256=00"}}, body); s != http.StatusUnauthorized {
		t.Fatalf("bad GitHub signature: status %d, want 401", s)
	}
	if s := post("/webhook/github", http.Header{"X-Hub-Signature-256": {good}}, body); s != http.StatusAccepted {
		t.Fatalf("good GitHub signature: status %d", s)
	}
	if ev := recv(t, events); ev.Details["topic"] != "app.hooks.github" {
		t.Fatalf("GitHub event on %v", ev.Details["topic"])
	}
}

func TestBridgeRequireIPAndTLS(t *testing.T) {
	t.Parallel()
	start := func(edit func(*config.Bridge)) *bridgeClient {
		srv := routertest.Start(t, func(c *config.Config) {
			withBridge(false)(c)
			edit(c.Listeners[0].Bridge)
		})
		return newBridgeClient(t, srv)
	}
	body := `{"topic":"app.news"}`
	bearer := http.Header{"Authorization": {"Bearer " + bridgeToken}, "Content-Type": {"application/json"}}
	// Loopback allowed.
	b := start(func(b *config.Bridge) { b.RequireIP = []string{"127.0.0.0/8"} })
	b.do(http.MethodPost, b.base+"/publish", bearer, []byte(body)).expect(t, http.StatusOK, "")
	// Not in the allowed network: refused, and X-Forwarded-For from an
	// untrusted client changes nothing.
	b = start(func(b *config.Bridge) { b.RequireIP = []string{"10.0.0.0/8"} })
	spoofed := http.Header{"Authorization": {"Bearer " + bridgeToken}, "Content-Type": {"application/json"}, "X-Forwarded-For": {"10.1.2.3"}}
	b.do(http.MethodPost, b.base+"/publish", spoofed, []byte(body)).expect(t, http.StatusForbidden, bridge.ErrForbidden)
	// From a trusted proxy, X-Forwarded-For names the client.
	b = start(func(b *config.Bridge) {
		b.RequireIP = []string{"10.0.0.0/8"}
		b.TrustedProxies = []string{"127.0.0.1/32"}
	})
	b.do(http.MethodPost, b.base+"/publish", spoofed, []byte(body)).expect(t, http.StatusOK, "")
	// require_tls: plain HTTP refused; a trusted proxy's X-Forwarded-Proto: https accepted.
	b = start(func(b *config.Bridge) { b.RequireTLS = true })
	b.do(http.MethodPost, b.base+"/publish", bearer, []byte(body)).expect(t, http.StatusForbidden, bridge.ErrForbidden)
	b = start(func(b *config.Bridge) {
		b.RequireTLS = true
		b.TrustedProxies = []string{"127.0.0.1/32"}
	})
	proxied := http.Header{"Authorization": {"Bearer " + bridgeToken}, "Content-Type": {"application/json"}, "X-Forwarded-Proto": {"https"}}
	b.do(http.MethodPost, b.base+"/publish", proxied, []byte(body)).expect(t, http.StatusOK, "")
}
