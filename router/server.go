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
	"sync"
	"sync/atomic"
	"time"

	"github.com/gammazero/nexus/v3/client"
	nexusrouter "github.com/gammazero/nexus/v3/router"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchboard-wamp/switchboard/auth"
	"github.com/switchboard-wamp/switchboard/broker"
	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/metrics"
	"github.com/switchboard-wamp/switchboard/realms"
	"github.com/switchboard-wamp/switchboard/transport"
)

// Options are the server's dependencies.
type Options struct {
	// Logger receives the server's logs. Default: discard.
	Logger *slog.Logger
	// Registry receives the server's metrics and serves them at
	// metrics.path. Default: a registry of the server's own.
	Registry *prometheus.Registry
	// Version is reported in switchboard_build_info. Default "dev".
	Version string
}

// Server is one switchboard router: New allocates, Start binds every
// listener, Shutdown ends sessions and closes everything.
type Server struct {
	cfg    *config.Config
	log    *slog.Logger
	realms []realms.Realm
	authz  []*realms.Authorizer // per realm, shared by nexus and the broker
	broker *broker.Broker
	// maxRegistrations: realm name -> max_registrations_per_session (a
	// realm option, which a reload cannot change).
	maxRegistrations map[string]int

	registry *prometheus.Registry
	metrics  *metrics.Metrics
	observer *observer
	ready    atomic.Bool // /readyz: listeners bound and not shutting down

	mu         sync.Mutex
	started    bool
	closing    bool
	nexus      nexusrouter.Router
	forwarders []*client.Client
	// localCallers: realm name -> in-process session that calls procedures
	// for the dynamic authenticator and authorizers.
	localCallers sync.Map
	bridges      []*bridgeBackend
	bridgeOf     map[int]*bridgeBackend // by listener index
	// authSwitches: per realm, the authenticator nexus holds for each method.
	authSwitches []map[string]*methodSwitch
	authLimiter  *auth.FailureLimiter // failed authentications per address
	listeners    []*listener
	attaching    map[*transport.Peer]struct{}
	attachWG     sync.WaitGroup
	serveWG      sync.WaitGroup
	connWG       sync.WaitGroup // connections between accept and attach
	conns        connSet
	// poller watches idle sessions' connections, so that they need no
	// reader goroutine (nil where the system offers no epoll).
	poller atomic.Pointer[transport.Poller]

	shutdownOnce sync.Once
	shutdownErr  error

	slowConsumers atomic.Uint64
	limits        *metrics.Limits
	// peerLimits are the message limits of every peer; fixed at New (a
	// reload that changes them is refused), so listeners read them
	// without the lock.
	peerLimits config.Limits

	// background lives from Start to Shutdown: bridge forwarders run in it.
	background     context.Context
	stopBackground context.CancelFunc
}

// Stats are the server's counters since Start.
type Stats struct {
	// SlowConsumers is how many sessions were disconnected because their
	// outbound queue exceeded its bound.
	SlowConsumers uint64
	// ParkedConnections is how many idle sessions' connections wait for
	// input without a reader goroutine (Linux only; see docs/performance.md).
	ParkedConnections int
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{SlowConsumers: s.slowConsumers.Load(), ParkedConnections: s.parkedConnections()}
}

func (s *Server) parkedConnections() int {
	if p := s.poller.Load(); p != nil {
		return p.Parked()
	}
	return 0
}

// listener is one bound address with what serves it.
type listener struct {
	cfg  config.Listener
	ln   net.Listener
	http *http.Server // WebSocket listeners only
}

// New validates cfg and prepares a server; it performs no I/O.
func New(cfg *config.Config, opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log, attaching: map[*transport.Peer]struct{}{}, registry: opts.Registry, bridgeOf: map[int]*bridgeBackend{},
		maxRegistrations: map[string]int{}}
	if s.registry == nil {
		s.registry = prometheus.NewRegistry()
	}
	version := opts.Version
	if version == "" {
		version = "dev"
	}
	m, err := metrics.New(s.registry, version)
	if err == nil {
		err = metrics.RegisterParkedConnections(s.registry, s.parkedConnections)
	}
	if err != nil {
		return nil, fmt.Errorf("router: metrics: %w", err)
	}
	s.metrics = m
	s.peerLimits = cfg.Limits
	s.conns = connSet{maxTotal: cfg.Limits.MaxConnections, maxPerIP: cfg.Limits.MaxConnectionsPerIP}
	if s.limits, err = metrics.NewLimits(s.registry, s.conns.open); err != nil {
		return nil, fmt.Errorf("router: metrics: %w", err)
	}
	s.conns.refused = func(limit string) { s.limits.ConnectionsRefused.WithLabelValues(limit).Inc() }
	s.authLimiter = auth.NewFailureLimiter(cfg.AuthLimits.MaxFailuresPerMinute, cfg.AuthLimits.FailureDelay)
	var realmNames []string
	for _, rc := range cfg.Realms {
		realmNames = append(realmNames, rc.Name)
	}
	s.observer = newObserver(m, realmNames)
	var brokerRealms []broker.Realm
	for _, rc := range cfg.Realms {
		r, err := s.realmFromConfig(rc)
		if err != nil {
			return nil, fmt.Errorf("router: %w", err)
		}
		switches := map[string]*methodSwitch{}
		for i, a := range r.Authenticators {
			guarded := s.guardAuthenticator(r.Name, a)
			sw := &methodSwitch{method: a.AuthMethod()}
			sw.cur.Store(&guarded)
			switches[sw.method] = sw
			r.Authenticators[i] = sw
		}
		s.authSwitches = append(s.authSwitches, switches)
		authz := realms.NewAuthorizer(r.Roles)
		s.realms = append(s.realms, r)
		s.authz = append(s.authz, authz)
		br := broker.Realm{Name: r.Name, Authorizer: authz, StrictURI: r.StrictURI,
			MaxRetainedTopics: rc.Options.MaxRetainedTopics, MaxRetainedBytes: rc.Options.MaxRetainedBytes,
			MaxSubscriptionsPerSession: rc.Options.MaxSubscriptionsPerSession}
		for _, h := range rc.Options.EventHistory {
			br.History = append(br.History, broker.History{Topic: h.Topic, Match: h.Match, Limit: h.Limit})
		}
		brokerRealms = append(brokerRealms, br)
		s.maxRegistrations[r.Name] = rc.Options.MaxRegistrationsPerSession
	}
	s.broker = broker.New(brokerRealms, log, s.observer)
	return s, nil
}

// Start creates the routing core and binds every listener before it
// returns. If any listener fails, the ones already bound are closed.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("router: already started")
	}
	s.started = true

	nexusCfg := &nexusrouter.Config{}
	for i, r := range s.realms {
		nexusCfg.RealmConfigs = append(nexusCfg.RealmConfigs, r.NexusConfig(s.authz[i]))
	}
	nx, err := nexusrouter.NewRouter(nexusCfg, nexusLogger{s.log})
	if err != nil {
		return fmt.Errorf("router: %w", err)
	}
	s.nexus = nx
	if err := s.forwardNexusEvents(); err != nil {
		s.closeForwarders()
		nx.Close()
		return err
	}
	if poller, err := transport.NewPoller(); err == nil {
		s.poller.Store(poller)
	} else {
		s.log.Info("idle sessions keep a reader goroutine", "reason", err.Error())
	}

	for i, lc := range s.cfg.Listeners {
		l, err := s.bind(ctx, i, lc)
		if err != nil {
			for _, bound := range s.listeners {
				_ = bound.ln.Close()
			}
			s.listeners = nil
			s.closeForwarders()
			nx.Close()
			s.closePoller()
			return fmt.Errorf("router: listeners[%d] %s: %w", i, lc.Address, err)
		}
		s.listeners = append(s.listeners, l)
	}
	s.background, s.stopBackground = context.WithCancel(context.Background())
	for _, b := range s.bridges {
		if err := b.start(s.background); err != nil {
			s.mu.Unlock()
			_ = s.Shutdown(context.Background())
			s.mu.Lock()
			return fmt.Errorf("router: %w", err)
		}
	}
	for _, l := range s.listeners {
		s.serve(l)
		s.log.Info("listening", "address", l.ln.Addr().String(), "transport", l.transport(), "tls", l.cfg.TLS.Enabled())
	}
	s.ready.Store(true)
	return nil
}

func (s *Server) closePoller() {
	if p := s.poller.Load(); p != nil {
		if err := p.Close(); err != nil {
			s.log.Warn("closing the idle-connection poller", "error", err)
		}
	}
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
	tl := trackingListener{Listener: ln, set: &s.conns, log: s.log}
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
			var h http.Handler = s.trackHandler(transport.NewWebSocketHandler(transport.WebSocketOptions{
				Serializers:    serializers,
				AllowedOrigins: ws.AllowedOrigins,
				MaxMessageSize: ws.MaxMessageSize,
				Peer:           s.peerOptions("websocket", ws.PingInterval, ws.MaxQueueBytes),
				Attach:         s.attach,
				Logger:         s.log,
			}))
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
					Peer:           s.peerOptions("rawsocket", rs.PingInterval, rs.MaxQueueBytes),
					Attach:         s.attach,
					Logger:         s.log,
					Begin:          s.beginConn,
					End:            s.connWG.Done,
				})
			}
		}
		if err != nil {
			s.log.Error("listener stopped", "address", l.cfg.Address, "error", err)
		}
	}()
}

// peerOptions configures the peers of a listener: their pub/sub messages go
// to the broker once nexus welcomes them.
func (s *Server) peerOptions(transportName string, ping time.Duration, maxQueueBytes int) transport.PeerOptions {
	slow := s.metrics.SlowConsumers.WithLabelValues(transportName)
	return transport.PeerOptions{
		PingInterval:       ping,
		MaxQueueBytes:      maxQueueBytes,
		MaxNestingDepth:    s.peerLimits.MaxNestingDepth,
		MessageReadTimeout: s.peerLimits.MessageReadTimeout,
		OnRefused:          func(reason string) { s.limits.MessagesRefused.WithLabelValues(reason).Inc() },
		Poller:             s.poller.Load(),
		Logger:             s.log,
		Observer:           s.observer,
		OnSlowConsumer: func() {
			s.slowConsumers.Add(1)
			slow.Inc()
		},
		OnHello: func(hello *wamp.Hello) any { return readHello(hello) },
		OnWelcome: func(p *transport.Peer, hello *wamp.Hello, helloState any, welcome *wamp.Welcome) transport.Route {
			info, _ := helloState.(helloInfo)
			bs := s.broker.JoinSession(p, string(hello.Realm), welcome, info.publisherIdentification)
			if bs == nil {
				return nil
			}
			realm := string(hello.Realm)
			sessions := s.metrics.Sessions.WithLabelValues(realm, transportName)
			sessions.Inc()
			s.metrics.SessionJoins.WithLabelValues(realm, transportName).Inc()
			return &sessionRoute{
				broker: bs, answerInterrupts: info.emulatedCanceling, deliver: p.Deliver,
				callDuration: s.metrics.CallDuration.WithLabelValues(realm),
				registrationLimit: registrationLimit{
					max:     s.maxRegistrations[realm],
					refused: s.metrics.LimitExceeded.WithLabelValues(realm, broker.LimitRegistrationsPerSession),
					log:     s.log.With("realm", realm),
				},
				onLeave: func() {
					sessions.Dec()
					s.metrics.SessionLeaves.WithLabelValues(realm, transportName).Inc()
				},
			}
		},
	}
}

// beginConn counts a connection whose opening is in progress, unless the
// server is shutting down.
func (s *Server) beginConn() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.connWG.Add(1)
	return true
}

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
// and starts the session. Peers arriving during shutdown get ABORT.
func (s *Server) attach(peer *transport.Peer, details wamp.Dict) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		select {
		case peer.Send() <- &wamp.Abort{Reason: wamp.ErrSystemShutdown, Details: wamp.Dict{}}:
		default:
		}
		peer.Close()
		return
	}
	s.attaching[peer] = struct{}{}
	s.attachWG.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.attaching, peer)
		s.mu.Unlock()
		s.attachWG.Done()
	}()
	if err := s.nexus.AttachClient(peer, details); err != nil {
		s.log.Info("session refused", "peer", details["peer"], "reason", err.Error())
	}
}

// Addrs returns the bound address of every listener, in configuration order.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]net.Addr, len(s.listeners))
	for i, l := range s.listeners {
		out[i] = l.ln.Addr()
	}
	return out
}

// Shutdown stops accepting connections, sends every session GOODBYE
// (wamp.close.system_shutdown) and closes all connections. When ctx ends
// first, the connections still open are closed at once. It is idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Server) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	started := s.started
	attaching := make([]*transport.Peer, 0, len(s.attaching))
	for p := range s.attaching {
		attaching = append(attaching, p)
	}
	s.mu.Unlock()
	if !started {
		return nil
	}
	// Not ready from now on: load balancers stop sending new clients while
	// the sessions still run (for shutdown_drain_delay), then GOODBYE.
	s.ready.Store(false)
	s.log.Info("shutting down", "drain_delay", s.cfg.ShutdownDrainDelay.String())
	if d := s.cfg.ShutdownDrainDelay; d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}

	// Stop accepting, and let HTTP bridge requests in progress finish
	// (WebSockets are hijacked: http.Server no longer tracks them).
	var drained sync.WaitGroup
	for _, l := range s.listeners {
		if l.http == nil {
			_ = l.ln.Close()
			continue
		}
		drained.Add(1)
		go func() {
			defer drained.Done()
			if err := l.http.Shutdown(ctx); err != nil {
				_ = l.http.Close()
			}
		}()
	}
	drained.Wait()
	// Sessions still in their opening handshake are refused.
	for _, p := range attaching {
		p.Close()
	}
	s.attachWG.Wait()

	// GOODBYE to every session; each peer flushes it before closing.
	s.closeForwarders()
	done := make(chan struct{})
	go func() {
		s.nexus.Close()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("router: shutdown: %w", ctx.Err())
		s.conns.closeAll()
		<-done
	}
	s.conns.closeAll()
	s.connWG.Wait()
	s.serveWG.Wait()
	s.closePoller()
	if s.stopBackground != nil {
		s.stopBackground()
	}
	for _, b := range s.bridges {
		b.running.Wait()
	}
	s.log.Info("shutdown complete")
	return err
}
