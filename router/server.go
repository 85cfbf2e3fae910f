package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	nexusrouter "github.com/gammazero/nexus/v3/router"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-wamp/switchboard/auth"
	"github.com/switchboard-wamp/switchboard/broker"
	"github.com/switchboard-wamp/switchboard/cluster"
	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/dealer"
	"github.com/switchboard-wamp/switchboard/metrics"
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
	cfg *config.Config
	log *slog.Logger

	// Built by New, fixed afterwards (a reload changes what is behind
	// them, not the fields).
	realms      []*realmState
	realmByName map[string]*realmState
	broker      *broker.Broker
	dealer      *dealer.Dealer
	// cluster is this node's membership in a cluster (nil on a single
	// node); set by Start before any listener is bound.
	cluster *cluster.Node
	// clusterRPC is cluster once it routes calls, for the dealer's
	// callbacks from any goroutine.
	clusterRPC atomic.Pointer[cluster.Node]
	// metaCalls holds a token per meta call being answered for the
	// cluster (cluster.max_meta_calls).
	metaCalls   chan struct{}
	authLimiter *auth.FailureLimiter // failed authentications per address
	// peerLimits are the message limits of every peer (a reload that
	// changes them is refused).
	peerLimits config.Limits

	registry *prometheus.Registry
	metrics  *metrics.Metrics
	limits   *metrics.Limits
	observer *observer
	ready    atomic.Bool // /readyz: listeners bound and not shutting down

	mu        sync.Mutex
	started   bool
	closing   bool
	nexus     nexusrouter.Router
	listeners []*listener
	bridges   []*bridgeBackend
	bridgeOf  map[int]*bridgeBackend // by listener index
	attaching map[*transport.Peer]struct{}
	// peers are the welcomed sessions' connections (for a restart-style
	// shutdown).
	peers map[*transport.Peer]struct{}
	// restarting is set once closeForRestart has taken the list of peers.
	restarting bool
	// stopping is the configuration the shutdown in progress follows (a
	// reload meanwhile does not change it); nil before.
	stopping *config.Config
	// teardown undoes what Start set up, for a failed Start and Shutdown.
	teardown teardown

	attachWG sync.WaitGroup
	serveWG  sync.WaitGroup
	connWG   sync.WaitGroup // connections between accept and attach
	conns    connSet
	// handshakes bounds the sessions being opened (max_handshakes);
	// handshakeRefusals and handshakeLogged pace the refusals' log.
	handshakes        handshakeGate
	writers           transport.Activity // sessions written to lately (write_delay applies when busy)
	handshakeRefusals atomic.Int64
	handshakeLogged   atomic.Int64
	// poller watches idle sessions' connections, so that they need no
	// reader goroutine (nil where the system offers no epoll).
	poller atomic.Pointer[transport.Poller]

	shutdownOnce sync.Once
	shutdownErr  error

	slowConsumers atomic.Uint64
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

// New validates cfg and prepares a server; it performs no I/O.
func New(cfg *config.Config, opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log, registry: opts.Registry, peerLimits: cfg.Limits,
		realmByName: map[string]*realmState{}, bridgeOf: map[int]*bridgeBackend{},
		attaching: map[*transport.Peer]struct{}{}, peers: map[*transport.Peer]struct{}{}}
	if s.registry == nil {
		s.registry = prometheus.NewRegistry()
	}
	if err := s.newMetrics(opts.Version); err != nil {
		return nil, fmt.Errorf("router: metrics: %w", err)
	}
	s.authLimiter = auth.NewFailureLimiter(cfg.AuthLimits.MaxFailuresPerMinute, cfg.AuthLimits.FailureDelay)
	var brokerRealms []broker.Realm
	var dealerRealms []dealer.Realm
	for _, rc := range cfg.Realms {
		rs, err := s.newRealmState(rc)
		if err != nil {
			return nil, fmt.Errorf("router: %w", err)
		}
		s.realms = append(s.realms, rs)
		s.realmByName[rs.name] = rs
		br := broker.Realm{Name: rs.name, Authorizer: rs.authz, StrictURI: rs.def.StrictURI, MaxURILength: cfg.Limits.MaxURILength,
			MaxRetainedTopics: rc.Options.MaxRetainedTopics, MaxRetainedBytes: rc.Options.MaxRetainedBytes,
			MaxSubscriptionsPerSession: rc.Options.MaxSubscriptionsPerSession,
			MaxHistoryTopics:           rc.Options.MaxHistoryTopics, MaxHistoryBytes: rc.Options.MaxHistoryBytes}
		for _, h := range rc.Options.EventHistory {
			br.History = append(br.History, broker.History{Topic: h.Topic, Match: h.Match, Limit: h.Limit})
		}
		brokerRealms = append(brokerRealms, br)
		dealerRealms = append(dealerRealms, dealer.Realm{Name: rs.name, Authorizer: rs.authz, StrictURI: rs.def.StrictURI,
			MaxURILength: cfg.Limits.MaxURILength, MaxRegistrationsPerSession: rc.Options.MaxRegistrationsPerSession,
			MaxCallsPerSession: rc.Options.MaxPendingCallsPerSession})
	}
	s.broker = broker.New(brokerRealms, log, s.observer)
	s.dealer = dealer.New(dealerRealms, dealer.Options{Logger: log, Observer: s.observer, PublishMeta: s.publishMeta,
		RegistrationsChanged: func(realm string) {
			if node := s.clusterRPC.Load(); node != nil {
				node.RegistrationsChanged(realm)
			}
		},
		StableIDs: cfg.Cluster.Enabled(),
		Claim: func(realm, uri, match, policy string) error {
			if node := s.clusterRPC.Load(); node != nil {
				return node.ClaimRegistration(realm, uri, match, policy)
			}
			return nil
		}})
	return s, nil
}

// publishMeta publishes one of the router's meta events in realm.
func (s *Server) publishMeta(realm string, topic wamp.URI, args wamp.List) {
	if _, err := s.broker.Publish(realm, nil, string(topic), args, nil, nil); err != nil {
		s.log.Error("cannot publish meta event", "realm", realm, "topic", string(topic), "error", err)
	}
}

// newMetrics registers the server's collectors.
func (s *Server) newMetrics(version string) error {
	if version == "" {
		version = "dev"
	}
	m, err := metrics.New(s.registry, version)
	if err != nil {
		return err
	}
	if err := metrics.RegisterParkedConnections(s.registry, s.parkedConnections); err != nil {
		return err
	}
	s.metrics = m
	s.conns = connSet{maxTotal: s.cfg.Limits.MaxConnections, maxPerIP: s.cfg.Limits.MaxConnectionsPerIP,
		refusing: make(chan struct{}, maxRefusing)}
	s.handshakes.max = int64(s.cfg.Limits.MaxHandshakes)
	if s.limits, err = metrics.NewLimits(s.registry, s.conns.open, s.handshakes.inProgress); err != nil {
		return err
	}
	s.conns.refused = func(limit string) { s.limits.ConnectionsRefused.WithLabelValues(limit).Inc() }
	var realmNames []string
	for _, rc := range s.cfg.Realms {
		realmNames = append(realmNames, rc.Name)
	}
	s.observer = newObserver(m, realmNames)
	return nil
}

// Start creates the routing core and binds every listener before it
// returns. If any step fails, what the steps before it set up is undone:
// no listener stays bound.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("router: already started")
	}
	s.started = true
	if err := s.setUp(ctx); err != nil {
		s.closing, s.stopping = true, s.cfg
		s.mu.Unlock()
		undoCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		s.teardown.run(undoCtx, s.log)
		cancel()
		s.mu.Lock()
		return err
	}
	for _, l := range s.listeners {
		s.serve(l)
		s.log.Info("listening", "address", l.ln.Addr().String(), "transport", l.transport(), "tls", l.cfg.TLS.Enabled())
	}
	s.ready.Store(true)
	return nil
}

// setUp sets up what Start starts, in order, recording in s.teardown how
// each step is undone. The order of the records is the reverse of the
// order of shutdown: stop accepting (and drain HTTP requests), close the
// bridges, stop the background work, end the in-process sessions, say
// GOODBYE to every session, close the poller.
func (s *Server) setUp(ctx context.Context) error {
	if poller, err := transport.NewPoller(); err == nil {
		s.poller.Store(poller)
		s.teardown.add("poller", func(context.Context) {
			if err := poller.Close(); err != nil {
				s.log.Warn("closing the idle-connection poller", "error", err)
			}
		})
	} else {
		s.log.Info("idle sessions keep a reader goroutine", "reason", err.Error())
	}

	if err := s.joinCluster(); err != nil {
		return err
	}

	nexusCfg := &nexusrouter.Config{}
	for _, rs := range s.realms {
		nexusCfg.RealmConfigs = append(nexusCfg.RealmConfigs, rs.def.NexusConfig(rs.authz))
	}
	nx, err := nexusrouter.NewRouter(nexusCfg, nexusLogger{s.log})
	if err != nil {
		return fmt.Errorf("router: %w", err)
	}
	s.nexus = nx
	s.teardown.add("sessions", s.endSessions)

	for _, rs := range s.realms {
		s.teardown.add("realm "+rs.name, func(context.Context) { rs.close() })
		if err := rs.open(s); err != nil {
			return err
		}
	}

	background, stop := context.WithCancel(context.Background())
	s.teardown.add("background", func(context.Context) {
		stop()
		for _, b := range s.bridges {
			b.running.Wait()
		}
	})
	s.teardown.add("bridges", func(context.Context) {
		for _, b := range s.bridges {
			b.close()
		}
	})
	for i, lc := range s.cfg.Listeners {
		l, err := s.bind(ctx, i, lc)
		if err != nil {
			return fmt.Errorf("router: listeners[%d] %s: %w", i, lc.Address, err)
		}
		if len(s.listeners) == 0 {
			s.teardown.add("listeners", s.stopAccepting)
		}
		s.listeners = append(s.listeners, l)
	}
	for _, b := range s.bridges {
		if err := b.start(background); err != nil {
			return fmt.Errorf("router: %w", err)
		}
	}
	return nil
}

// stopAccepting closes every listener, lets HTTP bridge requests in
// progress finish (until ctx ends), and refuses the sessions still in
// their opening handshake.
func (s *Server) stopAccepting(ctx context.Context) {
	s.mu.Lock()
	listeners := s.listeners
	s.mu.Unlock()
	var drained sync.WaitGroup
	for _, l := range listeners {
		if l.http == nil {
			_ = l.ln.Close()
			continue
		}
		drained.Add(1)
		go func() {
			defer drained.Done()
			// WebSockets are hijacked: http.Server no longer tracks them.
			if err := l.http.Shutdown(ctx); err != nil {
				_ = l.http.Close()
			}
			_ = l.ln.Close() // a server that never served leaves it open
		}()
	}
	drained.Wait()
	s.serveWG.Wait()
	s.mu.Lock()
	attaching := make([]*transport.Peer, 0, len(s.attaching))
	for p := range s.attaching {
		attaching = append(attaching, p)
	}
	s.mu.Unlock()
	restart := s.stopConfig().ShutdownMode == config.ShutdownRestart
	var refused sync.WaitGroup
	for _, p := range attaching {
		// A session welcomed meanwhile stays: endSessions ends it as the
		// others (GOODBYE, or a restart's close).
		if p.AbortOpening(restart) {
			// for a restart, with the restart's close code; at once, each
			// may take its write timeout to flush
			refused.Go(p.Close)
		}
	}
	refused.Wait()
	s.attachWG.Wait()
}

// endSessions sends every session GOODBYE (each peer flushes it before
// closing) and closes what is still connected; when ctx ends first, at
// once.
func (s *Server) endSessions(ctx context.Context) {
	if s.stopConfig().ShutdownMode == config.ShutdownRestart {
		s.closeForRestart(ctx)
	}
	done := make(chan struct{})
	go func() {
		s.nexus.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.conns.closeAll()
		<-done
	}
	s.conns.closeAll()
	s.connWG.Wait()
}

// closeForRestart ends every welcomed session's connection without a
// GOODBYE, so that clients reconnect (to this router once it is back, or
// to another node), at random moments over shutdown_close_spread (at most
// half of what is left of ctx), so that they do not all come back at once.
func (s *Server) closeForRestart(ctx context.Context) {
	s.mu.Lock()
	s.restarting = true
	peers := make([]*transport.Peer, 0, len(s.peers))
	for p := range s.peers {
		peers = append(peers, p)
	}
	s.mu.Unlock()
	spread := s.stopConfig().ShutdownCloseSpread
	if d, ok := ctx.Deadline(); ok {
		spread = min(spread, time.Until(d)/2)
	}
	s.log.Info("closing sessions for a restart", "sessions", len(peers), "spread", spread.String())
	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Add(1)
		var at time.Duration
		if spread > 0 {
			at = rand.N(spread)
		}
		go func() {
			defer wg.Done()
			t := time.NewTimer(at)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			p.CloseForRestart()
		}()
	}
	wg.Wait()
}

// trackPeer adds (on) or removes a welcomed session's connection. A
// session welcomed after closeForRestart took its list (its WELCOME was
// queued before, written after) is closed for the restart too.
func (s *Server) trackPeer(p *transport.Peer, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !on {
		delete(s.peers, p)
		return
	}
	s.peers[p] = struct{}{}
	if s.restarting {
		p.EndForRestart() // before nexus's GOODBYE can be written
		go p.Close()
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

// attach hands a connected peer to nexus, which reads HELLO, authenticates
// and starts the session. Peers arriving during shutdown get ABORT, or for
// a restart the restart's close (an ABORT would tell them not to come
// back).
func (s *Server) attach(peer *transport.Peer, details wamp.Dict) {
	s.mu.Lock()
	if s.closing {
		restart := s.stopping.ShutdownMode == config.ShutdownRestart
		s.mu.Unlock()
		if restart {
			peer.CloseForRestart()
			return
		}
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

// stopConfig is the configuration the shutdown in progress follows, or the
// current one (a failed Start's undoing).
func (s *Server) stopConfig() *config.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping != nil {
		return s.stopping
	}
	return s.cfg
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
	s.stopping = s.cfg
	started := s.started
	s.mu.Unlock()
	if !started {
		return nil
	}
	// Not ready from now on: load balancers stop sending new clients while
	// the sessions still run (for shutdown_drain_delay), then GOODBYE.
	s.ready.Store(false)
	s.log.Info("shutting down", "drain_delay", s.stopping.ShutdownDrainDelay.String())
	if d := s.stopping.ShutdownDrainDelay; d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
	s.teardown.run(ctx, s.log)
	s.log.Info("shutdown complete")
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("router: shutdown: %w", err)
	}
	return nil
}
