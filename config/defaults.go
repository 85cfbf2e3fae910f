package config

import (
	"fmt"
	"slices"
	"time"
)

// Defaults for keys whose zero value is meaningful or invalid.
const (
	DefaultShutdownTimeout = 10 * time.Second
	DefaultWebSocketPath   = "/ws"
	DefaultMaxMessageSize  = 4 << 20
	DefaultPingInterval    = 30 * time.Second
	DefaultMaxQueueBytes   = 1 << 20

	DefaultMaxConnections      = 10000
	DefaultMaxConnectionsPerIP = 1000
	DefaultMessageReadTimeout  = 30 * time.Second
	DefaultMaxNestingDepth     = 64

	DefaultPublishPath         = "/publish"
	DefaultCallPath            = "/call"
	DefaultBridgeMaxBodySize   = 64 << 10
	DefaultTimestampDeltaLimit = 300 * time.Second
	DefaultCallTimeout         = 30 * time.Second
	DefaultBridgeReadTimeout   = 10 * time.Second
	DefaultForwardQueueSize    = 1000
	DefaultForwardMaxRetries   = 10
	DefaultForwardTimeout      = 5 * time.Second
	DefaultCalleeTimeout       = 10 * time.Second

	DefaultMaxRetainedTopics          = 10000
	DefaultMaxRetainedBytes           = 16 << 20
	DefaultMaxSubscriptionsPerSession = 1000
	DefaultMaxRegistrationsPerSession = 1000

	DefaultMaxAuthFailuresPerMinute = 10
	DefaultAuthFailureDelay         = time.Second
)

// DefaultAllowedOrigins admits browser pages served from this machine only.
var DefaultAllowedOrigins = []string{"http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"}

// applyDefaults fills keys the file did not set; set holds the key paths
// that were decoded.
func (c *Config) applyDefaults(set map[string]bool) {
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	orDefault(set, "shutdown_timeout", &c.ShutdownTimeout, DefaultShutdownTimeout)
	orDefault(set, "metrics.enabled", &c.Metrics.Enabled, true)
	if c.Metrics.Path == "" {
		c.Metrics.Path = "/metrics"
	}
	orDefault(set, "log.access_log", &c.Log.AccessLog, true)
	orDefault(set, "limits.max_connections", &c.Limits.MaxConnections, DefaultMaxConnections)
	orDefault(set, "limits.max_connections_per_ip", &c.Limits.MaxConnectionsPerIP, DefaultMaxConnectionsPerIP)
	orDefault(set, "limits.message_read_timeout", &c.Limits.MessageReadTimeout, DefaultMessageReadTimeout)
	orDefault(set, "limits.max_nesting_depth", &c.Limits.MaxNestingDepth, DefaultMaxNestingDepth)
	orDefault(set, "auth_limits.max_failures_per_minute", &c.AuthLimits.MaxFailuresPerMinute, DefaultMaxAuthFailuresPerMinute)
	orDefault(set, "auth_limits.failure_delay", &c.AuthLimits.FailureDelay, DefaultAuthFailureDelay)
	for i := range c.Listeners {
		l := &c.Listeners[i]
		key := fmt.Sprintf("listeners[%d]", i)
		if ws := l.WebSocket; ws != nil {
			if ws.Path == "" {
				ws.Path = DefaultWebSocketPath
			}
			orDefault(set, key+".websocket.serializers", &ws.Serializers, slices.Clone(Serializers))
			orDefault(set, key+".websocket.allowed_origins", &ws.AllowedOrigins, slices.Clone(DefaultAllowedOrigins))
			orDefault(set, key+".websocket.max_message_size", &ws.MaxMessageSize, DefaultMaxMessageSize)
			orDefault(set, key+".websocket.ping_interval", &ws.PingInterval, DefaultPingInterval)
			orDefault(set, key+".websocket.max_queue_bytes", &ws.MaxQueueBytes, DefaultMaxQueueBytes)
		}
		if b := l.Bridge; b != nil {
			if b.PublishPath == "" {
				b.PublishPath = DefaultPublishPath
			}
			if b.CallPath == "" {
				b.CallPath = DefaultCallPath
			}
			orDefault(set, key+".bridge.max_body_size", &b.MaxBodySize, DefaultBridgeMaxBodySize)
			orDefault(set, key+".bridge.timestamp_delta_limit", &b.TimestampDeltaLimit, DefaultTimestampDeltaLimit)
			orDefault(set, key+".bridge.call_timeout", &b.CallTimeout, DefaultCallTimeout)
			orDefault(set, key+".bridge.read_timeout", &b.ReadTimeout, DefaultBridgeReadTimeout)
			for j := range b.Keys {
				if b.Keys[j].AuthID == "" {
					b.Keys[j].AuthID = b.Keys[j].Key
				}
			}
			for j := range b.Forwards {
				f := &b.Forwards[j]
				fkey := fmt.Sprintf("%s.bridge.forwards[%d]", key, j)
				if f.Match == "" {
					f.Match = MatchExact
				}
				orDefault(set, fkey+".queue_size", &f.QueueSize, DefaultForwardQueueSize)
				orDefault(set, fkey+".max_retries", &f.MaxRetries, DefaultForwardMaxRetries)
				orDefault(set, fkey+".timeout", &f.Timeout, DefaultForwardTimeout)
			}
			for j := range b.Callees {
				if !set[fmt.Sprintf("%s.bridge.callees[%d].timeout", key, j)] {
					b.Callees[j].Timeout = DefaultCalleeTimeout
				}
			}
			if b.Role == "" && len(b.Keys) == 0 {
				for _, r := range c.Realms {
					if r.Name == b.Realm && r.Anonymous != nil {
						b.Role = r.Anonymous.Role
					}
				}
			}
		}
		if rs := l.RawSocket; rs != nil {
			orDefault(set, key+".rawsocket.serializers", &rs.Serializers, slices.Clone(Serializers))
			orDefault(set, key+".rawsocket.max_message_size", &rs.MaxMessageSize, DefaultMaxMessageSize)
			orDefault(set, key+".rawsocket.max_queue_bytes", &rs.MaxQueueBytes, DefaultMaxQueueBytes)
			orDefault(set, key+".rawsocket.ping_interval", &rs.PingInterval, DefaultPingInterval)
		}
	}
	for i := range c.Realms {
		a := &c.Realms[i].Auth
		if j := a.JWT; j != nil {
			if !set[fmt.Sprintf("realms[%d].auth.jwt.algorithms", i)] {
				j.Algorithms = []string{"HS256"}
			}
			if j.AuthIDClaim == "" {
				j.AuthIDClaim = "sub"
			}
			if j.RoleClaim == "" {
				j.RoleClaim = "role"
			}
			if !set[fmt.Sprintf("realms[%d].auth.jwt.leeway", i)] {
				j.Leeway = 30 * time.Second
			}
		}
		if d := a.Dynamic; d != nil {
			if !set[fmt.Sprintf("realms[%d].auth.dynamic.methods", i)] {
				d.Methods = []string{"ticket"}
			}
			if !set[fmt.Sprintf("realms[%d].auth.dynamic.timeout", i)] {
				d.Timeout = 5 * time.Second
			}
		}
		for j := range c.Realms[i].Roles {
			if !set[fmt.Sprintf("realms[%d].roles[%d].authorizer_cache", i, j)] {
				c.Realms[i].Roles[j].AuthorizerCache = 60 * time.Second
			}
		}
		if w := a.Webhook; w != nil {
			if !set[fmt.Sprintf("realms[%d].auth.webhook.methods", i)] {
				w.Methods = []string{"ticket"}
			}
			if !set[fmt.Sprintf("realms[%d].auth.webhook.forward_headers", i)] {
				w.ForwardHeaders = []string{"Cookie", "Authorization"}
			}
			if !set[fmt.Sprintf("realms[%d].auth.webhook.timeout", i)] {
				w.Timeout = 3 * time.Second
			}
		}
		// auth.anonymous and the realm's anonymous are one setting.
		if a.Anonymous != nil && c.Realms[i].Anonymous == nil {
			c.Realms[i].Anonymous = a.Anonymous
		}
		for j := range c.Realms[i].Roles {
			for k := range c.Realms[i].Roles[j].Permissions {
				if p := &c.Realms[i].Roles[j].Permissions[k]; p.Match == "" {
					p.Match = MatchExact
				}
			}
		}
		for j := range c.Realms[i].Options.EventHistory {
			if h := &c.Realms[i].Options.EventHistory[j]; h.Match == "" {
				h.Match = MatchExact
			}
		}
		o := &c.Realms[i].Options
		okey := fmt.Sprintf("realms[%d].options.", i)
		orDefault(set, okey+"max_retained_topics", &o.MaxRetainedTopics, DefaultMaxRetainedTopics)
		orDefault(set, okey+"max_retained_bytes", &o.MaxRetainedBytes, DefaultMaxRetainedBytes)
		orDefault(set, okey+"max_subscriptions_per_session", &o.MaxSubscriptionsPerSession, DefaultMaxSubscriptionsPerSession)
		orDefault(set, okey+"max_registrations_per_session", &o.MaxRegistrationsPerSession, DefaultMaxRegistrationsPerSession)
	}
}

// orDefault sets *field to value unless the file set key.
func orDefault[T any](set map[string]bool, key string, field *T, value T) {
	if !set[key] {
		*field = value
	}
}
