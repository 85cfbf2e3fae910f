package router

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/transport"
)

// listener is one bound address with what serves it.
type listener struct {
	cfg  config.Listener
	ln   net.Listener
	http *http.Server // WebSocket listeners only
}

func (l *listener) transport() string {
	switch {
	case l.cfg.RawSocket != nil:
		return "rawsocket"
	case l.cfg.Bridge == nil:
		return "websocket"
	case l.cfg.WebSocket == nil:
		return "http-bridge"
	}
	return "websocket+http-bridge"
}

func (s *Server) bind(ctx context.Context, index int, lc config.Listener) (*listener, error) {
	network, address := "tcp", lc.Address
	if path, ok := strings.CutPrefix(lc.Address, "unix:"); ok {
		network, address = "unix", path
	}
	var lcfg net.ListenConfig
	ln, err := lcfg.Listen(ctx, network, address)
	if err != nil {
		return nil, err
	}
	tl := trackingListener{Listener: ln, set: &s.conns, own: &listenerConns{max: lc.MaxConnections}, log: s.log}
	switch {
	case lc.TLS.Enabled(): // a refusal in clear text would not be understood
	case lc.RawSocket != nil:
		tl.refuse = transport.RefuseRawSocket
	default:
		tl.refuse = refuseHTTP
	}
	ln = tl
	if lc.TLS.Enabled() {
		cert := lc.TLS.Certificate() // read by config validation
		if cert == nil {
			_ = ln.Close()
			return nil, fmt.Errorf("load TLS certificate of %s: cert_file or key_file changed after validation", lc.Address)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12})
	}
	l := &listener{cfg: lc, ln: ln}
	if lc.WebSocket != nil || lc.Bridge != nil {
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", healthz)
		mux.HandleFunc("/readyz", s.readyz)
		if s.cfg.Metrics.Enabled && s.cfg.MetricsListener() == index {
			var h http.Handler = promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
			if !s.cfg.Metrics.AllowRemote {
				h = loopbackOnly(h)
			}
			mux.Handle(s.cfg.Metrics.Path, h)
		}
		if ws := lc.WebSocket; ws != nil {
			serializers, err := transport.LookupSerializers(ws.Serializers)
			if err != nil {
				_ = ln.Close()
				return nil, err
			}
			var h http.Handler = s.trackHandler(s.gateHandshakes(transport.NewWebSocketHandler(transport.WebSocketOptions{
				Serializers:    serializers,
				AllowedOrigins: ws.AllowedOrigins,
				MaxMessageSize: ws.MaxMessageSize,
				Peer:           s.peerOptions("websocket", ws.PingInterval, ws.MaxQueueBytes, ws.WriteDelay),
				Attach:         s.attach,
				Logger:         s.log,
			})))
			if s.cfg.Log.AccessLogUpgrades {
				h = s.logUpgrades(h)
			}
			mux.Handle(ws.Path, h)
		}
		if bc := lc.Bridge; bc != nil {
			if err := s.mountBridge(mux, index, bc); err != nil {
				_ = ln.Close()
				return nil, err
			}
		}
		var handler http.Handler = mux
		if loopbackAddress(lc.Address) {
			handler = hostCheck(mux, s.metrics.HostRefused, s.log)
		}
		l.http = &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       120 * time.Second,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		}
	}
	return l, nil
}

func (s *Server) serve(l *listener) {
	s.serveWG.Add(1)
	go func() {
		defer s.serveWG.Done()
		var err error
		if l.http != nil {
			err = l.http.Serve(l.ln)
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
		} else {
			rs := l.cfg.RawSocket
			serializers, lookupErr := transport.LookupSerializers(rs.Serializers)
			if lookupErr != nil {
				err = lookupErr
			} else {
				err = transport.ServeRawSocket(l.ln, transport.RawSocketOptions{
					Serializers:    serializers,
					MaxMessageSize: rs.MaxMessageSize,
					Peer:           s.peerOptions("rawsocket", rs.PingInterval, rs.MaxQueueBytes, rs.WriteDelay),
					Attach:         s.attach,
					Logger:         s.log,
					Begin:          s.beginConn,
					End:            s.connWG.Done,
					Admit: func(remote string) bool {
						if s.handshakes.enter() {
							return true
						}
						s.handshakeRefused(remote)
						return false
					},
					Admitted: s.handshakes.leave,
				})
			}
		}
		if err != nil {
			s.log.Error("listener stopped", "address", l.cfg.Address, "error", err)
		}
	}()
}

// peerOptions configures the peers of a listener: their pub/sub messages go

// trackHandler counts requests in progress, so Shutdown can wait for
// WebSocket upgrades that are still attaching.
func (s *Server) trackHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.beginConn() {
			w.Header().Set("Connection", "close")
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		defer s.connWG.Done()
		h.ServeHTTP(w, r)
	})
}

// attach hands a connected peer to nexus, which reads HELLO, authenticates

// BoundListener is one listener as bound.
type BoundListener struct {
	// Address is the listener's address as configured (listeners[].address).
	Address string
	// Transport is websocket, rawsocket, http-bridge or websocket+http-bridge.
	Transport string
	// TLS reports whether the listener serves TLS.
	TLS bool
	// Addr is the address bound (the port chosen for ":0").
	Addr net.Addr
}

// Listeners describes every bound listener, in configuration order.
func (s *Server) Listeners() []BoundListener {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]BoundListener, len(s.listeners))
	for i, l := range s.listeners {
		out[i] = BoundListener{Address: l.cfg.Address, Transport: l.transport(), TLS: l.cfg.TLS.Enabled(), Addr: l.ln.Addr()}
	}
	return out
}

// Addrs returns the bound address of every listener, in configuration order
// (Listeners says what each serves).
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]net.Addr, len(s.listeners))
	for i, l := range s.listeners {
		out[i] = l.ln.Addr()
	}
	return out
}
