package router

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/bridge"
	"github.com/switchboard-wamp/switchboard/broker"
	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/dealer"
	"github.com/switchboard-wamp/switchboard/metrics"
	"github.com/switchboard-wamp/switchboard/realms"
)

// bridgeBackend is the router as one HTTP bridge sees it: publications go
// straight into the broker, calls into the dealer from an in-process
// session per key.
type bridgeBackend struct {
	s     *Server
	realm string
	authz *realms.Authorizer

	mu sync.Mutex
	// callers are by identity, not by key name: a reload may give a key
	// another authid or role, which its calls then disclose.
	callers map[bridge.Identity]*dealer.Local

	handler       *bridge.Handler
	forwarders    []*bridge.Forwarder
	unsubscribe   []func()
	callees       []config.HTTPCallee
	calleeSession *dealer.Local
	httpCallees   []*bridge.HTTPCallee
	running       sync.WaitGroup
}

var _ bridge.Backend = (*bridgeBackend)(nil)

// mountBridge serves a listener's bridge on mux and starts its forwarders
// and HTTP callees.
func (s *Server) mountBridge(mux *http.ServeMux, listener int, cfg *config.Bridge) error {
	h, be, err := s.newBridge(cfg)
	if err != nil {
		return err
	}
	be.handler = h
	s.bridgeOf[listener] = be
	routes := bridge.Routes{
		Wrap: func(endpoint string, h http.Handler) http.Handler {
			return s.observeHTTP(endpoint, s.cfg.Log.AccessLog, h)
		},
	}
	if cfg.PublishPath != config.PathOff {
		routes.PublishPath = cfg.PublishPath
	}
	if cfg.CallPath != config.PathOff {
		routes.CallPath = cfg.CallPath
	}
	if cfg.PositionPath != config.PathOff {
		routes.PositionPath = cfg.PositionPath
	}
	for _, w := range cfg.Webhooks {
		routes.Webhooks = append(routes.Webhooks, bridge.WebhookOptions{Name: w.Name, Topic: w.Topic, GitHubSecret: w.GitHubSecret})
	}
	h.Mount(mux, routes)
	for _, f := range cfg.Forwards {
		fwd := bridge.NewForwarder(bridge.ForwardOptions{
			URL: f.URL, Secret: f.Secret, QueueSize: f.QueueSize, MaxRetries: f.MaxRetries,
			Timeout: f.Timeout, Logger: s.log, Observer: forwardObserver{s.metrics},
		})
		unsubscribe, err := s.broker.SubscribeLocal(cfg.Realm, f.Topic, f.Match, func(ev broker.LocalEvent) {
			fwd.Enqueue(bridge.ForwardEvent{Topic: ev.Topic, Args: ev.Args, Kwargs: ev.Kwargs, Publication: uint64(ev.Publication)})
		})
		if err != nil {
			return fmt.Errorf("bridge: forward %s: %w", f.Topic, err)
		}
		be.unsubscribe = append(be.unsubscribe, unsubscribe)
		be.forwarders = append(be.forwarders, fwd)
	}
	be.callees = cfg.Callees
	return nil
}

// start begins forwarding and registers the HTTP callees; nexus is running.
func (b *bridgeBackend) start(ctx context.Context) error {
	for _, fwd := range b.forwarders {
		b.running.Add(1)
		go func() {
			defer b.running.Done()
			fwd.Run(ctx)
		}()
	}
	if len(b.callees) == 0 {
		return nil
	}
	c, err := b.s.dealer.JoinLocal(b.realm, "http-callee", "trusted", nil)
	if err != nil {
		return fmt.Errorf("bridge: connect callee session: %w", err)
	}
	b.calleeSession = c
	for _, cc := range b.callees {
		callee := bridge.NewHTTPCallee(bridge.CalleeOptions{URL: cc.URL, Secret: cc.Secret, Timeout: cc.Timeout,
			AnswerLimits: bridge.BodyLimits{MaxNestingDepth: b.s.cfg.Limits.MaxNestingDepth, MaxItems: b.s.cfg.Limits.MaxMessageItems},
			Logger:       b.s.log, Observer: calleeObserver{b.s.metrics}})
		b.httpCallees = append(b.httpCallees, callee)
		proc := cc.Procedure
		_, err := c.Register(proc, wamp.Dict{wamp.OptDiscloseCaller: true}, func(ctx context.Context, inv *wamp.Invocation) (wamp.List, wamp.Dict, *dealer.CallError) {
			caller := map[string]any{"session": inv.Details["caller"], "authid": inv.Details["caller_authid"], "authrole": inv.Details["caller_authrole"]}
			args, kwargs, be := callee.Answer(ctx, proc, inv.Arguments, inv.ArgumentsKw, caller)
			if be != nil {
				return nil, nil, &dealer.CallError{URI: wamp.URI(be.URI), Args: be.Args, Kwargs: be.Kwargs}
			}
			return args, kwargs, nil
		})
		if err != nil {
			return fmt.Errorf("bridge: register HTTP callee %s: %w", proc, err)
		}
	}
	return nil
}

func (s *Server) newBridge(cfg *config.Bridge) (*bridge.Handler, *bridgeBackend, error) {
	be := &bridgeBackend{s: s, realm: cfg.Realm, callers: map[bridge.Identity]*dealer.Local{}}
	rs := s.realmByName[cfg.Realm]
	if rs == nil {
		return nil, nil, fmt.Errorf("bridge: realm %q is not configured", cfg.Realm)
	}
	be.authz = rs.authz
	requireIP, err := parseCIDRs(cfg.RequireIP)
	if err != nil {
		return nil, nil, err
	}
	trusted, err := parseCIDRs(cfg.TrustedProxies)
	if err != nil {
		return nil, nil, err
	}
	s.bridges = append(s.bridges, be)
	keys := bridgeKeys(cfg)
	return bridge.New(bridge.Options{
		RequireIP:           requireIP,
		TrustedProxies:      trusted,
		RequireTLS:          cfg.RequireTLS,
		Backend:             be,
		Keys:                keys,
		AnonymousRole:       cfg.Role,
		MaxBodySize:         cfg.MaxBodySize,
		BodyLimits:          bridge.BodyLimits{MaxNestingDepth: s.cfg.Limits.MaxNestingDepth, MaxItems: s.cfg.Limits.MaxMessageItems},
		TimestampDeltaLimit: cfg.TimestampDeltaLimit,
		CallTimeout:         cfg.CallTimeout,
		ReadTimeout:         cfg.ReadTimeout,
		AllowedOrigins:      cfg.AllowedOrigins,
		CrossbarCompat:      cfg.CrossbarCompat,
		Logger:              s.log,
		Observer:            bridgeObserver{s.metrics},
	}), be, nil
}

// bridgeObserver counts the bridge's refusals.
type bridgeObserver struct{ m *metrics.Metrics }

func (o bridgeObserver) Refused(reason string) { o.m.BridgeRefused.WithLabelValues(reason).Inc() }

// calleeObserver counts HTTP callee failures.
type calleeObserver struct{ m *metrics.Metrics }

func (o calleeObserver) Failed(reason string) { o.m.CalleeFailures.WithLabelValues(reason).Inc() }

func parseCIDRs(cidrs []string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, c := range cidrs {
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			return nil, fmt.Errorf("bridge: %w", err)
		}
		out = append(out, n)
	}
	return out, nil
}

func (b *bridgeBackend) Authorize(id bridge.Identity, uri string, action bridge.Action) (bool, bool) {
	a := realms.ActionPublish
	if action == bridge.ActionCall {
		a = realms.ActionCall
	}
	p, ok := b.authz.Permission(realms.Subject{AuthID: id.AuthID, Role: id.Role}, uri, a)
	if !ok {
		return false, false
	}
	if a == realms.ActionCall {
		return true, p.Disclose.Caller
	}
	return true, p.Disclose.Publisher
}

func (b *bridgeBackend) Publish(id bridge.Identity, disclose bool, req bridge.PublishRequest) (uint64, error) {
	pid, err := b.s.broker.Publish(b.realm, &broker.Publisher{AuthID: id.AuthID, AuthRole: id.Role, Disclose: disclose},
		req.Topic, req.Args, req.Kwargs, req.Options)
	switch {
	case errors.Is(err, broker.ErrInvalidURI):
		return 0, &bridge.Error{URI: string(wamp.ErrInvalidURI), Args: []any{err.Error()}}
	case errors.Is(err, broker.ErrInvalidArgument):
		return 0, &bridge.Error{URI: string(wamp.ErrInvalidArgument), Args: []any{err.Error()}}
	case errors.Is(err, broker.ErrLimitExceeded):
		return 0, &bridge.Error{URI: string(broker.LimitExceededURI), Args: []any{err.Error()}}
	case errors.Is(err, broker.ErrClusterUnavailable):
		return 0, &bridge.Error{URI: string(broker.ClusterUnavailableURI), Args: []any{"delivered on this node only: " + err.Error()}}
	case err != nil:
		return 0, err
	}
	return uint64(pid), nil
}

func (b *bridgeBackend) Position(topic string) (uint64, bool, error) {
	id, ok, err := b.s.broker.LastPublication(b.realm, topic)
	if errors.Is(err, broker.ErrClusterUnavailable) {
		return 0, false, &bridge.Error{URI: string(broker.ClusterUnavailableURI), Args: []any{"the cluster's history cannot be read: " + err.Error()}}
	}
	return uint64(id), ok, err
}

func (b *bridgeBackend) Call(ctx context.Context, id bridge.Identity, disclose bool, req bridge.CallRequest) ([]any, map[string]any, error) {
	c, err := b.caller(id)
	if err != nil {
		return nil, nil, err
	}
	opts := wamp.Dict{}
	if disclose {
		opts[wamp.OptDiscloseMe] = true
	}
	res, err := c.Call(ctx, req.Procedure, opts, req.Args, req.Kwargs)
	if err != nil {
		var callErr *dealer.CallError
		if errors.As(err, &callErr) {
			return nil, nil, &bridge.Error{URI: string(callErr.URI), Args: callErr.Args, Kwargs: callErr.Kwargs}
		}
		if ctx.Err() != nil {
			return nil, nil, &bridge.Error{URI: string(wamp.ErrTimeout), Args: []any{"no result before the call timeout"}}
		}
		return nil, nil, err
	}
	return res.Arguments, res.ArgumentsKw, nil
}

// caller returns the in-process session that calls for a key with its
// current identity.
func (b *bridgeBackend) caller(id bridge.Identity) (*dealer.Local, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c, ok := b.callers[id]; ok {
		return c, nil
	}
	if b.callers == nil {
		return nil, errors.New("bridge: router is shutting down")
	}
	c, err := b.s.dealer.JoinLocal(b.realm, id.AuthID, id.Role, b.s.realmByName[b.realm].callNexus)
	if err != nil {
		return nil, fmt.Errorf("bridge: connect caller session: %w", err)
	}
	b.callers[id] = c
	return c, nil
}

// close ends the in-process sessions (later calls fail) and stops the
// forwarders once ctx (the router's background context) is cancelled.
func (b *bridgeBackend) close() {
	b.mu.Lock()
	callers := b.callers
	b.callers = nil
	b.mu.Unlock()
	for _, c := range callers {
		c.Close()
	}
	if b.calleeSession != nil {
		b.calleeSession.Close()
	}
	for _, c := range b.httpCallees {
		c.Close()
	}
	for _, unsubscribe := range b.unsubscribe {
		unsubscribe()
	}
}
