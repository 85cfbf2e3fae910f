package transport

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/gammazero/nexus/v3/wamp"
	"github.com/gorilla/websocket"

	"github.com/switchboard-wamp/switchboard/origins"
)

// Attach hands a new peer and its transport details to the router. It
// returns once the session is established or refused.
type Attach func(peer *Peer, details wamp.Dict)

// WebSocketOptions configure a WebSocketHandler.
type WebSocketOptions struct {
	// Serializers are offered in this order of preference.
	Serializers []Serializer
	// AllowedOrigins are Origin patterns with * globs, matched against the
	// whole origin or its host. Requests without Origin, or from the same
	// host over TLS, are always allowed.
	AllowedOrigins []string
	// MaxMessageSize bounds inbound messages in bytes.
	MaxMessageSize int
	// Peer configures each session's peer.
	Peer PeerOptions
	// Attach receives each upgraded connection.
	Attach Attach
	// Logger receives upgrade failures.
	Logger *slog.Logger
}

// WebSocketHandler upgrades HTTP requests to WAMP-over-WebSocket sessions.
type WebSocketHandler struct {
	opts     WebSocketOptions
	upgrader websocket.Upgrader
	bySub    map[string]Serializer
}

// NewWebSocketHandler returns a handler for opts.
func NewWebSocketHandler(opts WebSocketOptions) *WebSocketHandler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &WebSocketHandler{opts: opts, bySub: map[string]Serializer{}}
	for _, s := range opts.Serializers {
		h.upgrader.Subprotocols = append(h.upgrader.Subprotocols, s.Subprotocol)
		h.bySub[s.Subprotocol] = s
	}
	// gorilla only performs the handshake (wsConn reads and writes the
	// frames): its buffers are the smallest it allows, and pooled.
	h.upgrader.ReadBufferSize = 256
	h.upgrader.WriteBufferPool = &sync.Pool{}
	h.upgrader.CheckOrigin = func(r *http.Request) bool { return OriginAllowed(opts.AllowedOrigins, r) }
	h.upgrader.Error = func(w http.ResponseWriter, r *http.Request, status int, reason error) {
		writeJSONError(w, status, "switchboard.error.websocket_upgrade", reason.Error())
	}
	return h
}

func (h *WebSocketHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !websocket.IsWebSocketUpgrade(r) {
		w.Header().Set("Upgrade", "websocket")
		writeJSONError(w, http.StatusUpgradeRequired, "switchboard.error.websocket_upgrade",
			"this is a WAMP WebSocket endpoint: connect with a WAMP client")
		return
	}
	if !h.offersSubprotocol(r) {
		writeJSONError(w, http.StatusBadRequest, "switchboard.error.websocket_upgrade",
			fmt.Sprintf("no supported WAMP subprotocol offered; want one of %s", strings.Join(h.upgrader.Subprotocols, ", ")))
		return
	}
	if !OriginAllowed(h.opts.AllowedOrigins, r) {
		h.opts.Logger.Info("websocket origin rejected", "origin", r.Header.Get("Origin"), "remote_addr", r.RemoteAddr)
		writeJSONError(w, http.StatusForbidden, "switchboard.error.origin_not_allowed",
			fmt.Sprintf("origin %q is not allowed", r.Header.Get("Origin")))
		return
	}
	ws, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		h.opts.Logger.Debug("websocket upgrade failed", "remote_addr", r.RemoteAddr, "error", err)
		return
	}
	// From here on the connection is ours: gorilla's reader and writer are
	// not used (and are dropped), so an idle session keeps only its socket
	// and a small read buffer.
	s := h.bySub[ws.Subprotocol()]
	peer := NewWebSocketPeer(ws.NetConn(), s, h.opts.MaxMessageSize, h.opts.Peer)
	headers := r.Header.Clone()
	peer.headers.Store(&headers)
	h.opts.Attach(peer, wamp.Dict{
		"type":     "websocket",
		"protocol": s.Subprotocol,
		"peer":     peerAddress(ws.RemoteAddr()),
	})
}

func (h *WebSocketHandler) offersSubprotocol(r *http.Request) bool {
	for _, p := range websocket.Subprotocols(r) {
		if _, ok := h.bySub[p]; ok {
			return true
		}
	}
	return false
}

// peerAddress formats an address as Crossbar does: "tcp4:127.0.0.1:5000".
func peerAddress(a net.Addr) string {
	if tcp, ok := a.(*net.TCPAddr); ok {
		if tcp.IP.To4() != nil {
			return "tcp4:" + tcp.String()
		}
		return "tcp6:" + tcp.String()
	}
	return a.Network() + ":" + a.String()
}

// OriginAllowed reports whether the request's Origin is allowed by patterns.
// A missing Origin (not a browser) is allowed, and so is a same-host origin
// over TLS. Without TLS the Host header proves nothing: a DNS-rebinding
// page makes its own host name resolve to the router's address, so its
// origin and Host match.
func OriginAllowed(patterns []string, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err == nil && r.TLS != nil && u.Scheme == "https" && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return origins.Allowed(patterns, origin)
}

func writeJSONError(w http.ResponseWriter, status int, uri, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": uri, "args": []string{message}, "kwargs": map[string]any{}})
}
