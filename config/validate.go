package config

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
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
	DefaultMaxMessageItems     = 100_000
	DefaultMaxOpeningMessage   = 64 << 10

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
	// PathOff disables a bridge endpoint.
	PathOff = "off"
	// MinSecretLength is the shortest secret accepted: bridge secrets and
	// bearer tokens, static tickets, WAMP-CRA secrets, webhook secrets.
	MinSecretLength = 16

	DefaultMaxAuthFailuresPerMinute = 10
	DefaultAuthFailureDelay         = time.Second
	// MaxAuthFailureDelay bounds auth_limits.failure_delay: a refused attempt
	// holds its connection that long.
	MaxAuthFailureDelay = 10 * time.Second
)

// Serializers are the serializer names switchboard supports.
var Serializers = []string{"json", "msgpack", "cbor"}

// DefaultAllowedOrigins admits browser pages served from this machine only.
var DefaultAllowedOrigins = []string{"http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"}

// Match policies of permissions and event history.
const (
	MatchExact    = "exact"
	MatchPrefix   = "prefix"
	MatchWildcard = "wildcard"
)

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
	orDefault(set, "limits.max_message_items", &c.Limits.MaxMessageItems, DefaultMaxMessageItems)
	orDefault(set, "limits.max_opening_message_size", &c.Limits.MaxOpeningMessageSize, DefaultMaxOpeningMessage)
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

// problems collects problems with key paths.
type problems []Problem

func (ps *problems) add(key, format string, args ...any) {
	*ps = append(*ps, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
}

// Validate checks a configuration built in code (not read from a file) and
// returns every problem in one *Error, or nil.
func (c *Config) Validate() error {
	ps := c.validate(nil)
	if len(ps) == 0 {
		return nil
	}
	return &Error{File: "config", Problems: ps}
}

func (c *Config) validate(set map[string]bool) []Problem {
	var ps problems
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		ps.add("log.level", "want debug|info|warn|error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		ps.add("log.format", "want text|json, got %q", c.Log.Format)
	}
	if c.ShutdownTimeout <= 0 && (set == nil || set["shutdown_timeout"]) {
		ps.add("shutdown_timeout", "want a positive duration, got %q", c.ShutdownTimeout.String())
	}
	if len(c.Listeners) == 0 {
		ps.add("listeners", "want at least one listener")
	}
	if c.Limits.MaxConnections < 0 {
		ps.add("limits.max_connections", "want a number >= 0 (0: no bound), got %d", c.Limits.MaxConnections)
	}
	if c.Limits.MaxConnectionsPerIP < 0 {
		ps.add("limits.max_connections_per_ip", "want a number >= 0 (0: no bound), got %d", c.Limits.MaxConnectionsPerIP)
	}
	if c.Limits.MessageReadTimeout <= 0 && (set == nil || set["limits.message_read_timeout"]) {
		ps.add("limits.message_read_timeout", "want a positive duration, got %q", c.Limits.MessageReadTimeout.String())
	}
	if (c.Limits.MaxNestingDepth < 8 || c.Limits.MaxNestingDepth > 1000) && (set == nil || set["limits.max_nesting_depth"]) {
		ps.add("limits.max_nesting_depth", "want 8..1000, got %d", c.Limits.MaxNestingDepth)
	}
	if c.Limits.MaxMessageItems < 100 && (set == nil || set["limits.max_message_items"]) {
		ps.add("limits.max_message_items", "want at least 100, got %d", c.Limits.MaxMessageItems)
	}
	if c.Limits.MaxOpeningMessageSize < 1024 && (set == nil || set["limits.max_opening_message_size"]) {
		ps.add("limits.max_opening_message_size", "want at least 1024 bytes, got %d", c.Limits.MaxOpeningMessageSize)
	}
	if c.ShutdownDrainDelay < 0 {
		ps.add("shutdown_drain_delay", "want a duration >= 0, got %q", c.ShutdownDrainDelay.String())
	}
	if c.Metrics.Enabled {
		if !strings.HasPrefix(c.Metrics.Path, "/") {
			ps.add("metrics.path", "want a path starting with /, got %q", c.Metrics.Path)
		}
		if l := c.MetricsListener(); l < 0 && c.Metrics.Listener != "" {
			ps.add("metrics.listener", "no websocket or bridge listener has address %q", c.Metrics.Listener)
		}
	}
	if n := c.AuthLimits.MaxFailuresPerMinute; n < 0 {
		ps.add("auth_limits.max_failures_per_minute", "want 0 (no limit) or more, got %d", n)
	}
	if d := c.AuthLimits.FailureDelay; d < 0 || d > MaxAuthFailureDelay {
		ps.add("auth_limits.failure_delay", "want a duration from 0s to %s, got %q", MaxAuthFailureDelay, d.String())
	}
	addresses := map[string]int{}
	for i, l := range c.Listeners {
		key := fmt.Sprintf("listeners[%d]", i)
		c.validateListener(&ps, key, l, set)
		if l.Address != "" && !strings.HasSuffix(l.Address, ":0") {
			if first, dup := addresses[l.Address]; dup {
				ps.add(key+".address", "%q is also the address of listeners[%d]", l.Address, first)
			} else {
				addresses[l.Address] = i
			}
		}
	}
	if len(c.Realms) == 0 {
		ps.add("realms", "want at least one realm")
	}
	realmNames := map[string]int{}
	for i, r := range c.Realms {
		key := fmt.Sprintf("realms[%d]", i)
		validateRealm(&ps, key, r)
		if r.Name != "" {
			if first, dup := realmNames[r.Name]; dup {
				ps.add(key+".name", "duplicate realm %q (also realms[%d])", r.Name, first)
			} else {
				realmNames[r.Name] = i
			}
		}
	}
	return ps
}

// MetricsListener returns the index of the listener serving the metrics,
// or -1.
func (c *Config) MetricsListener() int {
	for i, l := range c.Listeners {
		if l.WebSocket == nil && l.Bridge == nil {
			continue
		}
		if c.Metrics.Listener == "" || c.Metrics.Listener == l.Address {
			return i
		}
	}
	return -1
}

func (c *Config) validateListener(ps *problems, key string, l Listener, set map[string]bool) {
	if l.Address == "" {
		ps.add(key+".address", "required")
	} else if path, ok := strings.CutPrefix(l.Address, "unix:"); ok {
		if path == "" {
			ps.add(key+".address", "want unix:/path/to.sock, got %q", l.Address)
		}
	} else if _, port, err := net.SplitHostPort(l.Address); err != nil || port == "" {
		ps.add(key+".address", "want host:port or unix:/path, got %q", l.Address)
	}
	switch {
	case l.WebSocket == nil && l.RawSocket == nil && l.Bridge == nil:
		ps.add(key, "want websocket, bridge or rawsocket")
	case l.RawSocket != nil && (l.WebSocket != nil || l.Bridge != nil):
		ps.add(key, "want rawsocket alone, or websocket and/or bridge")
	}
	if l.Bridge != nil {
		c.validateBridge(ps, key+".bridge", l.Bridge, l.WebSocket)
	}
	if (l.TLS.CertFile == "") != (l.TLS.KeyFile == "") {
		ps.add(key+".tls", "want both cert_file and key_file, or neither")
	} else if l.TLS.Enabled() {
		if _, err := tls.LoadX509KeyPair(l.TLS.CertFile, l.TLS.KeyFile); err != nil {
			ps.add(key+".tls", "cannot load certificate: %v", err)
		}
	}
	if ws := l.WebSocket; ws != nil {
		wkey := key + ".websocket"
		if !strings.HasPrefix(ws.Path, "/") {
			ps.add(wkey+".path", "want a path starting with /, got %q", ws.Path)
		}
		validateSerializers(ps, wkey+".serializers", ws.Serializers)
		for j, o := range ws.AllowedOrigins {
			if strings.TrimSpace(o) == "" {
				ps.add(fmt.Sprintf("%s.allowed_origins[%d]", wkey, j), "want an origin pattern, got %q", o)
			}
		}
		if ws.MaxMessageSize <= 0 {
			ps.add(wkey+".max_message_size", "want a positive number of bytes, got %d", ws.MaxMessageSize)
		}
		if ws.MaxQueueBytes < 4096 {
			ps.add(wkey+".max_queue_bytes", "want at least 4096 bytes, got %d", ws.MaxQueueBytes)
		}
		if ws.PingInterval < 0 {
			ps.add(wkey+".ping_interval", "want a duration >= 0, got %q", ws.PingInterval.String())
		}
	}
	if rs := l.RawSocket; rs != nil {
		rkey := key + ".rawsocket"
		validateSerializers(ps, rkey+".serializers", rs.Serializers)
		if rs.MaxQueueBytes < 4096 {
			ps.add(rkey+".max_queue_bytes", "want at least 4096 bytes, got %d", rs.MaxQueueBytes)
		}
		if rs.MaxMessageSize < 512 || rs.MaxMessageSize > 1<<24 {
			ps.add(rkey+".max_message_size", "want 512..16777216 bytes, got %d", rs.MaxMessageSize)
		}
		if rs.PingInterval < 0 {
			ps.add(rkey+".ping_interval", "want a duration >= 0, got %q", rs.PingInterval.String())
		}
	}
}

func (c *Config) validateBridge(ps *problems, key string, b *Bridge, ws *WebSocket) {
	var realm *Realm
	for i := range c.Realms {
		if c.Realms[i].Name == b.Realm {
			realm = &c.Realms[i]
		}
	}
	switch {
	case b.Realm == "":
		ps.add(key+".realm", "required")
	case realm == nil:
		ps.add(key+".realm", "realm %q is not defined in realms", b.Realm)
	}
	hasRole := func(name string) bool {
		if realm == nil {
			return true // reported above
		}
		for _, r := range realm.Roles {
			if r.Name == name {
				return true
			}
		}
		return false
	}
	paths := map[string]string{}
	if ws != nil {
		paths[ws.Path] = "websocket.path"
	}
	for _, p := range []struct{ name, path string }{{"publish_path", b.PublishPath}, {"call_path", b.CallPath}} {
		if p.path == PathOff {
			continue
		}
		if !strings.HasPrefix(p.path, "/") {
			ps.add(key+"."+p.name, "want a path starting with / (or off), got %q", p.path)
		} else if other, dup := paths[p.path]; dup {
			ps.add(key+"."+p.name, "%q is also the listener's %s", p.path, other)
		}
		paths[p.path] = "bridge." + p.name
	}
	if b.MaxBodySize <= 0 {
		ps.add(key+".max_body_size", "want a positive number of bytes, got %d", b.MaxBodySize)
	}
	if b.TimestampDeltaLimit <= 0 {
		ps.add(key+".timestamp_delta_limit", "want a positive duration, got %q", b.TimestampDeltaLimit.String())
	}
	if b.CallTimeout <= 0 {
		ps.add(key+".call_timeout", "want a positive duration, got %q", b.CallTimeout.String())
	}
	if b.ReadTimeout <= 0 {
		ps.add(key+".read_timeout", "want a positive duration, got %q", b.ReadTimeout.String())
	}
	for i, o := range b.AllowedOrigins {
		if strings.TrimSpace(o) == "" {
			ps.add(fmt.Sprintf("%s.allowed_origins[%d]", key, i), "want an origin pattern, got %q", o)
		}
	}
	if len(b.Keys) == 0 {
		if b.Role == "" {
			ps.add(key+".role", "required when no keys are configured and realm %q has no anonymous role", b.Realm)
		} else if !hasRole(b.Role) {
			ps.add(key+".role", "role %q is not defined in realm %q", b.Role, b.Realm)
		}
	} else if b.Role != "" {
		ps.add(key+".role", "only for requests without credentials, which are refused once keys are configured")
	}
	c.validateBridgeExtras(ps, key, b)
	names := map[string]int{}
	for j := range b.Keys {
		k := &b.Keys[j]
		kkey := fmt.Sprintf("%s.keys[%d]", key, j)
		if k.Key == "" {
			ps.add(kkey+".key", "required")
		} else if first, dup := names[k.Key]; dup {
			ps.add(kkey+".key", "duplicate key %q (also keys[%d])", k.Key, first)
		} else {
			names[k.Key] = j
		}
		if k.Role == "" {
			ps.add(kkey+".role", "required")
		} else if !hasRole(k.Role) {
			ps.add(kkey+".role", "role %q is not defined in realm %q", k.Role, b.Realm)
		}
		if k.Secret == "" && k.BearerToken == "" && k.SecretFile == "" {
			ps.add(kkey, "want a secret (or secret_file) or a bearer_token")
		}
		for name, v := range map[string]string{"secret": k.Secret, "bearer_token": k.BearerToken} {
			if v != "" && len(v) < MinSecretLength {
				// The value itself is never printed.
				ps.add(kkey+"."+name, "too short: want at least %d characters", MinSecretLength)
			}
		}
	}
}

func (c *Config) validateBridgeExtras(ps *problems, key string, b *Bridge) {
	for i, cidr := range b.RequireIP {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			ps.add(fmt.Sprintf("%s.require_ip[%d]", key, i), "want a CIDR like 10.0.0.0/8, got %q", cidr)
		}
	}
	for i, cidr := range b.TrustedProxies {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			ps.add(fmt.Sprintf("%s.trusted_proxies[%d]", key, i), "want a CIDR like 127.0.0.1/32, got %q", cidr)
		}
	}
	secret := func(k, v string, required bool) {
		switch {
		case v == "" && required:
			ps.add(k, "required")
		case v != "" && len(v) < MinSecretLength:
			ps.add(k, "too short: want at least %d characters", MinSecretLength)
		}
	}
	httpURL := func(k, v string) {
		u, err := url.Parse(v)
		if v == "" {
			ps.add(k, "required")
		} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ps.add(k, "want an http:// or https:// URL, got %q", v)
		}
	}
	names := map[string]int{}
	for i, w := range b.Webhooks {
		wkey := fmt.Sprintf("%s.webhooks[%d]", key, i)
		if w.Name == "" || strings.ContainsAny(w.Name, "/?# ") {
			ps.add(wkey+".name", "want a name usable as a path segment, got %q", w.Name)
		} else if first, dup := names[w.Name]; dup {
			ps.add(wkey+".name", "duplicate webhook %q (also webhooks[%d])", w.Name, first)
		} else {
			names[w.Name] = i
		}
		if !wamp.URI(w.Topic).ValidURI(false, "") {
			ps.add(wkey+".topic", "want a topic URI, got %q", w.Topic)
		}
		secret(wkey+".github_secret", w.GitHubSecret, false)
	}
	for i, f := range b.Forwards {
		fkey := fmt.Sprintf("%s.forwards[%d]", key, i)
		if f.Topic == "" && f.Match != MatchPrefix {
			ps.add(fkey+".topic", "required")
		} else if validateMatch(ps, fkey+".match", f.Match) && !validPattern(f.Topic, f.Match) {
			ps.add(fkey+".topic", "not a valid %s URI: %q", f.Match, f.Topic)
		}
		httpURL(fkey+".url", f.URL)
		secret(fkey+".secret", f.Secret, true)
		if f.QueueSize <= 0 {
			ps.add(fkey+".queue_size", "want a positive number of events, got %d", f.QueueSize)
		}
		if f.MaxRetries < 0 {
			ps.add(fkey+".max_retries", "want 0 or more, got %d", f.MaxRetries)
		}
		if f.Timeout <= 0 {
			ps.add(fkey+".timeout", "want a positive duration, got %q", f.Timeout.String())
		}
	}
	procs := map[string]int{}
	for i, c := range b.Callees {
		ckey := fmt.Sprintf("%s.callees[%d]", key, i)
		if !wamp.URI(c.Procedure).ValidURI(false, "") {
			ps.add(ckey+".procedure", "want a procedure URI, got %q", c.Procedure)
		} else if first, dup := procs[c.Procedure]; dup {
			ps.add(ckey+".procedure", "duplicate procedure %q (also callees[%d])", c.Procedure, first)
		} else {
			procs[c.Procedure] = i
		}
		httpURL(ckey+".url", c.URL)
		secret(ckey+".secret", c.Secret, true)
		if c.Timeout <= 0 {
			ps.add(ckey+".timeout", "want a positive duration, got %q", c.Timeout.String())
		}
	}
}

// resolveSecrets reads bridge secrets given as "${NAME}" or secret_file.
// Parse runs it once, before validation; the values are never reported.
func (c *Config) resolveSecrets(lookupEnv LookupEnv) []Problem {
	var ps problems
	for i := range c.Realms {
		a := &c.Realms[i].Auth
		if t := a.Ticket; t != nil {
			for authid, p := range t.Principals {
				pkey := fmt.Sprintf("realms[%d].auth.ticket.principals.%s", i, authid)
				p.Ticket = secretValue(&ps, lookupEnv, pkey, "ticket", p.Ticket, p.TicketFile)
				t.Principals[authid] = p
			}
		}
		if j := a.JWT; j != nil {
			j.Secret = expandSecret(&ps, lookupEnv, fmt.Sprintf("realms[%d].auth.jwt.secret", i), j.Secret)
		}
		if w := a.WAMPCRA; w != nil {
			for authid, u := range w.Users {
				u.Secret = expandSecret(&ps, lookupEnv, fmt.Sprintf("realms[%d].auth.wampcra.users.%s.secret", i, authid), u.Secret)
				w.Users[authid] = u
			}
		}
	}
	for i := range c.Listeners {
		b := c.Listeners[i].Bridge
		if b == nil {
			continue
		}
		for j := range b.Keys {
			k := &b.Keys[j]
			kkey := fmt.Sprintf("listeners[%d].bridge.keys[%d]", i, j)
			k.Secret = secretValue(&ps, lookupEnv, kkey, "secret", k.Secret, k.SecretFile)
			k.BearerToken = expandSecret(&ps, lookupEnv, kkey+".bearer_token", k.BearerToken)
		}
		for j := range b.Webhooks {
			w := &b.Webhooks[j]
			w.GitHubSecret = expandSecret(&ps, lookupEnv, fmt.Sprintf("listeners[%d].bridge.webhooks[%d].github_secret", i, j), w.GitHubSecret)
		}
		for j := range b.Forwards {
			f := &b.Forwards[j]
			f.Secret = expandSecret(&ps, lookupEnv, fmt.Sprintf("listeners[%d].bridge.forwards[%d].secret", i, j), f.Secret)
		}
		for j := range b.Callees {
			c := &b.Callees[j]
			c.Secret = expandSecret(&ps, lookupEnv, fmt.Sprintf("listeners[%d].bridge.callees[%d].secret", i, j), c.Secret)
		}
	}
	return ps
}

// secretValue resolves a secret set as a value ("${NAME}" reads the
// environment) or as <name>_file, at key.<name>.
func secretValue(ps *problems, lookupEnv LookupEnv, key, name, value, file string) string {
	if file != "" {
		if value != "" {
			ps.add(key, "want %s or %s_file, not both", name, name)
			return ""
		}
		data, err := os.ReadFile(file)
		if err != nil {
			ps.add(key+"."+name+"_file", "cannot read: %v", err)
			return ""
		}
		return strings.TrimSpace(string(data))
	}
	return expandSecret(ps, lookupEnv, key+"."+name, value)
}

// expandSecret resolves a "${NAME}" value from the environment.
func expandSecret(ps *problems, lookupEnv LookupEnv, key, v string) string {
	name, ok := strings.CutPrefix(v, "${")
	if !ok || !strings.HasSuffix(name, "}") {
		return v
	}
	name = strings.TrimSuffix(name, "}")
	val, set := lookupEnv(name)
	if !set || val == "" {
		ps.add(key, "environment variable %s is not set", name)
		return ""
	}
	return val
}

func validateSerializers(ps *problems, key string, names []string) {
	if len(names) == 0 {
		ps.add(key, "want at least one of json, msgpack, cbor")
	}
	seen := map[string]bool{}
	for i, s := range names {
		switch {
		case !slices.Contains(Serializers, s):
			ps.add(fmt.Sprintf("%s[%d]", key, i), "want json|msgpack|cbor, got %q", s)
		case seen[s]:
			ps.add(fmt.Sprintf("%s[%d]", key, i), "duplicate serializer %q", s)
		}
		seen[s] = true
	}
}

func validateRealm(ps *problems, key string, r Realm) {
	if r.Name == "" {
		ps.add(key+".name", "required")
	} else if !wamp.URI(r.Name).ValidURI(r.Options.StrictURI, "") {
		ps.add(key+".name", "want a realm URI like \"realm1\" or \"com.example\", got %q", r.Name)
	}
	roles := map[string]int{}
	for j, role := range r.Roles {
		rkey := fmt.Sprintf("%s.roles[%d]", key, j)
		if role.Name == "" {
			ps.add(rkey+".name", "required")
		} else if first, dup := roles[role.Name]; dup {
			ps.add(rkey+".name", "duplicate role %q (also roles[%d])", role.Name, first)
		} else {
			roles[role.Name] = j
		}
		if role.Authorizer != "" && !wamp.URI(role.Authorizer).ValidURI(false, "") {
			ps.add(rkey+".authorizer", "want a procedure URI, got %q", role.Authorizer)
		}
		if role.AuthorizerCache < 0 {
			ps.add(rkey+".authorizer_cache", "want a duration >= 0, got %q", role.AuthorizerCache.String())
		}
		type uriMatch struct{ uri, match string }
		perms := map[uriMatch]int{}
		for k, p := range role.Permissions {
			pkey := fmt.Sprintf("%s.permissions[%d]", rkey, k)
			if validateMatch(ps, pkey+".match", p.Match) && !validPattern(p.URI, p.Match) {
				ps.add(pkey+".uri", "not a valid %s URI: %q", p.Match, p.URI)
			}
			um := uriMatch{p.URI, p.Match}
			if first, dup := perms[um]; dup {
				ps.add(pkey, "duplicate permission for %s URI %q (also permissions[%d])", p.Match, p.URI, first)
			} else {
				perms[um] = k
			}
		}
	}
	if r.Auth.Anonymous != nil && r.Anonymous != r.Auth.Anonymous {
		ps.add(key+".auth.anonymous", "also set as %s.anonymous: keep one", key)
	}
	validateAuth(ps, key+".auth", r.Auth, func(role string) bool { _, ok := roles[role]; return ok })
	validateAuthProcedures(ps, key, r)
	if d := r.Auth.Dynamic; d != nil && r.Anonymous != nil && slices.Contains(d.Methods, "anonymous") {
		ps.add(key+".auth.dynamic.methods", "anonymous joins are decided by the dynamic authenticator: remove %s.anonymous", key)
	}
	if w := r.Auth.Webhook; w != nil && r.Anonymous != nil && slices.Contains(w.Methods, "anonymous") {
		ps.add(key+".auth.webhook.methods", "anonymous joins are decided by the webhook: remove %s.anonymous", key)
	}
	if r.Anonymous != nil {
		if r.Anonymous.Role == "" {
			ps.add(key+".anonymous.role", "required")
		} else if _, ok := roles[r.Anonymous.Role]; !ok {
			ps.add(key+".anonymous.role", "role %q is not defined in %s.roles", r.Anonymous.Role, key)
		}
	}
	for j, h := range r.Options.EventHistory {
		hkey := fmt.Sprintf("%s.options.event_history[%d]", key, j)
		if h.Topic == "" {
			ps.add(hkey+".topic", "required")
		} else if validateMatch(ps, hkey+".match", h.Match) && !validPattern(h.Topic, h.Match) {
			ps.add(hkey+".topic", "not a valid %s URI: %q", h.Match, h.Topic)
		}
		if h.Limit <= 0 {
			ps.add(hkey+".limit", "want a positive number of events, got %d", h.Limit)
		}
	}
	for _, l := range []struct {
		key  string
		v    int
		what string
	}{
		{"max_retained_topics", r.Options.MaxRetainedTopics, "topics"},
		{"max_retained_bytes", r.Options.MaxRetainedBytes, "bytes"},
		{"max_subscriptions_per_session", r.Options.MaxSubscriptionsPerSession, "subscriptions"},
		{"max_registrations_per_session", r.Options.MaxRegistrationsPerSession, "registrations"},
	} {
		if l.v <= 0 {
			ps.add(key+".options."+l.key, "want a positive number of %s, got %d", l.what, l.v)
		}
	}
}

// JWTAlgorithms are the JWT signing algorithms switchboard verifies.
var JWTAlgorithms = []string{"HS256", "HS384", "HS512", "RS256", "ES256", "EdDSA"}

// MinJWTSecretLength is the shortest HMAC secret accepted for JWTs.
const MinJWTSecretLength = 32

// requireRole reports a role that is missing or not one of the realm's.
func requireRole(ps *problems, key, role string, hasRole func(string) bool) {
	if role == "" {
		ps.add(key, "required")
	} else if !hasRole(role) {
		ps.add(key, "role %q is not defined in the realm's roles", role)
	}
}

func validateAuth(ps *problems, key string, a Auth, hasRole func(string) bool) {
	if t := a.Ticket; t != nil {
		for authid, p := range t.Principals {
			pkey := fmt.Sprintf("%s.ticket.principals.%s", key, authid)
			if p.Ticket == "" {
				ps.add(pkey+".ticket", "required (or ticket_file)")
			} else if len(p.Ticket) < MinSecretLength {
				// The value itself is never printed.
				ps.add(pkey+".ticket", "too short: want at least %d characters", MinSecretLength)
			}
			requireRole(ps, pkey+".role", p.Role, hasRole)
		}
	}
	if w := a.WAMPCRA; w != nil {
		for authid, u := range w.Users {
			ukey := fmt.Sprintf("%s.wampcra.users.%s", key, authid)
			if u.Secret == "" {
				ps.add(ukey+".secret", "required")
			} else if len(u.Secret) < MinSecretLength {
				ps.add(ukey+".secret", "too short: want at least %d characters", MinSecretLength)
			}
			requireRole(ps, ukey+".role", u.Role, hasRole)
			if u.Iterations < 0 || u.KeyLen < 0 {
				ps.add(ukey, "iterations and keylen must not be negative")
			}
		}
	}
	if cs := a.Cryptosign; cs != nil {
		for authid, p := range cs.Principals {
			pkey := fmt.Sprintf("%s.cryptosign.principals.%s", key, authid)
			if len(p.AuthorizedKeys) == 0 {
				ps.add(pkey+".authorized_keys", "want at least one hex Ed25519 public key")
			}
			for i, k := range p.AuthorizedKeys {
				if b, err := hex.DecodeString(k); err != nil || len(b) != 32 {
					ps.add(fmt.Sprintf("%s.authorized_keys[%d]", pkey, i), "want 64 hex digits (an Ed25519 public key), got %q", k)
				}
			}
			requireRole(ps, pkey+".role", p.Role, hasRole)
		}
	}
	if j := a.JWT; j != nil {
		jkey := key + ".jwt"
		var hmacAlg, keyAlg bool
		for i, alg := range j.Algorithms {
			switch {
			case !slices.Contains(JWTAlgorithms, alg):
				ps.add(fmt.Sprintf("%s.algorithms[%d]", jkey, i), "want one of %s, got %q", strings.Join(JWTAlgorithms, "|"), alg)
			case strings.HasPrefix(alg, "HS"):
				hmacAlg = true
			default:
				keyAlg = true
			}
		}
		if len(j.Algorithms) == 0 {
			ps.add(jkey+".algorithms", "want at least one algorithm")
		}
		if hmacAlg && len(j.Secret) < MinJWTSecretLength {
			ps.add(jkey+".secret", "HS* algorithms need a secret of at least %d characters", MinJWTSecretLength)
		}
		if keyAlg {
			if j.PublicKeyFile == "" && j.JWKSFile == "" {
				ps.add(jkey+".public_key_file", "public_key_file or jwks_file required for RS256, ES256 and EdDSA")
			}
			if j.PublicKeyFile != "" {
				if _, err := LoadPublicKey(j.PublicKeyFile); err != nil {
					ps.add(jkey+".public_key_file", "%v", err)
				}
			}
			if j.JWKSFile != "" {
				if _, err := os.Stat(j.JWKSFile); err != nil {
					ps.add(jkey+".jwks_file", "cannot read: %v", err)
				}
			}
		}
		if j.AuthIDClaim == "" {
			ps.add(jkey+".authid_claim", "required")
		}
		if j.DefaultRole != "" {
			requireRole(ps, jkey+".default_role", j.DefaultRole, hasRole)
		}
		if j.Leeway < 0 {
			ps.add(jkey+".leeway", "want a duration >= 0, got %q", j.Leeway.String())
		}
	}
	if d := a.Dynamic; d != nil {
		dkey := key + ".dynamic"
		if !wamp.URI(d.Procedure).ValidURI(false, "") {
			ps.add(dkey+".procedure", "want a procedure URI, got %q", d.Procedure)
		}
		for i, m := range d.Methods {
			if m != "anonymous" && m != "ticket" {
				ps.add(fmt.Sprintf("%s.methods[%d]", dkey, i), "want anonymous|ticket, got %q", m)
			}
		}
		if d.Timeout <= 0 {
			ps.add(dkey+".timeout", "want a positive duration, got %q", d.Timeout.String())
		}
		if w := a.Webhook; w != nil {
			for _, m := range d.Methods {
				if slices.Contains(w.Methods, m) {
					ps.add(dkey+".methods", "%s is also decided by auth.webhook: keep one", m)
				}
			}
		}
	}
	if w := a.Webhook; w != nil {
		wkey := key + ".webhook"
		if u, err := url.Parse(w.URL); w.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ps.add(wkey+".url", "want an http:// or https:// URL, got %q", w.URL)
		}
		if len(w.Methods) == 0 {
			ps.add(wkey+".methods", "want anonymous and/or ticket")
		}
		for i, m := range w.Methods {
			if m != "anonymous" && m != "ticket" {
				ps.add(fmt.Sprintf("%s.methods[%d]", wkey, i), "want anonymous|ticket, got %q", m)
			}
		}
		if w.Timeout <= 0 {
			ps.add(wkey+".timeout", "want a positive duration, got %q", w.Timeout.String())
		}
	}
}

// LoadPublicKey reads a PEM public key (RSA, ECDSA or Ed25519) for JWTs.
func LoadPublicKey(path string) (crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("not a PEM file")
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not a PEM public key: %w", err)
	}
	return key, nil
}

func validateMatch(ps *problems, key, match string) bool {
	switch match {
	case MatchExact, MatchPrefix, MatchWildcard:
		return true
	}
	ps.add(key, "want exact|prefix|wildcard, got %q", match)
	return false
}

// validPattern checks a URI for its match policy with the loose WAMP rules;
// permissions are checked loosely whatever the realm's strict_uri.
func validPattern(uri, match string) bool {
	return wamp.URI(uri).ValidURI(false, match)
}
