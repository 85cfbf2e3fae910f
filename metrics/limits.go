package metrics

import "github.com/prometheus/client_golang/prometheus"

// Limits are the collectors of the router's connection and message limits.
type Limits struct {
	// ConnectionsRefused counts connections closed at accept, by reason
	// (max_connections, max_connections_per_ip).
	ConnectionsRefused *prometheus.CounterVec
	// MessagesRefused counts client messages that ended their session, by
	// reason (nesting, read_timeout, second_hello, too_big, items).
	MessagesRefused *prometheus.CounterVec
}

// NewLimits registers the limit collectors on reg; open reports the open
// connections, handshakes the sessions being opened.
func NewLimits(reg prometheus.Registerer, open, handshakes func() int) (*Limits, error) {
	l := &Limits{
		ConnectionsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_connections_refused_total",
			Help: "Connections refused because a connection limit was reached, by limit (max_connections, max_connections_per_ip, listener_max_connections, max_handshakes).",
		}, []string{"reason"}),
		MessagesRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_messages_refused_total",
			Help: "Client messages refused by a limit, by reason.",
		}, []string{"reason"}),
	}
	for _, r := range []string{"max_connections", "max_connections_per_ip", "listener_max_connections", "max_handshakes"} {
		l.ConnectionsRefused.WithLabelValues(r)
	}
	for _, r := range []string{"nesting", "read_timeout", "second_hello", "too_big", "items"} {
		l.MessagesRefused.WithLabelValues(r)
	}
	gauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "switchboard_connections",
		Help: "Open client connections of all listeners (WebSocket, RawSocket, HTTP bridge).",
	}, func() float64 { return float64(open()) })
	opening := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "switchboard_handshakes_in_progress",
		Help: "Sessions being opened: WebSocket upgrades and RawSocket connections not yet welcomed or refused (limits.max_handshakes).",
	}, func() float64 { return float64(handshakes()) })
	for _, c := range []prometheus.Collector{l.ConnectionsRefused, l.MessagesRefused, gauge, opening} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return l, nil
}
