package config

import (
	"fmt"
	"slices"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
)

// Realm is one WAMP realm with its roles.
type Realm struct {
	// Name is the realm URI clients join, e.g. "realm1". Required, unique.
	Name string `mapstructure:"name" default:"-"`
	// Anonymous, when set, admits clients that do not authenticate, with the
	// given role. Omit it to forbid anonymous joins. Same as auth.anonymous.
	Anonymous *Anonymous `mapstructure:"anonymous"`
	// Auth configures how clients authenticate.
	Auth Auth `mapstructure:"auth"`
	// Roles are the roles sessions of this realm may have.
	Roles []Role `mapstructure:"roles"`
	// Options are realm-wide routing options.
	Options RealmOptions `mapstructure:"options"`
}

// Role is a named set of permissions.
type Role struct {
	// Name is the role name (authrole). Required, unique within the realm.
	Name string `mapstructure:"name" default:"-"`
	// Permissions decide what sessions of this role may do. The most
	// specific match wins (exact, then longest prefix, then wildcard); a URI
	// no permission matches is denied. Default: none (deny everything).
	Permissions []Permission `mapstructure:"permissions"`
	// Authorizer, when set, is a WAMP procedure that decides instead of the
	// permissions: authorize(session, uri, action, options) -> bool or
	// {allow, disclose?, cache?}. Failures deny. Default "".
	Authorizer string `mapstructure:"authorizer" default:""`
	// AuthorizerCache is how long a session's decisions are kept (per
	// session, uri and action). "0s" asks every time. Default "60s".
	AuthorizerCache time.Duration `mapstructure:"authorizer_cache" default:"60s"`
}

// Permission grants actions on the URIs it matches.
type Permission struct {
	// URI is the URI, prefix or wildcard pattern. With match prefix, "" matches
	// every URI. Default "".
	URI string `mapstructure:"uri" default:""`
	// Match is exact, prefix or wildcard. Default "exact".
	Match string `mapstructure:"match" default:"exact"`
	// Allow lists the allowed actions. Default: all false.
	Allow Allow `mapstructure:"allow"`
	// Disclose makes the router reveal the identity of this role's callers
	// and publishers to callees and subscribers. Default: all false.
	Disclose Disclose `mapstructure:"disclose"`
}

// Allow lists the four WAMP actions a permission may grant.
type Allow struct {
	// Call allows CALL. Default false.
	Call bool `mapstructure:"call" default:"false"`
	// Register allows REGISTER. Default false.
	Register bool `mapstructure:"register" default:"false"`
	// Publish allows PUBLISH. Default false.
	Publish bool `mapstructure:"publish" default:"false"`
	// Subscribe allows SUBSCRIBE. Default false.
	Subscribe bool `mapstructure:"subscribe" default:"false"`
}

// Disclose controls identity disclosure, as Crossbar's permission disclose.
type Disclose struct {
	// Caller discloses the caller's session ID, authid and authrole to the
	// callee. Default false.
	Caller bool `mapstructure:"caller" default:"false"`
	// Publisher discloses the publisher's session ID, authid and authrole to
	// subscribers. Default false.
	Publisher bool `mapstructure:"publisher" default:"false"`
}

// RealmOptions are realm-wide routing options.
type RealmOptions struct {
	// StrictURI enforces strict URIs (lowercase letters, digits and "_"
	// components) in messages. Default false.
	StrictURI bool `mapstructure:"strict_uri" default:"false"`
	// EventHistory keeps the last events of matching topics for
	// wamp.subscription.get_events. Default: none.
	EventHistory []EventHistory `mapstructure:"event_history"`
	// MaxRetainedTopics bounds how many topics of the realm keep a retained
	// event; a retained publication to one more topic is refused with
	// switchboard.error.limit_exceeded (replacing a topic's event is not one
	// more). Default 10000.
	MaxRetainedTopics int `mapstructure:"max_retained_topics" default:"10000"`
	// MaxRetainedBytes bounds the estimated memory of the realm's retained
	// events, in bytes. Default 16777216 (16 MiB).
	MaxRetainedBytes int `mapstructure:"max_retained_bytes" default:"16777216"`
	// MaxHistoryTopics bounds how many topics keep events for
	// event_history across all its entries; a new topic past it evicts the
	// least recently published topic's events. Default 10000.
	MaxHistoryTopics int `mapstructure:"max_history_topics" default:"10000"`
	// MaxHistoryBytes bounds the estimated memory of the realm's history;
	// past it the oldest events of the least recently published topics
	// are evicted. Default 16777216 (16 MiB).
	MaxHistoryBytes int `mapstructure:"max_history_bytes" default:"16777216"`
	// MaxSubscriptionsPerSession bounds one session's subscriptions; one
	// more is refused with switchboard.error.limit_exceeded. Default 1000.
	MaxSubscriptionsPerSession int `mapstructure:"max_subscriptions_per_session" default:"1000"`
	// MaxRegistrationsPerSession bounds one session's registrations
	// (including those it is still waiting for); one more is refused with
	// switchboard.error.limit_exceeded. Default 1000.
	MaxRegistrationsPerSession int `mapstructure:"max_registrations_per_session" default:"1000"`
	// MaxPendingCallsPerSession bounds one session's calls in flight (as a
	// caller); one more CALL is answered with ERROR
	// switchboard.error.limit_exceeded. The router's in-process sessions
	// (HTTP bridge) are not bounded by it. Default 1000.
	MaxPendingCallsPerSession int `mapstructure:"max_pending_calls_per_session" default:"1000"`
	// EnableMetaKill offers the session meta procedures wamp.session.kill,
	// kill_by_authid and kill_by_authrole (to roles allowed to call them;
	// in a cluster they reach every node). Default false.
	EnableMetaKill bool `mapstructure:"enable_meta_kill" default:"false"`
}

// EventHistory keeps recent events of the topics it matches.
type EventHistory struct {
	// Topic is the topic URI or pattern. Required.
	Topic string `mapstructure:"topic" default:"-"`
	// Match is exact, prefix or wildcard. Default "exact".
	Match string `mapstructure:"match" default:"exact"`
	// Limit is how many recent events are kept. Required, > 0.
	Limit int `mapstructure:"limit" default:"-"`
}

// Match policies of permissions and event history.
const (
	MatchExact    = "exact"
	MatchPrefix   = "prefix"
	MatchWildcard = "wildcard"
)

func validateRealm(ps *problems, key string, r Realm) {
	if r.Name == "" {
		ps.add(key+".name", "required")
	} else if !wamp.URI(r.Name).ValidURI(r.Options.StrictURI, "") {
		ps.add(key+".name", "want a realm URI like \"realm1\" or \"com.example\", got %q", r.Name)
	}
	roles := map[string]int{}
	for j, role := range r.Roles {
		rkey := fmt.Sprintf("%s.roles[%d]", key, j)
		if role.Name == "" {
			ps.add(rkey+".name", "required")
		} else if first, dup := roles[role.Name]; dup {
			ps.add(rkey+".name", "duplicate role %q (also roles[%d])", role.Name, first)
		} else {
			roles[role.Name] = j
		}
		if role.Authorizer != "" && !wamp.URI(role.Authorizer).ValidURI(false, "") {
			ps.add(rkey+".authorizer", "want a procedure URI, got %q", role.Authorizer)
		}
		if role.AuthorizerCache < 0 {
			ps.add(rkey+".authorizer_cache", "want a duration >= 0, got %q", role.AuthorizerCache.String())
		}
		type uriMatch struct{ uri, match string }
		perms := map[uriMatch]int{}
		for k, p := range role.Permissions {
			pkey := fmt.Sprintf("%s.permissions[%d]", rkey, k)
			if validateMatch(ps, pkey+".match", p.Match) && !validPattern(p.URI, p.Match) {
				ps.add(pkey+".uri", "not a valid %s URI: %q", p.Match, p.URI)
			}
			um := uriMatch{p.URI, p.Match}
			if first, dup := perms[um]; dup {
				ps.add(pkey, "duplicate permission for %s URI %q (also permissions[%d])", p.Match, p.URI, first)
			} else {
				perms[um] = k
			}
		}
	}
	if r.Auth.Anonymous != nil && r.Anonymous != r.Auth.Anonymous {
		ps.add(key+".auth.anonymous", "also set as %s.anonymous: keep one", key)
	}
	validateAuth(ps, key+".auth", r.Auth, func(role string) bool { _, ok := roles[role]; return ok })
	validateAuthProcedures(ps, key, r)
	if d := r.Auth.Dynamic; d != nil && r.Anonymous != nil && slices.Contains(d.Methods, "anonymous") {
		ps.add(key+".auth.dynamic.methods", "anonymous joins are decided by the dynamic authenticator: remove %s.anonymous", key)
	}
	if w := r.Auth.Webhook; w != nil && r.Anonymous != nil && slices.Contains(w.Methods, "anonymous") {
		ps.add(key+".auth.webhook.methods", "anonymous joins are decided by the webhook: remove %s.anonymous", key)
	}
	if r.Anonymous != nil {
		if r.Anonymous.Role == "" {
			ps.add(key+".anonymous.role", "required")
		} else if _, ok := roles[r.Anonymous.Role]; !ok {
			ps.add(key+".anonymous.role", "role %q is not defined in %s.roles", r.Anonymous.Role, key)
		}
	}
	for j, h := range r.Options.EventHistory {
		hkey := fmt.Sprintf("%s.options.event_history[%d]", key, j)
		if h.Topic == "" && h.Match != MatchPrefix { // "" with prefix: every topic
			ps.add(hkey+".topic", "required (\"\" only with match prefix: every topic)")
		} else if h.Topic != "" && validateMatch(ps, hkey+".match", h.Match) && !validPattern(h.Topic, h.Match) {
			ps.add(hkey+".topic", "not a valid %s URI: %q", h.Match, h.Topic)
		}
		if h.Limit <= 0 {
			ps.add(hkey+".limit", "want a positive number of events, got %d", h.Limit)
		}
	}
	for _, l := range []struct {
		key  string
		v    int
		what string
	}{
		{"max_retained_topics", r.Options.MaxRetainedTopics, "topics"},
		{"max_retained_bytes", r.Options.MaxRetainedBytes, "bytes"},
		{"max_history_topics", r.Options.MaxHistoryTopics, "topics"},
		{"max_history_bytes", r.Options.MaxHistoryBytes, "bytes"},
		{"max_subscriptions_per_session", r.Options.MaxSubscriptionsPerSession, "subscriptions"},
		{"max_registrations_per_session", r.Options.MaxRegistrationsPerSession, "registrations"},
		{"max_pending_calls_per_session", r.Options.MaxPendingCallsPerSession, "calls"},
	} {
		if l.v <= 0 {
			ps.add(key+".options."+l.key, "want a positive number of %s, got %d", l.what, l.v)
		}
	}
}
