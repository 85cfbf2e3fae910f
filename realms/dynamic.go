package realms

import (
	"context"
	"sync"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
)

// Caller calls a WAMP procedure in the realm and returns its result.
type Caller func(ctx context.Context, procedure string, args []any) ([]any, map[string]any, error)

// DynamicAuthorizer is Crossbar's dynamic authorizer: it calls
// Procedure(session, uri, action, options), whose answer is a bool or
// {"allow", "disclose"?, "cache"?}. Decisions are cached per session, URI
// and action for CacheTTL (unless the answer says cache: false); any
// failure denies.
type DynamicAuthorizer struct {
	Procedure string
	CacheTTL  time.Duration
	Timeout   time.Duration
	Call      Caller

	mu    sync.Mutex
	cache map[decisionKey]decision
	sweep time.Time
}

type decisionKey struct {
	session wamp.ID
	uri     string
	match   string
	action  Action
}

type decision struct {
	allow, disclose bool
	until           time.Time
}

func (d *DynamicAuthorizer) decide(sub Subject, uri string, action Action) (allow, disclose bool) {
	return d.decideMatch(sub, uri, MatchExact, action)
}

// decideMatch asks about uri under a match policy: options.match is set
// for prefix and wildcard patterns (as Crossbar does for SUBSCRIBE and
// REGISTER), and the decision is cached per policy.
func (d *DynamicAuthorizer) decideMatch(sub Subject, uri, match string, action Action) (allow, disclose bool) {
	key := decisionKey{sub.SessionID, uri, match, action}
	now := time.Now()
	d.mu.Lock()
	if dec, ok := d.cache[key]; ok && now.Before(dec.until) {
		d.mu.Unlock()
		return dec.allow, dec.disclose
	}
	d.mu.Unlock()

	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	session := map[string]any{"session": sub.SessionID, "authid": sub.AuthID, "authrole": sub.Role}
	options := map[string]any{}
	if match != MatchExact {
		options["match"] = match
	}
	args, kwargs, err := d.Call(ctx, d.Procedure, []any{session, uri, string(action), options})
	if err != nil {
		return false, false // failures deny, and are not cached
	}
	cacheable := true
	var answer any
	if len(args) > 0 {
		answer = args[0]
	} else {
		answer = map[string]any(kwargs)
	}
	switch a := answer.(type) {
	case bool:
		allow = a
	default:
		m, ok := wamp.AsDict(a)
		if !ok {
			return false, false
		}
		allow, _ = m["allow"].(bool)
		disclose, _ = m["disclose"].(bool)
		if c, ok := m["cache"].(bool); ok {
			cacheable = c
		}
	}
	if cacheable && d.CacheTTL > 0 {
		d.mu.Lock()
		if d.cache == nil {
			d.cache = map[decisionKey]decision{}
		}
		if now.After(d.sweep) { // drop expired decisions now and then
			for k, v := range d.cache {
				if now.After(v.until) {
					delete(d.cache, k)
				}
			}
			d.sweep = now.Add(d.CacheTTL)
		}
		d.cache[key] = decision{allow: allow, disclose: disclose, until: now.Add(d.CacheTTL)}
		d.mu.Unlock()
	}
	return allow, disclose
}
