package router

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/bridge"
	"github.com/switchboard-wamp/switchboard/broker"
	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/realms"
)

// bridgeBackend is the router as one HTTP bridge sees it: publications go
// straight into the broker, calls through nexus's dealer from an in-process
// session per key.
type bridgeBackend struct {
	s     *Server
	realm string
	authz *realms.Authorizer

	mu      sync.Mutex
	callers map[string]*client.Client // by key name ("" for keyless requests)
}

var _ bridge.Backend = (*bridgeBackend)(nil)

func (s *Server) newBridge(cfg *config.Bridge) (*bridge.Handler, error) {
	be := &bridgeBackend{s: s, realm: cfg.Realm, callers: map[string]*client.Client{}}
	for i, r := range s.realms {
		if r.Name == cfg.Realm {
			be.authz = s.authz[i]
		}
	}
	if be.authz == nil {
		return nil, fmt.Errorf("bridge: realm %q is not configured", cfg.Realm)
	}
	s.bridges = append(s.bridges, be)
	keys := make([]bridge.Key, len(cfg.Keys))
	for i, k := range cfg.Keys {
		keys[i] = bridge.Key{Key: k.Key, Secret: k.Secret, BearerToken: k.BearerToken, AuthID: k.AuthID, Role: k.Role}
	}
	return bridge.New(bridge.Options{
		Backend:             be,
		Keys:                keys,
		AnonymousRole:       cfg.Role,
		MaxBodySize:         cfg.MaxBodySize,
		TimestampDeltaLimit: cfg.TimestampDeltaLimit,
		CallTimeout:         cfg.CallTimeout,
		CrossbarCompat:      cfg.CrossbarCompat,
		Logger:              s.log,
	}), nil
}

func (b *bridgeBackend) Authorize(role, uri string, action bridge.Action) (bool, bool) {
	a := realms.ActionPublish
	if action == bridge.ActionCall {
		a = realms.ActionCall
	}
	p, ok := b.authz.Permission(role, uri, a)
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
	case err != nil:
		return 0, err
	}
	return uint64(pid), nil
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
	res, err := c.Call(ctx, req.Procedure, opts, req.Args, req.Kwargs, nil)
	if err != nil {
		var rpcErr client.RPCError
		if errors.As(err, &rpcErr) {
			return nil, nil, &bridge.Error{URI: string(rpcErr.Err.Error), Args: rpcErr.Err.Arguments, Kwargs: rpcErr.Err.ArgumentsKw}
		}
		if ctx.Err() != nil {
			return nil, nil, &bridge.Error{URI: string(wamp.ErrTimeout), Args: []any{"no result before the call timeout"}}
		}
		return nil, nil, err
	}
	return res.Arguments, res.ArgumentsKw, nil
}

// caller returns the in-process session that calls for a key.
func (b *bridgeBackend) caller(id bridge.Identity) (*client.Client, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c, ok := b.callers[id.Key]; ok && c.Connected() {
		return c, nil
	}
	if b.callers == nil {
		return nil, errors.New("bridge: router is shutting down")
	}
	c, err := client.ConnectLocal(b.s.nexus, client.Config{
		Realm:        b.realm,
		HelloDetails: wamp.Dict{"authid": id.AuthID},
		Logger:       nexusLogger{b.s.log},
	})
	if err != nil {
		return nil, fmt.Errorf("bridge: connect caller session: %w", err)
	}
	b.callers[id.Key] = c
	return c, nil
}

// close ends the in-process sessions; later calls fail.
func (b *bridgeBackend) close() {
	b.mu.Lock()
	callers := b.callers
	b.callers = nil
	b.mu.Unlock()
	for _, c := range callers {
		_ = c.Close()
	}
}
