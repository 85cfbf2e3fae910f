package router

import (
	"errors"
	"time"

	nexusauth "github.com/gammazero/nexus/v3/router/auth"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-wamp/switchboard/auth"
	"github.com/switchboard-wamp/switchboard/broker"
	"github.com/switchboard-wamp/switchboard/dealer"
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
	// callDuration and callsEnded, resolved per realm and outcome.
	callDuration map[string]prometheus.Observer
	callsEnded   map[string]map[string]prometheus.Counter
}

var (
	_ broker.Observer    = (*observer)(nil)
	_ transport.Observer = (*observer)(nil)
	_ dealer.Observer    = (*observer)(nil)
)

// callOutcomes are the dealer's outcomes, for the per-realm counters.
var callOutcomes = []string{dealer.OutcomeResult, dealer.OutcomeError, dealer.OutcomeCanceled, dealer.OutcomeTimeout,
	dealer.OutcomeCalleeLost, dealer.OutcomeCallerLost}

func newObserver(m *metrics.Metrics, realmNames []string) *observer {
	o := &observer{
		m: m, received: metrics.Counters(m.MessagesReceived), sent: metrics.Counters(m.MessagesSent),
		published: map[string]prometheus.Counter{}, delivered: map[string]prometheus.Counter{},
		events:       m.MessagesSent.WithLabelValues(wamp.EVENT.String()),
		callDuration: map[string]prometheus.Observer{}, callsEnded: map[string]map[string]prometheus.Counter{},
	}
	for _, r := range realmNames {
		o.callDuration[r] = m.CallDuration.WithLabelValues(r)
		o.callsEnded[r] = map[string]prometheus.Counter{}
		for _, outcome := range callOutcomes {
			o.callsEnded[r][outcome] = m.CallsEnded.WithLabelValues(r, outcome)
		}
		m.Registrations.WithLabelValues(r)
		o.published[r] = m.EventsPublished.WithLabelValues(r)
		o.delivered[r] = m.EventsDelivered.WithLabelValues(r)
		// Shown at 0 from the start, so that dashboards and alerts see them.
		m.RetainedTopics.WithLabelValues(r)
		m.RetainedBytes.WithLabelValues(r)
		m.HistoryTopics.WithLabelValues(r)
		m.HistoryBytes.WithLabelValues(r)
		m.HistoryEvicted.WithLabelValues(r)
		for _, limit := range []string{broker.LimitRetainedTopics, broker.LimitRetainedBytes,
			broker.LimitSubscriptionsPerSession, dealer.LimitRegistrationsPerSession, dealer.LimitCallsPerSession} {
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

func (o *observer) CallEnded(realm, outcome string, d time.Duration) {
	o.callDuration[realm].Observe(d.Seconds())
	o.callsEnded[realm][outcome].Inc()
}

func (o *observer) CallRefused(realm string, uri wamp.URI) {
	o.m.CallsRefused.WithLabelValues(realm, string(uri)).Inc()
}

func (o *observer) Registrations(realm string, n int) {
	o.m.Registrations.WithLabelValues(realm).Set(float64(n))
}

func (o *observer) History(realm string, topics, bytes, evicted int) {
	o.m.HistoryTopics.WithLabelValues(realm).Set(float64(topics))
	o.m.HistoryBytes.WithLabelValues(realm).Set(float64(bytes))
	if evicted > 0 {
		o.m.HistoryEvicted.WithLabelValues(realm).Add(float64(evicted))
	}
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

// forwardObserver counts forwarded events.
type forwardObserver struct{ m *metrics.Metrics }

func (f forwardObserver) Forwarded(result string) { f.m.ForwardEvents.WithLabelValues(result).Inc() }
func (f forwardObserver) Retried()                { f.m.ForwardRetries.Inc() }
