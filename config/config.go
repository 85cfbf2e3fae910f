package config

import (
	"time"
)

// Config is the whole switchboard configuration, as read from YAML.
type Config struct {
	// Log configures the process logger.
	Log Log `mapstructure:"log"`
	// Listeners are the sockets the router serves. At least one is required.
	Listeners []Listener `mapstructure:"listeners"`
	// Realms are the WAMP realms clients may join. At least one is required.
	Realms []Realm `mapstructure:"realms"`
	// ShutdownTimeout bounds a graceful shutdown: sessions get GOODBYE and
	// connections still open after it are closed. Default "10s".
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout" default:"10s"`
	// ShutdownDrainDelay is how long /readyz answers 503 before sessions get
	// GOODBYE, so that load balancers stop sending new clients. Default "0s".
	ShutdownDrainDelay time.Duration `mapstructure:"shutdown_drain_delay" default:"0s"`
	// ShutdownMode is how sessions end on shutdown: "restart" closes each
	// client's connection without a GOODBYE (WebSocket close 1012), so that
	// browsers reconnect by themselves (autobahn.js and wampy.js stop
	// retrying after a GOODBYE); "goodbye" sends GOODBYE
	// wamp.close.system_shutdown, for clients that must not come back.
	// Default "restart".
	ShutdownMode string `mapstructure:"shutdown_mode" default:"restart"`
	// ShutdownCloseSpread spreads the "restart" closes over this long, at
	// random moments, so that thousands of tabs do not reconnect in the
	// same millisecond; it is cut to half of shutdown_timeout. "0s" closes
	// all at once. Default "2s".
	ShutdownCloseSpread time.Duration `mapstructure:"shutdown_close_spread" default:"2s"`
	// Metrics configures the Prometheus endpoint.
	Metrics Metrics `mapstructure:"metrics"`
	// Limits bound what clients can make the router hold: connections,
	// slow messages, nesting.
	Limits Limits `mapstructure:"limits"`
	// AuthLimits bounds failed authentication attempts per client address,
	// across all realms and listeners.
	AuthLimits AuthLimits `mapstructure:"auth_limits"`
	// Cluster joins this node to other switchboard nodes over NATS
	// (docs/cluster.md). Without cluster.nats.url the router is a single
	// node and needs no NATS.
	Cluster Cluster `mapstructure:"cluster"`
}

// Limits bound the resources that clients, authenticated or not, can make
// the router hold. Each refusal is counted (switchboard_connections_refused_total,
// switchboard_messages_refused_total) and logged.
type Limits struct {
	// MaxConnections bounds the open connections of all listeners together
	// (WebSocket, RawSocket and HTTP bridge); a connection over it is
	// answered with HTTP 503 (RawSocket: handshake error 4) and closed.
	// 0 means no bound. Default 10000.
	MaxConnections int `mapstructure:"max_connections" default:"10000"`
	// MaxConnectionsPerIP bounds the open connections from one client IP
	// address. Behind a reverse proxy every client has the proxy's address:
	// set 0 (no bound) there and limit at the proxy. Default 1000.
	MaxConnectionsPerIP int `mapstructure:"max_connections_per_ip" default:"1000"`
	// MaxHandshakes bounds the sessions being opened at once, over all
	// listeners: from a WebSocket upgrade request (or a RawSocket
	// connection) until the router welcomes or refuses the session. One
	// more is answered at once with HTTP 503 and Retry-After (RawSocket:
	// handshake error 4), so that a reconnect storm is told to come back
	// instead of queueing behind authentication. 0 means no bound.
	// Default 10000: a reconnect storm of every tab of a full router (as
	// many as max_connections) is let in at once, which is fastest
	// (docs/performance.md); lower it to shield a slow authenticator.
	MaxHandshakes int `mapstructure:"max_handshakes" default:"10000"`
	// MessageReadTimeout bounds the time between the first byte of a
	// client's message (or frame, for control frames) and its last; a client
	// slower than that is disconnected, so that no connection holds a
	// half-received message for long. Default "30s".
	MessageReadTimeout time.Duration `mapstructure:"message_read_timeout" default:"30s"`
	// MaxNestingDepth bounds how deeply arrays, maps (and CBOR tags) may nest
	// in a WAMP message, counting the message itself as 1; a deeper message
	// is answered with ABORT/GOODBYE wamp.error.protocol_violation before it
	// is decoded. Default 64.
	MaxNestingDepth int `mapstructure:"max_nesting_depth" default:"64"`
	// MaxMessageItems bounds how many values (array elements, map keys and
	// values, scalars) a WAMP message may hold: decoding costs about 100
	// bytes per value, however small it is on the wire. A request over it
	// is answered with ERROR wamp.error.payload_size_exceeded. Default
	// 100000.
	MaxMessageItems int `mapstructure:"max_message_items" default:"100000"`
	// MaxOpeningMessageSize bounds a client's messages before its session
	// is welcomed (HELLO, AUTHENTICATE), whatever max_message_size allows.
	// Default 65536.
	MaxOpeningMessageSize int `mapstructure:"max_opening_message_size" default:"65536"`
	// MaxURILength bounds topic URIs and subscription patterns in bytes
	// (the broker's pattern index holds a node per component); a longer one
	// is answered with ERROR wamp.error.invalid_uri. Default 512.
	MaxURILength int `mapstructure:"max_uri_length" default:"512"`
}

// MaxNestingDepthCeiling is the largest limits.max_nesting_depth: a node
// of a cluster accepts what other nodes send nested this deep (and their
// own wrapping), whatever its own limit.
const MaxNestingDepthCeiling = 1000

// AuthLimits bounds password guessing: once an address (an IPv4 address, or
// the /64 of an IPv6 address) has failed authentication
// MaxFailuresPerMinute times within a minute, its further attempts are
// refused without checking their credentials, each after FailureDelay.
// Successful joins do not count; Unix-socket clients are not limited.
type AuthLimits struct {
	// MaxFailuresPerMinute is how many failed attempts an address may make
	// in a sliding minute; 0 disables the limit. Default 10.
	MaxFailuresPerMinute int `mapstructure:"max_failures_per_minute" default:"10"`
	// FailureDelay is how long a refused attempt of a limited address waits
	// before its ABORT (0s to 10s). Default "1s".
	FailureDelay time.Duration `mapstructure:"failure_delay" default:"1s"`
}

// Metrics configures the Prometheus endpoint. /healthz and /readyz are
// served on every HTTP listener regardless.
type Metrics struct {
	// Enabled serves the metrics. Default true.
	Enabled bool `mapstructure:"enabled" default:"true"`
	// Path of the endpoint. Default "/metrics".
	Path string `mapstructure:"path" default:"/metrics"`
	// Listener is the address (as in listeners[].address) of the HTTP
	// listener that serves the metrics. Default: the first websocket or
	// bridge listener.
	Listener string `mapstructure:"listener" default:"-"`
	// AllowRemote serves the metrics to non-loopback clients too. Default
	// false.
	AllowRemote bool `mapstructure:"allow_remote" default:"false"`
}

// Log configures logging.
type Log struct {
	// Level is one of debug, info, warn, error. Default "info".
	Level string `mapstructure:"level" default:"info"`
	// Format is text or json. Default "text".
	Format string `mapstructure:"format" default:"text"`
	// AccessLog logs every HTTP bridge and webhook request (remote address,
	// path, status, duration; never query strings, which carry signatures).
	// Default true.
	AccessLog bool `mapstructure:"access_log" default:"true"`
	// AccessLogUpgrades logs WebSocket upgrade requests too. Default false.
	AccessLogUpgrades bool `mapstructure:"access_log_upgrades" default:"false"`
}

// MaxAuthFailureDelay bounds auth_limits.failure_delay: a refused attempt
// holds its connection that long.
const MaxAuthFailureDelay = 10 * time.Second

// Shutdown modes (shutdown_mode).
const (
	ShutdownRestart = "restart"
	ShutdownGoodbye = "goodbye"
)
