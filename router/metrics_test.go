package router_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

func scrape(t *testing.T, srv *routertest.Server) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	resp, err := http.Get("http://" + srv.Addr(0).String() + "/metrics")
	must(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	must(t, err)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, raw)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	must(t, err)
	return families, raw
}

// value returns the value of the sample of family name whose labels
// include want (0 if there is none).
func value(families map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f, ok := families[name]
	if !ok {
		return 0
	}
	var total float64
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Histogram != nil:
			total += float64(m.Histogram.GetSampleCount())
		}
	}
	return total
}

// TestMetricsAfterAScriptedSession: join, subscribe, publish N, call M, one
// failed authentication and one refused bridge request show exactly those
// counts on /metrics.
func TestMetricsAfterAScriptedSession(t *testing.T) {
	t.Parallel()
	const publishes, calls = 7, 3
	srv := routertest.Start(t, func(c *config.Config) {
		withBridge(false)(c)
		c.Realms[0].Auth.Ticket = &config.TicketAuth{Principals: map[string]config.TicketPrincipal{
			"backend": {Ticket: "backend-ticket-0123", Role: "anonymous"}}}
	})
	sub := srv.Dial(t, 0, "json", client.Config{})
	pub := srv.Dial(t, 1, "msgpack", client.Config{})
	events := make(chan *wamp.Event, publishes)
	must(t, sub.SubscribeChan("com.metrics.news", events, nil))
	must(t, sub.Register("com.metrics.echo", func(_ context.Context, inv *wamp.Invocation) client.InvokeResult {
		return client.InvokeResult{Args: inv.Arguments}
	}, nil))
	for i := range publishes {
		must(t, pub.Publish("com.metrics.news", wamp.Dict{"acknowledge": true}, wamp.List{i}, nil))
	}
	for range publishes {
		recv(t, events)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := range calls {
		_, err := pub.Call(ctx, "com.metrics.echo", nil, wamp.List{i}, nil, nil)
		must(t, err)
	}
	if c, err := srv.DialErr(0, "json", ticketAuth("backend", "wrong-ticket")); err == nil {
		c.Close()
		t.Fatal("joined with a wrong ticket")
	}
	newBridgeClient(t, srv).signed("/publish", `{"args":[1]}`).expect(t, http.StatusBadRequest, "")

	families, raw := scrape(t, srv)
	realm := map[string]string{"realm": "realm1"}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"switchboard_sessions", map[string]string{"realm": "realm1", "transport": "websocket"}, 1},
		{"switchboard_sessions", map[string]string{"realm": "realm1", "transport": "rawsocket"}, 1},
		{"switchboard_session_joins_total", realm, 2},
		{"switchboard_events_published_total", realm, publishes},
		{"switchboard_events_delivered_total", realm, publishes},
		{"switchboard_messages_received_total", map[string]string{"type": "PUBLISH"}, publishes},
		{"switchboard_messages_received_total", map[string]string{"type": "CALL"}, calls},
		{"switchboard_messages_received_total", map[string]string{"type": "SUBSCRIBE"}, 1},
		{"switchboard_messages_sent_total", map[string]string{"type": "PUBLISHED"}, publishes},
		{"switchboard_messages_sent_total", map[string]string{"type": "EVENT"}, publishes},
		{"switchboard_messages_sent_total", map[string]string{"type": "RESULT"}, calls},
		{"switchboard_call_duration_seconds", realm, calls},
		{"switchboard_auth_failures_total", map[string]string{"realm": "realm1", "method": "ticket", "reason": "invalid_credentials"}, 1},
		{"switchboard_bridge_requests_total", map[string]string{"endpoint": "publish", "status": "400"}, 1},
		{"switchboard_bridge_request_duration_seconds", map[string]string{"endpoint": "publish"}, 1},
		{"switchboard_slow_consumer_disconnects_total", nil, 0},
		{"switchboard_build_info", nil, 1},
	} {
		if _, ok := families[c.name]; !ok {
			t.Errorf("%s is not exported", c.name)
			continue
		}
		if got := value(families, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	// Every metric passes promlint and is documented in docs/metrics.md.
	problems, err := promlint.New(bytes.NewReader(raw)).Lint()
	must(t, err)
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	doc, err := os.ReadFile("../docs/metrics.md")
	must(t, err)
	for name := range families {
		if strings.HasPrefix(name, "switchboard_") && !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/metrics.md does not document `%s`", name)
		}
	}
}

// TestReadyzFlipsBeforeGoodbye: at the start of shutdown /readyz answers
// 503 while sessions are still connected; they get GOODBYE after the drain
// delay. /healthz stays 200 meanwhile.
func TestReadyzFlipsBeforeGoodbye(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, func(c *config.Config) {
		c.ShutdownDrainDelay = 500 * time.Millisecond
		c.ShutdownMode = config.ShutdownGoodbye
	})
	base := "http://" + srv.Addr(0).String()
	status := func(path string) int {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := status("/readyz"); s != http.StatusOK {
		t.Fatalf("/readyz before shutdown: %d", s)
	}
	if s := status("/healthz"); s != http.StatusOK {
		t.Fatalf("/healthz: %d", s)
	}
	c := srv.Dial(t, 1, "json", client.Config{})
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- srv.Shutdown(ctx)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for status("/readyz") != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("/readyz never answered 503")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !c.Connected() || c.RouterGoodbye() != nil {
		t.Fatal("a session got GOODBYE before /readyz answered 503")
	}
	must(t, <-done)
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("session still open after shutdown")
	}
	if gb := c.RouterGoodbye(); gb == nil || gb.Reason != wamp.CloseSystemShutdown {
		t.Fatalf("GOODBYE after the drain: %v", gb)
	}
}

// TestAccessLogHasNoSecrets: a signed bridge request is logged with its
// path and status, never its query string (the signature) or the secret.
func TestAccessLogHasNoSecrets(t *testing.T) {
	t.Parallel()
	var buf routertest.SyncBuffer
	cfg := routertest.Config()
	withBridge(false)(cfg)
	cfg.Log.AccessLogUpgrades = true
	srv, err := router.New(cfg, router.Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	must(t, err)
	must(t, srv.Start(context.Background()))
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	s := &routertest.Server{Server: srv, Config: cfg}
	b := newBridgeClient(t, s)
	u := b.signedURL("/publish", []byte(`{"topic":"app.news"}`), nil)
	b.do(http.MethodPost, u, jsonCT, []byte(`{"topic":"app.news"}`)).expect(t, http.StatusOK, "")
	s.Dial(t, 0, "json", client.Config{})
	// The upgrade's line is written when its handler returns, just after
	// the session is welcomed.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), "websocket upgrade") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	logs := buf.String()
	if !strings.Contains(logs, `msg="http request" endpoint=publish method=POST path=/publish status=200`) {
		t.Fatalf("no access log line for the request:\n%s", logs)
	}
	if !strings.Contains(logs, `msg="websocket upgrade" path=/ws`) {
		t.Fatalf("no upgrade log line:\n%s", logs)
	}
	parsed, _ := url.Parse(u)
	for _, secret := range []string{bridgeSecret, parsed.Query().Get("signature"), parsed.RawQuery} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the log contains %q:\n%s", secret, logs)
		}
	}
}
