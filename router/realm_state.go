package router

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/auth"
	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/dealer"
	"github.com/switchboard-wamp/switchboard/realms"
)

// realmState is everything the server keeps for one realm.
type realmState struct {
	name string
	// def is the realm as nexus is configured with it; authz decides for
	// nexus and the broker alike; switches hold, per method, the
	// authenticator nexus calls (Reload swaps what is behind them).
	def      realms.Realm
	authz    *realms.Authorizer
	switches map[string]*methodSwitch
	// maxRegistrations is max_registrations_per_session (a realm option,
	// which a reload cannot change).
	maxRegistrations int

	// While the server runs: events relays nexus's own events into the
	// broker and calls nexus's session meta procedures for in-process
	// sessions; caller calls procedures for the dynamic authenticator and
	// authorizers through the dealer.
	mu     sync.Mutex
	events *client.Client
	caller *dealer.Local
}

// newRealmState builds a realm's authorization and authenticators.
func (s *Server) newRealmState(rc config.Realm) (*realmState, error) {
	rs := &realmState{name: rc.Name, switches: map[string]*methodSwitch{},
		maxRegistrations: rc.Options.MaxRegistrationsPerSession}
	def, err := s.realmFromConfig(rc)
	if err != nil {
		return nil, err
	}
	for i, a := range def.Authenticators {
		guarded := s.guardAuthenticator(def.Name, a)
		sw := &methodSwitch{method: a.AuthMethod()}
		sw.cur.Store(&guarded)
		rs.switches[sw.method] = sw
		def.Authenticators[i] = sw
	}
	rs.def = def
	rs.authz = realms.NewAuthorizer(def.Roles)
	rs.authz.Protect(def.Roles, protectedProcedures(rc)...)
	return rs, nil
}

// open starts the realm's in-process sessions.
func (rs *realmState) open(s *Server) error {
	events, err := client.ConnectLocal(s.nexus, client.Config{Realm: rs.name, Logger: nexusLogger{s.log}})
	if err != nil {
		return fmt.Errorf("router: realm %s: connect event forwarder: %w", rs.name, err)
	}
	caller, err := s.dealer.JoinLocal(rs.name, "", "trusted", rs.callNexus)
	if err != nil {
		_ = events.Close()
		return fmt.Errorf("router: realm %s: connect caller: %w", rs.name, err)
	}
	rs.mu.Lock()
	rs.events, rs.caller = events, caller
	rs.mu.Unlock()
	// nexus publishes session and registration meta events and testaments
	// in its own broker, which no client uses: one subscription to
	// everything there relays them into switchboard's broker.
	err = events.Subscribe("", func(ev *wamp.Event) {
		topic, _ := wamp.AsString(ev.Details["topic"])
		// Subscription and registration meta events come from our broker
		// and dealer, not nexus's.
		if topic == "" || strings.HasPrefix(topic, "wamp.subscription.") || strings.HasPrefix(topic, "wamp.registration.") {
			return
		}
		if _, err := s.broker.Publish(rs.name, nil, topic, ev.Arguments, ev.ArgumentsKw, nil); err != nil {
			s.log.Error("cannot forward router event", "realm", rs.name, "error", err)
		}
	}, wamp.Dict{wamp.OptMatch: wamp.MatchPrefix})
	if err != nil {
		return fmt.Errorf("router: realm %s: subscribe event forwarder: %w", rs.name, err)
	}
	return nil
}

// close ends the realm's in-process sessions; later calls fail.
func (rs *realmState) close() {
	rs.mu.Lock()
	events, caller := rs.events, rs.caller
	rs.events, rs.caller = nil, nil
	rs.mu.Unlock()
	if caller != nil {
		caller.Close()
	}
	if events != nil {
		_ = events.Close()
	}
}

// callNexus calls one of nexus's session meta procedures (wamp.session.*)
// for an in-process session of the dealer.
func (rs *realmState) callNexus(ctx context.Context, procedure string, options wamp.Dict, args wamp.List, kwargs wamp.Dict) (*wamp.Result, error) {
	rs.mu.Lock()
	c := rs.events
	rs.mu.Unlock()
	if c == nil {
		return nil, errors.New("router is not running")
	}
	res, err := c.Call(ctx, procedure, options, args, kwargs, nil)
	if err != nil {
		var rpcErr client.RPCError
		if errors.As(err, &rpcErr) {
			return nil, &dealer.CallError{URI: rpcErr.Err.Error, Args: rpcErr.Err.Arguments, Kwargs: rpcErr.Err.ArgumentsKw}
		}
		return nil, err
	}
	return res, nil
}

// call calls procedure in the realm from the router's in-process session.
func (rs *realmState) call(ctx context.Context, procedure string, args []any) ([]any, map[string]any, error) {
	rs.mu.Lock()
	c := rs.caller
	rs.mu.Unlock()
	if c == nil {
		return nil, nil, errors.New("router is not running")
	}
	res, err := c.Call(ctx, procedure, nil, args, nil)
	if err != nil {
		var callErr *dealer.CallError
		if errors.As(err, &callErr) {
			return nil, nil, fmt.Errorf("%s: %v", callErr.URI, callErr.Args)
		}
		return nil, nil, err
	}
	return res.Arguments, res.ArgumentsKw, nil
}

// callIn returns a function that calls procedures of realm (for the dynamic
// authenticator and authorizers, which exist before the realm state).
func (s *Server) callIn(realm string) auth.Caller {
	return func(ctx context.Context, procedure string, args []any) ([]any, map[string]any, error) {
		rs := s.realmByName[realm]
		if rs == nil {
			return nil, nil, errors.New("router is not running")
		}
		return rs.call(ctx, procedure, args)
	}
}
