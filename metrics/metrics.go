package metrics

import (
	"runtime"

	"github.com/gammazero/nexus/v3/wamp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are one router's collectors.
type Metrics struct {
	Sessions         *prometheus.GaugeVec
	SessionJoins     *prometheus.CounterVec
	SessionLeaves    *prometheus.CounterVec
	AuthFailures     *prometheus.CounterVec
	AuthThrottled    *prometheus.CounterVec
	MessagesReceived *prometheus.CounterVec
	MessagesSent     *prometheus.CounterVec
	EventsPublished  *prometheus.CounterVec
	EventsDelivered  *prometheus.CounterVec
	SlowConsumers    *prometheus.CounterVec
	QueueBytes       prometheus.Histogram
	CallDuration     *prometheus.HistogramVec
	CallsEnded       *prometheus.CounterVec
	CallsRefused     *prometheus.CounterVec
	Registrations    *prometheus.GaugeVec
	HistoryTopics    *prometheus.GaugeVec
	HistoryBytes     *prometheus.GaugeVec
	HistoryEvicted   *prometheus.CounterVec
	// Cluster (zero on a single node).
	ClusterPublications *prometheus.CounterVec
	ClusterLost         *prometheus.CounterVec
	ClusterConnected    prometheus.Gauge
	ClusterSubjects     prometheus.Gauge
	// ClusterMirroredRegistrations counts the other nodes' registrations
	// this node routes calls to.
	ClusterMirroredRegistrations prometheus.Gauge
	// ClusterNodes counts the other nodes this node hears from.
	ClusterNodes   prometheus.Gauge
	BridgeRequests *prometheus.CounterVec
	BridgeDuration *prometheus.HistogramVec
	ForwardEvents  *prometheus.CounterVec
	ForwardRetries prometheus.Counter
	BridgeRefused  *prometheus.CounterVec
	CalleeFailures *prometheus.CounterVec
	HostRefused    prometheus.Counter
	LimitExceeded  *prometheus.CounterVec
	RetainedTopics *prometheus.GaugeVec
	RetainedBytes  *prometheus.GaugeVec
	BuildInfo      *prometheus.GaugeVec
}

// New creates the collectors and registers them, with the Go runtime and
// process collectors, on reg.
func New(reg prometheus.Registerer, version string) (*Metrics, error) {
	m := &Metrics{
		Sessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "switchboard_sessions", Help: "WAMP sessions currently joined.",
		}, []string{"realm", "transport"}),
		SessionJoins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_session_joins_total", Help: "WAMP sessions welcomed.",
		}, []string{"realm", "transport"}),
		SessionLeaves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_session_leaves_total", Help: "WAMP sessions ended.",
		}, []string{"realm", "transport"}),
		AuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_auth_failures_total", Help: "Joins refused by an authenticator, by method and reason (invalid_credentials, service_error, protocol).",
		}, []string{"realm", "method", "reason"}),
		AuthThrottled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_auth_throttled_total", Help: "Join attempts refused unchecked because their address failed authentication auth_limits.max_failures_per_minute times within a minute.",
		}, []string{"realm", "method"}),
		MessagesReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_messages_received_total", Help: "WAMP messages received from clients, by type.",
		}, []string{"type"}),
		MessagesSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_messages_sent_total", Help: "WAMP messages queued for clients, by type.",
		}, []string{"type"}),
		EventsPublished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_events_published_total", Help: "Publications accepted by the broker (WAMP, HTTP bridge and the router's own).",
		}, []string{"realm"}),
		EventsDelivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_events_delivered_total", Help: "EVENTs queued for subscribers.",
		}, []string{"realm"}),
		SlowConsumers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_slow_consumer_disconnects_total", Help: "Sessions disconnected because their outbound queue exceeded its bound.",
		}, []string{"transport"}),
		QueueBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "switchboard_outbound_queue_bytes", Help: "Bytes waiting in a session's outbound queue when a write batch starts.",
			Buckets: prometheus.ExponentialBuckets(256, 4, 8), // 256 B .. 4 MiB
		}),
		CallDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchboard_call_duration_seconds", Help: "Time from a client's CALL to its final RESULT or ERROR.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9), // 0.5 ms .. 33 s
		}, []string{"realm"}),
		CallsEnded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_dealer_calls_total",
			Help: "Calls routed to a callee, by how they ended (result, error, canceled, timeout, callee_lost, caller_lost).",
		}, []string{"realm", "outcome"}),
		CallsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_dealer_calls_refused_total",
			Help: "CALLs the dealer answered itself with an ERROR, by error URI (no_such_procedure, not_authorized, limit_exceeded, ...).",
		}, []string{"realm", "error"}),
		Registrations: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "switchboard_dealer_registrations", Help: "Registrations (procedures and patterns with at least one callee).",
		}, []string{"realm"}),
		BridgeRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_bridge_requests_total", Help: "HTTP bridge requests, by endpoint (publish, call, webhook) and status code.",
		}, []string{"endpoint", "status"}),
		BridgeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchboard_bridge_request_duration_seconds", Help: "HTTP bridge request duration.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9),
		}, []string{"endpoint"}),
		ForwardEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_bridge_forward_events_total", Help: "Events forwarded to apps, by result (delivered, failed, dropped).",
		}, []string{"result"}),
		ForwardRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_bridge_forward_retries_total", Help: "Retried deliveries of forwarded events.",
		}),
		BridgeRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_bridge_refused_total", Help: "HTTP bridge requests refused before reaching the router, by reason (origin, content_type, body_too_large, read_timeout, replay).",
		}, []string{"reason"}),
		CalleeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_bridge_http_callee_failures_total", Help: "HTTP callee invocations that failed, by reason (unreachable, timeout, redirect, status, invalid_answer).",
		}, []string{"reason"}),
		HostRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_http_host_refused_total", Help: "HTTP requests to loopback listeners refused because their Host header named no loopback host (DNS rebinding).",
		}),
		LimitExceeded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_realm_limit_exceeded_total",
			Help: "Requests refused over a realm limit (retained_topics, retained_bytes, subscriptions_per_session, registrations_per_session, pending_calls_per_session).",
		}, []string{"realm", "limit"}),
		RetainedTopics: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "switchboard_broker_retained_topics", Help: "Topics with a retained event.",
		}, []string{"realm"}),
		RetainedBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "switchboard_broker_retained_bytes", Help: "Estimated memory of the retained events.",
		}, []string{"realm"}),
		HistoryTopics: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "switchboard_broker_history_topics", Help: "Topics with events kept for wamp.subscription.get_events (event_history).",
		}, []string{"realm"}),
		HistoryBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "switchboard_broker_history_bytes", Help: "Estimated memory of the events kept in history.",
		}, []string{"realm"}),
		HistoryEvicted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_broker_history_evicted_total", Help: "History events dropped over max_history_topics or max_history_bytes (not those replaced by a topic's newer events).",
		}, []string{"realm"}),
		ClusterPublications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_cluster_publications_total", Help: "Publications sent to (out) and received from (in) the other nodes through NATS.",
		}, []string{"direction"}),
		ClusterLost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_cluster_lost_total",
			Help: "Publications and RPC messages that did not cross between nodes, by reason (not_connected, too_large, too_long, publish_failed, unencodable, slow_consumer, undecodable, forged, undeliverable, registrations_not_sent, call_not_sent, answer_not_sent, call_lost).",
		}, []string{"reason"}),
		ClusterConnected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchboard_cluster_connected", Help: "1 while the node is connected to NATS (0 on a single node, or while disconnected).",
		}),
		ClusterSubjects: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchboard_cluster_subjects", Help: "NATS subscriptions the node holds for its sessions' subscriptions.",
		}),
		ClusterMirroredRegistrations: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchboard_cluster_mirrored_registrations", Help: "Registrations of the other nodes this node routes calls to (the shared registry's size as this node sees it).",
		}),
		ClusterNodes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchboard_cluster_nodes", Help: "Other nodes this node hears from (their heartbeats within the last 3 s).",
		}),
		BuildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "switchboard_build_info", Help: "Always 1; labels give the version and Go version.",
		}, []string{"version", "go_version"}),
	}
	m.BuildInfo.WithLabelValues(version, runtime.Version()).Set(1)
	for _, c := range []prometheus.Collector{
		m.Sessions, m.SessionJoins, m.SessionLeaves, m.AuthFailures, m.AuthThrottled, m.MessagesReceived, m.MessagesSent,
		m.EventsPublished, m.EventsDelivered, m.SlowConsumers, m.QueueBytes, m.CallDuration,
		m.CallsEnded, m.CallsRefused, m.Registrations,
		m.BridgeRequests, m.BridgeDuration, m.ForwardEvents, m.ForwardRetries,
		m.BridgeRefused, m.CalleeFailures, m.HostRefused,
		m.LimitExceeded, m.RetainedTopics, m.RetainedBytes, m.HistoryTopics, m.HistoryBytes, m.HistoryEvicted,
		m.ClusterPublications, m.ClusterLost, m.ClusterConnected, m.ClusterSubjects, m.ClusterMirroredRegistrations, m.ClusterNodes, m.BuildInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// RegisterParkedConnections registers the gauge of idle sessions'
// connections that wait for input without a reader goroutine; parked counts
// them.
func RegisterParkedConnections(reg prometheus.Registerer, parked func() int) error {
	return reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "switchboard_parked_connections",
		Help: "Connections of idle sessions waiting for input without a reader goroutine (Linux).",
	}, func() float64 { return float64(parked()) }))
}

// MessageCounters resolves a counter per WAMP message type once, so that
// counting on the message path is one atomic add.
type MessageCounters struct {
	byType [int(wamp.YIELD) + 1]prometheus.Counter
}

// Counters returns the per-type counters of vec.
func Counters(vec *prometheus.CounterVec) *MessageCounters {
	mc := &MessageCounters{}
	for t := range mc.byType {
		if name := wamp.MessageType(t).String(); name != "" {
			mc.byType[t] = vec.WithLabelValues(name)
		}
	}
	return mc
}

// Add counts n messages of type t.
func (mc *MessageCounters) Add(t wamp.MessageType, n int) {
	if mc == nil || int(t) >= len(mc.byType) || mc.byType[t] == nil {
		return
	}
	mc.byType[t].Add(float64(n))
}
