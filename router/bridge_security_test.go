package router_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/gorilla/websocket"

	"github.com/switchboard-wamp/switchboard/bridge"
	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

var jsonCT = http.Header{"Content-Type": {"application/json"}}

// headers merges header sets.
func headers(hs ...http.Header) http.Header {
	out := http.Header{}
	for _, h := range hs {
		for k, v := range h {
			out[k] = v
		}
	}
	return out
}

// TestBridgeRefusesWebPages is finding 4 against the embedded default
// bridge (no keys, loopback clients): a page on any site could make the
// visitor's browser publish and call with a no-cors fetch (no Content-Type,
// or a form or text/plain one, need no preflight). Backends, which send
// JSON and no Origin, still can.
func TestBridgeRefusesWebPages(t *testing.T) {
	t.Parallel()
	def, err := config.Parse("default", config.DefaultYAML(), nil)
	must(t, err)
	srv := routertest.Start(t, func(c *config.Config) {
		c.Listeners[0].Bridge = def.Listeners[0].Bridge
		c.Listeners[0].Bridge.Webhooks = []config.Webhook{{Name: "plain", Topic: "com.example.hook"}}
	})
	sub := srv.Dial(t, 0, "json", client.Config{})
	events := make(chan *wamp.Event, 8)
	must(t, sub.SubscribeChan("com.example.", events, wamp.Dict{"match": "prefix"}))
	b := newBridgeClient(t, srv)
	publish := []byte(`{"topic":"com.example.news","args":["x"]}`)
	call := []byte(`{"procedure":"wamp.session.list"}`)
	evil := http.Header{"Origin": {"http://evil.example"}}
	for _, tc := range []struct {
		name   string
		path   string
		header http.Header
		body   []byte
		status int
		uri    string
	}{
		// What the probes of the review sent.
		{"no-cors publish", "/publish", evil, publish, 403, bridge.ErrOriginNotAllowed},
		{"no-cors call", "/call", evil, call, 403, bridge.ErrOriginNotAllowed},
		{"JSON from another origin", "/call", headers(evil, jsonCT), call, 403, bridge.ErrOriginNotAllowed},
		{"text/plain from another origin", "/publish", headers(evil, http.Header{"Content-Type": {"text/plain"}}), publish, 403, bridge.ErrOriginNotAllowed},
		{"localhost page", "/publish", headers(jsonCT, http.Header{"Origin": {"http://localhost:3000"}}), publish, 403, bridge.ErrOriginNotAllowed},
		{"cross-site without Origin", "/publish", headers(jsonCT, http.Header{"Sec-Fetch-Site": {"cross-site"}}), publish, 403, bridge.ErrOriginNotAllowed},
		{"same-site without Origin", "/publish", headers(jsonCT, http.Header{"Sec-Fetch-Site": {"same-site"}}), publish, 403, bridge.ErrOriginNotAllowed},
		{"no Content-Type", "/publish", nil, publish, 415, bridge.ErrUnsupportedMediaType},
		{"form Content-Type", "/publish", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, publish, 415, bridge.ErrUnsupportedMediaType},
		{"webhook from a page", "/webhook/plain", evil, []byte("a=1"), 403, bridge.ErrOriginNotAllowed},
		// Backends.
		{"backend publish", "/publish", jsonCT, publish, 200, ""},
		{"backend call", "/call", jsonCT, call, 200, ""},
		{"Sec-Fetch-Site none", "/publish", headers(jsonCT, http.Header{"Sec-Fetch-Site": {"none"}}), publish, 200, ""},
		// Webhooks take the sender's own format.
		{"webhook, form body", "/webhook/plain", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte("a=1"), 202, ""},
		{"webhook, no Content-Type", "/webhook/plain", nil, []byte("raw"), 202, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.do(http.MethodPost, b.base+tc.path, tc.header, tc.body).expect(t, tc.status, tc.uri)
		})
	}
	// Only the accepted publications were delivered: the backend's, the
	// one with Sec-Fetch-Site none, and two webhooks.
	for range 4 {
		recv(t, events)
	}
	select {
	case ev := <-events:
		t.Fatalf("a refused request was published: %v %v", ev.Details, ev.Arguments)
	default:
	}
	families, _ := scrape(t, srv)
	for reason, want := range map[string]float64{"origin": 8, "content_type": 2} {
		if got := value(families, "switchboard_bridge_refused_total", map[string]string{"reason": reason}); got != want {
			t.Errorf("switchboard_bridge_refused_total{reason=%q} = %v, want %v", reason, got, want)
		}
	}
}

// TestBridgeAllowedOrigins: an origin listed in allowed_origins is accepted
// (also with a Sec-Fetch-Site of another site), others are not.
func TestBridgeAllowedOrigins(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, func(c *config.Config) {
		withBridge(false)(c)
		c.Listeners[0].Bridge.AllowedOrigins = []string{"https://app.example.com", "*.trusted.example"}
	})
	b := newBridgeClient(t, srv)
	for origin, status := range map[string]int{
		"https://app.example.com":       200,
		"https://admin.trusted.example": 200,
		"http://app.example.com":        403,
		"https://app.example.com.evil":  403,
		"https://evil.example":          403,
		"null":                          403,
	} {
		t.Run(origin, func(t *testing.T) {
			h := http.Header{"Origin": {origin}, "Sec-Fetch-Site": {"cross-site"}}
			uri := ""
			if status != 200 {
				uri = bridge.ErrOriginNotAllowed
			}
			body := `{"topic":"app.news"}`
			b.do(http.MethodPost, b.signedURL("/publish", []byte(body), nil), headers(h, jsonCT), []byte(body)).expect(t, status, uri)
		})
	}
}

// TestLoopbackListenerChecksHost: DNS rebinding. A page on evil.example
// whose name now resolves to 127.0.0.1 talks to the loopback listener as
// its own origin: Host evil.example:8080 and a matching Origin. Every HTTP
// request with a Host that is not loopback is refused with 421.
func TestLoopbackListenerChecksHost(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, withBridge(false))
	port := fmt.Sprint(srv.Addr(0).Port)
	wsURL := srv.URL(0)
	dial := func(host, origin string) (int, string) {
		t.Helper()
		d := websocket.Dialer{Subprotocols: []string{"wamp.2.json"}, HandshakeTimeout: 5 * time.Second}
		header := http.Header{"Host": {host}}
		if origin != "" {
			header.Set("Origin", origin)
		}
		ws, resp, err := d.Dial(wsURL, header)
		if err == nil {
			ws.Close()
			return resp.StatusCode, ""
		}
		if resp == nil {
			t.Fatalf("dial with Host %s: %v", host, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(body)
	}
	status, body := dial("evil.example:8080", "http://evil.example:8080")
	if status != http.StatusMisdirectedRequest || !strings.Contains(body, "switchboard.error.host_not_allowed") {
		t.Fatalf("rebinding upgrade: status %d body %q, want 421 with a JSON error", status, body)
	}
	var e struct {
		Error string
		Args  []any
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || len(e.Args) != 1 {
		t.Fatalf("rebinding upgrade: body %q is not a JSON error", body)
	}
	for _, host := range []string{"localhost:" + port, "LOCALHOST:" + port, "127.0.0.1:" + port, "127.0.0.2:" + port, "[::1]:" + port, "localhost"} {
		// No Origin: what is tested is Host (origins have their own rules).
		if status, body := dial(host, ""); status != http.StatusSwitchingProtocols {
			t.Errorf("upgrade with Host %s: status %d body %q, want 101", host, status, body)
		}
	}

	// The bridge and the health endpoints too.
	request := func(method, path, host string, h http.Header, body []byte) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, "http://"+srv.Addr(0).String()+path, bytes.NewReader(body))
		must(t, err)
		req.Host = host
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	bearer := http.Header{"Authorization": {"Bearer " + bridgeToken}, "Content-Type": {"application/json"}}
	pub := []byte(`{"topic":"app.news"}`)
	refused := 1
	for _, host := range []string{"evil.example:8080", "evil.example", "127.0.0.1.evil.example:" + port, "localhost.evil.example", "192.0.2.1:" + port} {
		for _, r := range []*http.Response{
			request(http.MethodPost, "/publish", host, bearer, pub),
			request(http.MethodGet, "/healthz", host, nil, nil),
			request(http.MethodGet, "/metrics", host, nil, nil),
		} {
			refused++
			if r.StatusCode != http.StatusMisdirectedRequest {
				t.Errorf("%s with Host %q: status %d, want 421", r.Request.URL.Path, host, r.StatusCode)
			}
		}
	}
	for _, host := range []string{"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port} {
		if r := request(http.MethodPost, "/publish", host, bearer, pub); r.StatusCode != http.StatusOK {
			t.Errorf("publish with Host %s: status %d, want 200", host, r.StatusCode)
		}
		if r := request(http.MethodGet, "/healthz", host, nil, nil); r.StatusCode != http.StatusOK {
			t.Errorf("healthz with Host %s: status %d, want 200", host, r.StatusCode)
		}
	}
	families, _ := scrape(t, srv)
	if got := value(families, "switchboard_http_host_refused_total", nil); got != float64(refused) {
		t.Errorf("switchboard_http_host_refused_total = %v, want %d", got, refused)
	}
}

// TestBridgeReplayOfResplitRequest is finding 7: the signature covers seq
// and nonce without a separator, so seq 1 nonce 2345 signs the same bytes
// as 12/345, 123/45 and 1234/5; each of those is a replay.
func TestBridgeReplayOfResplitRequest(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, withBridge(false))
	b := newBridgeClient(t, srv)
	body := []byte(`{"topic":"app.news"}`)
	ts := bridge.Timestamp(time.Now())
	nonce := fmt.Sprint(time.Now().UnixNano())
	sig := bridge.Sign(bridgeSecret, "django", ts, "1", nonce, body)
	send := func(seq, nonce string) bridgeReply {
		q := url.Values{"key": {"django"}, "timestamp": {ts}, "seq": {seq}, "nonce": {nonce}, "signature": {sig}}
		return b.do(http.MethodPost, b.base+"/publish?"+q.Encode(), jsonCT, body)
	}
	send("1", nonce).expect(t, http.StatusOK, "")
	signed := "1" + nonce
	for _, cut := range []int{2, 3, len(signed) - 1} {
		r := send(signed[:cut], signed[cut:])
		r.expect(t, http.StatusUnauthorized, bridge.ErrUnauthorized)
		if !strings.Contains(r.raw, "replayed") {
			t.Fatalf("seq %s nonce %s: %s, want refused as a replay", signed[:cut], signed[cut:], r.raw)
		}
	}
	// The nonce's end moved into the body (JSON allows leading whitespace):
	// the same signed bytes, a replay too.
	nonce2 := fmt.Sprint(time.Now().UnixNano())
	tabbed := append([]byte("\t"), body...)
	sig2 := bridge.Sign(bridgeSecret, "django", ts, "1", nonce2, tabbed)
	resend := func(nonce string, body []byte) bridgeReply {
		q := url.Values{"key": {"django"}, "timestamp": {ts}, "seq": {"1"}, "nonce": {nonce}, "signature": {sig2}}
		return b.do(http.MethodPost, b.base+"/publish?"+q.Encode(), jsonCT, body)
	}
	resend(nonce2, tabbed).expect(t, http.StatusOK, "")
	resend(nonce2+"\t", body).expect(t, http.StatusUnauthorized, bridge.ErrUnauthorized)
	// A genuinely new nonce is accepted.
	b.signed("/publish", string(body)).expect(t, http.StatusOK, "")
	families, _ := scrape(t, srv)
	if got := value(families, "switchboard_bridge_refused_total", map[string]string{"reason": "replay"}); got != 4 {
		t.Errorf("switchboard_bridge_refused_total{reason=replay} = %v, want 4", got)
	}
}

// TestBridgeTimestampWindowEndToEnd: timestamp_delta_limit (1 minute here)
// holds on both sides of the router's clock. The exact boundary is tested
// beside the code with a fake clock; here the margins absorb the test's
// own latency.
func TestBridgeTimestampWindowEndToEnd(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, withBridge(false))
	b := newBridgeClient(t, srv)
	body := []byte(`{"topic":"app.news"}`)
	for _, tc := range []struct {
		name   string
		offset time.Duration
		status int
	}{
		{"past, inside", -55 * time.Second, 200},
		{"past, outside", -65 * time.Second, 401},
		{"future, inside", 55 * time.Second, 200},
		{"future, outside", 65 * time.Second, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := b.signedURL("/publish", body, func(q url.Values) {
				ts := bridge.Timestamp(time.Now().Add(tc.offset))
				q.Set("timestamp", ts)
				q.Set("signature", bridge.Sign(bridgeSecret, "django", ts, q.Get("seq"), q.Get("nonce"), body))
			})
			uri := ""
			if tc.status != 200 {
				uri = bridge.ErrUnauthorized
			}
			b.do(http.MethodPost, u, jsonCT, body).expect(t, tc.status, uri)
		})
	}
}

// TestBridgeBodyLimit: max_body_size (4096 here) holds for a declared
// Content-Length and for a chunked body that declares none.
func TestBridgeBodyLimit(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, withBridge(false))
	b := newBridgeClient(t, srv)
	sized := func(n int) []byte {
		body := fmt.Appendf(nil, `{"topic":"app.news","args":["%s"]}`, strings.Repeat("x", n-len(`{"topic":"app.news","args":[""]}`)))
		if len(body) != n {
			t.Fatalf("body of %d bytes, want %d", len(body), n)
		}
		return body
	}
	for _, chunked := range []bool{false, true} {
		for n, status := range map[int]int{4096: 200, 4097: 413, 100000: 413} {
			t.Run(fmt.Sprintf("chunked=%v/%d", chunked, n), func(t *testing.T) {
				body := sized(n)
				var rd io.Reader = bytes.NewReader(body)
				if chunked {
					rd = io.MultiReader(rd) // length unknown to the client
				}
				req, err := http.NewRequest(http.MethodPost, b.base+"/publish", rd)
				must(t, err)
				if chunked {
					req.ContentLength = -1
					req.TransferEncoding = []string{"chunked"}
				}
				req.Header.Set("Authorization", "Bearer "+bridgeToken)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				must(t, err)
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != status {
					t.Fatalf("status %d body %s, want %d", resp.StatusCode, raw, status)
				}
				if status == 413 && !strings.Contains(string(raw), bridge.ErrPayloadTooLarge) {
					t.Fatalf("body %s, want %s", raw, bridge.ErrPayloadTooLarge)
				}
			})
		}
	}
}

// TestBridgeReadTimeout is the bridge part of finding 9: a request whose
// body trickles in (here a byte every 50 ms) is cut off at read_timeout
// (300 ms here) with 408, and its connection closed; a request that sends
// its body is served.
func TestBridgeReadTimeout(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, func(c *config.Config) {
		withBridge(false)(c)
		c.Listeners[0].Bridge.ReadTimeout = 300 * time.Millisecond
	})
	b := newBridgeClient(t, srv)
	b.bearer("/publish", `{"topic":"app.news"}`).expect(t, http.StatusOK, "")

	conn, err := net.Dial("tcp", srv.Addr(0).String())
	must(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = fmt.Fprintf(conn, "POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", bridgeToken)
	must(t, err)
	var stop atomic.Bool
	trickled := make(chan struct{})
	go func() {
		defer close(trickled)
		for !stop.Load() {
			if _, err := conn.Write([]byte(" ")); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond) // the client's pace, not synchronization
		}
	}()
	t.Cleanup(func() {
		stop.Store(true)
		<-trickled
	})
	must(t, conn.SetReadDeadline(time.Now().Add(20*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a trickling body: %v", err)
	}
	raw, _ := io.ReadAll(resp.Body) // to EOF: the router closes the connection
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(raw), bridge.ErrRequestTimeout) {
		t.Fatalf("trickling body: status %d body %s, want 408 %s", resp.StatusCode, raw, bridge.ErrRequestTimeout)
	}
	if !resp.Close {
		t.Fatal("the connection of a timed-out body was kept open")
	}
	// The same listener still serves requests that send their body.
	b.bearer("/publish", `{"topic":"app.news"}`).expect(t, http.StatusOK, "")
	families, _ := scrape(t, srv)
	if got := value(families, "switchboard_bridge_refused_total", map[string]string{"reason": "read_timeout"}); got != 1 {
		t.Errorf("switchboard_bridge_refused_total{reason=read_timeout} = %v, want 1", got)
	}
}

// TestBridgeHTTPClientsNeverFollowRedirects is the bridge part of finding
// 10: forwards and HTTP callees never follow a redirect (a 307 would
// re-POST the signed body elsewhere): it is a failure, counted; and a
// failed HTTP callee tells the caller the status only, never the app's
// body. Good answers still work.
func TestBridgeHTTPClientsNeverFollowRedirects(t *testing.T) {
	t.Parallel()
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		elsewhere.Add(1)
		_, _ = w.Write([]byte(`{"args":["from elsewhere"]}`))
	}))
	t.Cleanup(other.Close)
	const secretDetail = "Traceback: db password=hunter2"
	var forwarded atomic.Int32
	appSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, other.URL+"/stolen", http.StatusTemporaryRedirect)
		case "/broken":
			http.Error(w, secretDetail, http.StatusInternalServerError)
		case "/events":
			forwarded.Add(1)
			w.WriteHeader(http.StatusNoContent)
		default:
			_, _ = w.Write([]byte(`{"args":["ok"]}`))
		}
	}))
	t.Cleanup(appSrv.Close)
	srv := routertest.Start(t, func(c *config.Config) {
		withBridge(false)(c)
		b := c.Listeners[0].Bridge
		b.Forwards = []config.Forward{
			{Topic: "app.moved", Match: "exact", URL: appSrv.URL + "/redirect", Secret: hookSecret, QueueSize: 10, MaxRetries: 3, Timeout: 5 * time.Second},
			{Topic: "app.kept", Match: "exact", URL: appSrv.URL + "/events", Secret: hookSecret, QueueSize: 10, MaxRetries: 3, Timeout: 5 * time.Second},
		}
		b.Callees = []config.HTTPCallee{
			{Procedure: "app.moved", URL: appSrv.URL + "/redirect", Secret: hookSecret, Timeout: 5 * time.Second},
			{Procedure: "app.broken", URL: appSrv.URL + "/broken", Secret: hookSecret, Timeout: 5 * time.Second},
			{Procedure: "app.ok", URL: appSrv.URL + "/ok", Secret: hookSecret, Timeout: 5 * time.Second},
		}
	})
	caller := srv.Dial(t, 0, "json", client.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := caller.Call(ctx, "app.ok", nil, nil, nil, nil)
	must(t, err)
	if res.Arguments[0] != "ok" {
		t.Fatalf("good callee: %v", res.Arguments)
	}
	for proc, status := range map[string]int{"app.moved": 307, "app.broken": 500} {
		_, err := caller.Call(ctx, proc, nil, nil, nil, nil)
		var rpcErr client.RPCError
		if !errors.As(err, &rpcErr) || rpcErr.Err.Error != bridge.ErrHTTPCalleeFailed {
			t.Fatalf("%s: %v, want %s", proc, err, bridge.ErrHTTPCalleeFailed)
		}
		shown := fmt.Sprint(rpcErr.Err.Arguments, rpcErr.Err.ArgumentsKw)
		if strings.Contains(shown, "hunter2") || strings.Contains(shown, "Traceback") || strings.Contains(shown, other.URL) {
			t.Fatalf("%s: the caller saw the app's answer: %s", proc, shown)
		}
		if got, _ := wamp.AsInt64(rpcErr.Err.ArgumentsKw["status"]); got != int64(status) {
			t.Fatalf("%s: error %s, want status %d", proc, shown, status)
		}
	}
	// Through the bridge's /call too.
	r := newBridgeClient(t, srv).signed("/call", `{"procedure":"app.broken"}`)
	r.expect(t, http.StatusBadGateway, bridge.ErrHTTPCalleeFailed)
	if strings.Contains(r.raw, "hunter2") {
		t.Fatalf("the bridge caller saw the app's answer: %s", r.raw)
	}

	pub := srv.Dial(t, 1, "json", client.Config{})
	must(t, pub.Publish("app.moved", wamp.Dict{"acknowledge": true}, wamp.List{1}, nil))
	must(t, pub.Publish("app.kept", wamp.Dict{"acknowledge": true}, wamp.List{1}, nil))
	deadline := time.Now().Add(10 * time.Second)
	var failed, delivered float64
	for time.Now().Before(deadline) {
		families, _ := scrape(t, srv)
		failed = value(families, "switchboard_bridge_forward_events_total", map[string]string{"result": "failed"})
		delivered = value(families, "switchboard_bridge_forward_events_total", map[string]string{"result": "delivered"})
		if failed >= 1 && delivered >= 1 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if failed != 1 || delivered != 1 || forwarded.Load() != 1 {
		t.Fatalf("forwards: %v failed, %v delivered, app got %d; want the redirected one failed, the other delivered",
			failed, delivered, forwarded.Load())
	}
	families, _ := scrape(t, srv)
	if got := value(families, "switchboard_bridge_forward_retries_total", nil); got != 0 {
		t.Errorf("a redirect was retried %v times", got)
	}
	for reason, want := range map[string]float64{"redirect": 1, "status": 2} {
		if got := value(families, "switchboard_bridge_http_callee_failures_total", map[string]string{"reason": reason}); got != want {
			t.Errorf("switchboard_bridge_http_callee_failures_total{reason=%q} = %v, want %v", reason, got, want)
		}
	}
	if n := elsewhere.Load(); n != 0 {
		t.Fatalf("the redirect target received %d requests", n)
	}
}
