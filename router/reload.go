package router

import (
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"

	nexusauth "github.com/gammazero/nexus/v3/router/auth"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/bridge"
	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/realms"
)

// methodSwitch is what nexus knows as a realm's authenticator for one
// method; Reload swaps the authenticator behind it.
type methodSwitch struct {
	method string
	cur    atomic.Pointer[nexusauth.Authenticator]
}

var _ nexusauth.Authenticator = (*methodSwitch)(nil)

func (m *methodSwitch) AuthMethod() string { return m.method }

func (m *methodSwitch) Authenticate(sid wamp.ID, details wamp.Dict, client wamp.Peer) (*wamp.Welcome, error) {
	a := m.cur.Load()
	if a == nil {
		return nil, fmt.Errorf("authmethod %s is no longer enabled", m.method)
	}
	return (*a).Authenticate(sid, details, client)
}

// ErrRestartNeeded means a new configuration changes what only a restart
// can (listeners, realms, the set of auth methods, metrics).
var ErrRestartNeeded = errors.New("router: change needs a restart")

// Reload applies a new configuration to the running router: principals,
// tickets, keys, secrets, permissions, authorizers, bridge keys. Sessions stay;
// new rules apply to new joins and requests. A configuration that does not
// validate, or that changes what needs a restart, is refused and the old one
// stays in force.
func (s *Server) Reload(cfg *config.Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	old := s.cfg
	s.mu.Unlock()
	if err := restartNeeded(old, cfg); err != nil {
		return err
	}
	// Build everything first; apply only if all of it builds.
	type realmUpdate struct {
		auth  map[string]nexusauth.Authenticator
		roles []realms.Role
	}
	updates := make([]realmUpdate, len(cfg.Realms))
	for i, rc := range cfg.Realms {
		r, err := s.realmFromConfig(rc)
		if err != nil {
			return fmt.Errorf("router: reload: %w", err)
		}
		u := realmUpdate{auth: map[string]nexusauth.Authenticator{}}
		for _, a := range r.Authenticators {
			if _, ok := s.realms[i].switches[a.AuthMethod()]; !ok {
				return fmt.Errorf("%w: realm %s gains authmethod %s", ErrRestartNeeded, rc.Name, a.AuthMethod())
			}
			u.auth[a.AuthMethod()] = s.guardAuthenticator(rc.Name, a)
		}
		u.roles = r.Roles
		updates[i] = u
	}
	s.authLimiter.SetLimits(cfg.AuthLimits.MaxFailuresPerMinute, cfg.AuthLimits.FailureDelay)
	for i := range cfg.Realms {
		s.realms[i].authz.Protect(updates[i].roles, protectedProcedures(cfg.Realms[i])...)
		for method, sw := range s.realms[i].switches {
			if a, ok := updates[i].auth[method]; ok {
				sw.cur.Store(&a)
			} else {
				sw.cur.Store(nil)
			}
		}
	}
	for li, lc := range cfg.Listeners {
		if lc.Bridge == nil {
			continue
		}
		if be := s.bridgeOf[li]; be != nil {
			be.handler.SetKeys(bridgeKeys(lc.Bridge), lc.Bridge.Role)
		}
	}
	s.mu.Lock()
	s.cfg = cfg
	s.mu.Unlock()
	s.log.Info("configuration reloaded")
	return nil
}

// protectedProcedures are the realm's procedures (beyond its roles'
// authorizers) that only an exact permission lets a role register: the
// dynamic authenticator's, which receives tickets and cookies.
func protectedProcedures(rc config.Realm) []string {
	if d := rc.Auth.Dynamic; d != nil {
		return []string{d.Procedure}
	}
	return nil
}

func bridgeKeys(cfg *config.Bridge) []bridge.Key {
	keys := make([]bridge.Key, len(cfg.Keys))
	for i, k := range cfg.Keys {
		keys[i] = bridge.Key{Key: k.Key, Secret: k.Secret, BearerToken: k.BearerToken, AuthID: k.AuthID, Role: k.Role}
	}
	return keys
}

// restartNeeded compares what a reload cannot change.
func restartNeeded(old, cfg *config.Config) error {
	strip := func(c *config.Config) config.Config {
		out := *c
		out.Log = config.Log{}
		out.ShutdownTimeout, out.ShutdownDrainDelay = 0, 0
		out.ShutdownMode, out.ShutdownCloseSpread = "", 0
		out.Listeners = make([]config.Listener, len(c.Listeners))
		for i, l := range c.Listeners {
			if l.Bridge != nil {
				b := *l.Bridge
				b.Keys, b.Role = nil, ""
				l.Bridge = &b
			}
			out.Listeners[i] = l
		}
		out.Realms = make([]config.Realm, len(c.Realms))
		for i, r := range c.Realms {
			out.Realms[i] = config.Realm{Name: r.Name, Options: r.Options}
		}
		return out
	}
	a, b := strip(old), strip(cfg)
	if !reflect.DeepEqual(a.Listeners, b.Listeners) {
		return fmt.Errorf("%w: listeners changed", ErrRestartNeeded)
	}
	if !reflect.DeepEqual(a.Realms, b.Realms) {
		return fmt.Errorf("%w: realms or their options changed", ErrRestartNeeded)
	}
	if !reflect.DeepEqual(a.Metrics, b.Metrics) {
		return fmt.Errorf("%w: metrics changed", ErrRestartNeeded)
	}
	if a.Limits != b.Limits {
		return fmt.Errorf("%w: limits changed", ErrRestartNeeded)
	}
	if a.Cluster != b.Cluster {
		return fmt.Errorf("%w: cluster changed", ErrRestartNeeded)
	}
	return nil
}
