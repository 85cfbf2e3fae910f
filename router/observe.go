package router

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	nexusauth "github.com/gammazero/nexus/v3/router/auth"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-wamp/switchboard/auth"
	"github.com/switchboard-wamp/switchboard/broker"
	"github.com/switchboard-wamp/switchboard/metrics"
	"github.com/switchboard-wamp/switchboard/transport"
)

// observer feeds the metrics from the broker and the transports. Per-realm
// counters are resolved once, so the publish path does no label lookups.
type observer struct {
	m         *metrics.Metrics
	received  *metrics.MessageCounters
	sent      *metrics.MessageCounters
	published map[string]prometheus.Counter
	delivered map[string]prometheus.Counter
	events    prometheus.Counter // messages_sent{type=EVENT}
}

var (
	_ broker.Observer    = (*observer)(nil)
	_ transport.Observer = (*observer)(nil)
)

func newObserver(m *metrics.Metrics, realmNames []string) *observer {
	o := &observer{
		m: m, received: metrics.Counters(m.MessagesReceived), sent: metrics.Counters(m.MessagesSent),
		published: map[string]prometheus.Counter{}, delivered: map[string]prometheus.Counter{},
		events: m.MessagesSent.WithLabelValues(wamp.EVENT.String()),
	}
	for _, r := range realmNames {
		o.published[r] = m.EventsPublished.WithLabelValues(r)
		o.delivered[r] = m.EventsDelivered.WithLabelValues(r)
		// Shown at 0 from the start, so that dashboards and alerts see them.
		m.RetainedTopics.WithLabelValues(r)
		m.RetainedBytes.WithLabelValues(r)
		for _, limit := range []string{broker.LimitRetainedTopics, broker.LimitRetainedBytes,
			broker.LimitSubscriptionsPerSession, broker.LimitRegistrationsPerSession} {
			m.LimitExceeded.WithLabelValues(r, limit)
		}
	}
	return o
}

func (o *observer) Published(realm string) { o.published[realm].Inc() }

func (o *observer) Delivered(realm string, n int) {
	o.delivered[realm].Add(float64(n))
	o.events.Add(float64(n))
}

func (o *observer) LimitExceeded(realm, limit string) {
	o.m.LimitExceeded.WithLabelValues(realm, limit).Inc()
}

func (o *observer) Retained(realm string, topics, bytes int) {
	o.m.RetainedTopics.WithLabelValues(realm).Set(float64(topics))
	o.m.RetainedBytes.WithLabelValues(realm).Set(float64(bytes))
}

func (o *observer) Sent(t wamp.MessageType)     { o.sent.Add(t, 1) }
func (o *observer) Received(t wamp.MessageType) { o.received.Add(t, 1) }
func (o *observer) QueuedBytes(n int)           { o.m.QueueBytes.Observe(float64(n)) }

// countingAuthenticator counts an authenticator's refusals.
type countingAuthenticator struct {
	nexusauth.Authenticator
	failures *prometheus.CounterVec
	realm    string
}

func (c countingAuthenticator) Authenticate(sid wamp.ID, details wamp.Dict, client wamp.Peer) (*wamp.Welcome, error) {
	w, err := c.Authenticator.Authenticate(sid, details, client)
	if err != nil {
		reason := "protocol"
		switch {
		case errors.Is(err, auth.ErrAuthFailed):
			reason = "invalid_credentials"
		case errors.Is(err, auth.ErrServiceFailed):
			reason = "service_error"
		}
		c.failures.WithLabelValues(c.realm, c.AuthMethod(), reason).Inc()
	}
	return w, err
}

// statusRecorder captures the status code of a response.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController reach the connection (the bridge sets
// its body read deadline through it).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// observeHTTP counts, times and (if accessLog) logs the requests of an
// HTTP bridge endpoint.
func (s *Server) observeHTTP(endpoint string, accessLog bool, h http.Handler) http.Handler {
	duration := s.metrics.BridgeDuration.WithLabelValues(endpoint)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		elapsed := time.Since(start)
		duration.Observe(elapsed.Seconds())
		s.metrics.BridgeRequests.WithLabelValues(endpoint, strconv.Itoa(rec.status)).Inc()
		if accessLog {
			// The path only: query strings of signed requests carry signatures.
			s.log.Info("http request", "endpoint", endpoint, "method", r.Method, "path", r.URL.Path,
				"status", rec.status, "duration", elapsed.Round(time.Microsecond).String(), "remote_addr", r.RemoteAddr)
		}
	})
}

// logUpgrades logs WebSocket upgrade requests.
func (s *Server) logUpgrades(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h.ServeHTTP(w, r)
		s.log.Info("websocket upgrade", "path", r.URL.Path, "origin", r.Header.Get("Origin"),
			"duration", time.Since(start).Round(time.Microsecond).String(), "remote_addr", r.RemoteAddr)
	})
}

// healthz answers 200 while the process runs.
func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz answers 200 once every listener is bound and the realms are
// loaded, and 503 from the start of shutdown.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !s.ready.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// loopbackOnly refuses non-loopback clients with 403.
func loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			http.Error(w, "metrics are served to loopback clients only (metrics.allow_remote)", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// forwardObserver counts forwarded events.
type forwardObserver struct{ m *metrics.Metrics }

func (f forwardObserver) Forwarded(result string) { f.m.ForwardEvents.WithLabelValues(result).Inc() }
func (f forwardObserver) Retried()                { f.m.ForwardRetries.Inc() }
