package config

import (
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// Listener is one socket: a TCP "host:port" or "unix:/path" address serving
// either WebSocket (with HTTP) or RawSocket.
type Listener struct {
	// Address is "host:port" for TCP or "unix:/path/to.sock" for a Unix socket.
	// Required.
	Address string `mapstructure:"address" default:"-"`
	// TLS turns the listener into TLS (wss:// or RawSocket over TLS) when both
	// files are set. Default: no TLS.
	TLS TLS `mapstructure:"tls"`
	// WebSocket serves WAMP over WebSocket on this listener. A listener has
	// rawsocket, or websocket and/or bridge.
	WebSocket *WebSocket `mapstructure:"websocket"`
	// RawSocket serves WAMP over RawSocket on this listener.
	RawSocket *RawSocket `mapstructure:"rawsocket"`
	// Bridge serves the HTTP bridge (/publish, /call) on this listener, beside
	// WebSocket or alone. Not with rawsocket.
	Bridge *Bridge `mapstructure:"bridge"`
	// MaxConnections bounds this listener's open connections, within
	// limits.max_connections; one more is answered with HTTP 503 and
	// Retry-After (RawSocket: handshake error 4). 0 means no bound of its
	// own. Default 0.
	MaxConnections int `mapstructure:"max_connections" default:"0"`
}

// TLS names the certificate and key files of a listener.
type TLS struct {
	// CertFile is a PEM certificate chain. Default "" (no TLS).
	CertFile string `mapstructure:"cert_file" default:""`
	// KeyFile is the PEM private key of CertFile. Default "" (no TLS).
	KeyFile string `mapstructure:"key_file" default:""`
	// cert is the pair validation read from the files.
	cert *fromFiles[tls.Certificate]
}

// Enabled reports whether both TLS files are set.
func (t TLS) Enabled() bool { return t.CertFile != "" && t.KeyFile != "" }

// WebSocket configures the WebSocket transport of a listener.
type WebSocket struct {
	// Path is the HTTP path of the WebSocket endpoint. Default "/ws".
	Path string `mapstructure:"path" default:"/ws"`
	// Serializers are the offered WAMP serializers, from json, msgpack, cbor.
	// Default [json, msgpack, cbor].
	Serializers []string `mapstructure:"serializers" default:"json,msgpack,cbor"`
	// AllowedOrigins lists the browser Origins allowed to connect, with "*"
	// globs matched against the whole origin ("https://*.example.com") or its
	// host ("*.example.com"). A request without Origin, or from the same host,
	// is always allowed. Default ["http://localhost:*", "http://127.0.0.1:*",
	// "http://[::1]:*"]: pages served from this machine only.
	AllowedOrigins []string `mapstructure:"allowed_origins" default:"http://localhost:*,http://127.0.0.1:*,http://[::1]:*"`
	// MaxMessageSize is the largest inbound WAMP message in bytes; a larger
	// one closes the session. Default 4194304.
	MaxMessageSize int `mapstructure:"max_message_size" default:"4194304"`
	// PingInterval is the keepalive interval; a peer that does not answer
	// pings is disconnected. "0s" disables keepalive. Default "30s".
	PingInterval time.Duration `mapstructure:"ping_interval" default:"30s"`
	// MaxQueueBytes bounds a session's outbound queue; a client further
	// behind is disconnected as a slow consumer. Default 1048576.
	MaxQueueBytes int `mapstructure:"max_queue_bytes" default:"1048576"`
	// WriteDelay lets a busy session's writer wait up to this long after
	// its previous write, so that the events of consecutive publications
	// share one write (one system call instead of one per event). A
	// session idle for longer is written to at once, so an idle router's
	// latency does not change; replies (RESULT, SUBSCRIBED, ...) are
	// never delayed; and only while the router is busy (at least 64
	// sessions written to within the last second). "0s" disables it.
	// Default "10ms" (measured: docs/performance.md, coalesced writes).
	WriteDelay time.Duration `mapstructure:"write_delay" default:"10ms"`
}

// RawSocket configures the RawSocket transport of a listener.
type RawSocket struct {
	// Serializers are the accepted WAMP serializers, from json, msgpack,
	// cbor. Default [json, msgpack, cbor].
	Serializers []string `mapstructure:"serializers" default:"json,msgpack,cbor"`
	// MaxMessageSize is the largest inbound WAMP message in bytes (RawSocket
	// rounds it down to a power of two between 512 and 16777216). Default
	// 4194304.
	MaxMessageSize int `mapstructure:"max_message_size" default:"4194304"`
	// MaxQueueBytes bounds a session's outbound queue, as for WebSocket.
	// Default 1048576.
	MaxQueueBytes int `mapstructure:"max_queue_bytes" default:"1048576"`
	// PingInterval is the keepalive interval (RawSocket PING frames); a
	// peer silent for two intervals is disconnected. "0s" disables
	// keepalive. Default "30s".
	PingInterval time.Duration `mapstructure:"ping_interval" default:"30s"`
	// WriteDelay is as for WebSocket. Default "10ms".
	WriteDelay time.Duration `mapstructure:"write_delay" default:"10ms"`
}

// Serializers are the serializer names switchboard supports.
var Serializers = []string{"json", "msgpack", "cbor"}

func (c *Config) validateListener(ps *problems, key string, l *Listener, set map[string]bool) {
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
		l.TLS.read(ps, key+".tls")
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
		validateWriteDelay(ps, wkey+".write_delay", ws.WriteDelay)
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
		validateWriteDelay(ps, rkey+".write_delay", rs.WriteDelay)
	}
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

// maxWriteDelay bounds write_delay: it is latency added under load.
const maxWriteDelay = 100 * time.Millisecond

func validateWriteDelay(ps *problems, key string, d time.Duration) {
	if d < 0 || d > maxWriteDelay {
		ps.add(key, "want a duration from 0s to %s, got %q", maxWriteDelay, d.String())
	}
}
