package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
)

// Bridge configures the HTTP bridge: backends publish and call over HTTP.
type Bridge struct {
	// Realm is the realm requests publish and call in. Required.
	Realm string `mapstructure:"realm" default:"-"`
	// PublishPath serves POST publish requests (an object, or an array for a
	// batch; PublishPath + "/batch" takes arrays too). Default "/publish";
	// "off" disables it.
	PublishPath string `mapstructure:"publish_path" default:"/publish"`
	// CallPath serves POST call requests. Default "/call"; "off" disables it.
	CallPath string `mapstructure:"call_path" default:"/call"`
	// PositionPath serves POST position requests: the newest kept
	// publication of a topic, where a page resumes with _since. Default
	// "/position"; "off" disables it.
	PositionPath string `mapstructure:"position_path" default:"/position"`
	// MaxBodySize is the largest request body in bytes. Default 65536.
	MaxBodySize int `mapstructure:"max_body_size" default:"65536"`
	// TimestampDeltaLimit is how far a signed request's timestamp may be from
	// the router's clock; nonces are remembered this long to reject replays.
	// Default "300s".
	TimestampDeltaLimit time.Duration `mapstructure:"timestamp_delta_limit" default:"300s"`
	// CallTimeout bounds a call whose request sets no options.timeout.
	// Default "30s".
	CallTimeout time.Duration `mapstructure:"call_timeout" default:"30s"`
	// ReadTimeout bounds the time to read a request's body, from the end of
	// its headers; a body still arriving then is answered 408 and the
	// connection closed. Default "10s".
	ReadTimeout time.Duration `mapstructure:"read_timeout" default:"10s"`
	// AllowedOrigins lists the browser Origins whose requests are accepted,
	// with "*" globs matched against the whole origin
	// ("https://*.example.com") or its host. Any other request carrying an
	// Origin, or a Sec-Fetch-Site of cross-site or same-site, is refused
	// (403): the bridge is for backends. Default: none.
	AllowedOrigins []string `mapstructure:"allowed_origins" default:""`
	// CrossbarCompat answers WAMP errors (not authorized, no such procedure,
	// callee errors, timeouts) with HTTP 200 and the error body, as Crossbar
	// does. Default false (documented 4xx/5xx statuses).
	CrossbarCompat bool `mapstructure:"crossbar_compat" default:"false"`
	// Role is the role of requests without credentials, which are accepted
	// only from loopback addresses and only when no keys are configured.
	// Default: the realm's anonymous role.
	Role string `mapstructure:"role" default:"-"`
	// Keys are the credentials backends use. With none, only loopback
	// clients may use the bridge.
	Keys []BridgeKey `mapstructure:"keys"`
	// RequireIP lists the CIDRs clients must come from (after
	// trusted_proxies). Default: any address.
	RequireIP []string `mapstructure:"require_ip" default:""`
	// TrustedProxies lists the CIDRs of proxies whose X-Forwarded-For names
	// the client. Default: none (the connection's address is the client).
	TrustedProxies []string `mapstructure:"trusted_proxies" default:""`
	// RequireTLS refuses requests that did not arrive over TLS (directly or,
	// from a trusted proxy, with X-Forwarded-Proto: https). Default false.
	RequireTLS bool `mapstructure:"require_tls" default:"false"`
	// Webhooks are inbound webhooks: POST /webhook/<name> publishes the
	// request to a topic.
	Webhooks []Webhook `mapstructure:"webhooks"`
	// Forwards POST the events of topics to the app (outbound webhooks).
	Forwards []Forward `mapstructure:"forwards"`
	// Callees register procedures that are answered by the app over HTTP.
	Callees []HTTPCallee `mapstructure:"callees"`
}

// Webhook publishes each POST to /webhook/<name> as one event
// {"headers": {name: [values]}, "body": "<raw body>"}, as Crossbar does.
type Webhook struct {
	// Name is the last path segment: POST /webhook/<name>. Required, unique.
	Name string `mapstructure:"name" default:"-"`
	// Topic receives the events. Required.
	Topic string `mapstructure:"topic" default:"-"`
	// GitHubSecret, when set, requires GitHub's X-Hub-Signature-256 header
	// (HMAC-SHA256 of the body). "${NAME}" reads the environment. Default "".
	GitHubSecret string `mapstructure:"github_secret" default:""`
}

// Forward POSTs the events of matching topics to an app URL as
// {"topic", "args", "kwargs", "publication"}, signed, with retries.
type Forward struct {
	// Topic is the topic URI or pattern. Required.
	Topic string `mapstructure:"topic" default:"-"`
	// Match is exact, prefix or wildcard. Default "exact".
	Match string `mapstructure:"match" default:"exact"`
	// URL receives the POSTs. Required, http or https.
	URL string `mapstructure:"url" default:"-"`
	// Secret signs each request (X-Switchboard-Signature). "${NAME}" reads
	// the environment. At least 16 characters. Required.
	Secret string `mapstructure:"secret" default:"-"`
	// QueueSize bounds the events waiting to be delivered; beyond it new
	// events are counted as dropped and logged. Default 1000.
	QueueSize int `mapstructure:"queue_size" default:"1000"`
	// MaxRetries bounds the retries of one event (exponential backoff from
	// 100ms to 30s); then it is counted as failed and logged. Default 10.
	MaxRetries int `mapstructure:"max_retries" default:"10"`
	// Timeout bounds each POST. Default "5s".
	Timeout time.Duration `mapstructure:"timeout" default:"5s"`
}

// HTTPCallee answers a procedure by POSTing each call to an app URL.
type HTTPCallee struct {
	// Procedure is the URI registered. Required, unique.
	Procedure string `mapstructure:"procedure" default:"-"`
	// URL receives {"procedure", "args", "kwargs", "caller"} and answers with
	// the result. Required, http or https.
	URL string `mapstructure:"url" default:"-"`
	// Secret signs each request (X-Switchboard-Signature). "${NAME}" reads
	// the environment. At least 16 characters. Required.
	Secret string `mapstructure:"secret" default:"-"`
	// Timeout bounds each POST. Default "10s".
	Timeout time.Duration `mapstructure:"timeout" default:"10s"`
}

// BridgeKey is one backend's credential and identity.
type BridgeKey struct {
	// Key names the credential: the "key" query parameter of signed
	// requests. Required, unique.
	Key string `mapstructure:"key" default:"-"`
	// Secret signs requests (Crossbar's scheme: HMAC-SHA256 over key,
	// timestamp, seq, nonce and body). "${NAME}" reads environment variable
	// NAME. At least 16 characters. Default "" (no signing).
	Secret string `mapstructure:"secret" default:""`
	// SecretFile reads Secret from a file (surrounding whitespace trimmed).
	// Default "".
	SecretFile string `mapstructure:"secret_file" default:""`
	// BearerToken is accepted as "Authorization: Bearer <token>". "${NAME}"
	// reads environment variable NAME. At least 16 characters. Default "".
	BearerToken string `mapstructure:"bearer_token" default:""`
	// AuthID is the identity requests with this key act as. Default: Key.
	AuthID string `mapstructure:"authid" default:"-"`
	// Role is the role whose permissions apply to requests with this key.
	// Required; one of the bridge realm's roles.
	Role string `mapstructure:"role" default:"-"`
}

// PathOff disables a bridge endpoint.
const PathOff = "off"

func (c *Config) validateBridge(ps *problems, key string, b *Bridge, ws *WebSocket) {
	var realm *Realm
	for i := range c.Realms {
		if c.Realms[i].Name == b.Realm {
			realm = &c.Realms[i]
		}
	}
	switch {
	case b.Realm == "":
		ps.add(key+".realm", "required")
	case realm == nil:
		ps.add(key+".realm", "realm %q is not defined in realms", b.Realm)
	}
	hasRole := func(name string) bool {
		if realm == nil {
			return true // reported above
		}
		for _, r := range realm.Roles {
			if r.Name == name {
				return true
			}
		}
		return false
	}
	paths := map[string]string{}
	if ws != nil {
		paths[ws.Path] = "websocket.path"
	}
	for _, p := range []struct{ name, path string }{{"publish_path", b.PublishPath}, {"call_path", b.CallPath}, {"position_path", b.PositionPath}} {
		if p.path == PathOff {
			continue
		}
		if !strings.HasPrefix(p.path, "/") {
			ps.add(key+"."+p.name, "want a path starting with / (or off), got %q", p.path)
		} else if other, dup := paths[p.path]; dup {
			ps.add(key+"."+p.name, "%q is also the listener's %s", p.path, other)
		}
		paths[p.path] = "bridge." + p.name
	}
	if b.MaxBodySize <= 0 {
		ps.add(key+".max_body_size", "want a positive number of bytes, got %d", b.MaxBodySize)
	}
	if b.TimestampDeltaLimit <= 0 {
		ps.add(key+".timestamp_delta_limit", "want a positive duration, got %q", b.TimestampDeltaLimit.String())
	}
	if b.CallTimeout <= 0 {
		ps.add(key+".call_timeout", "want a positive duration, got %q", b.CallTimeout.String())
	}
	if b.ReadTimeout <= 0 {
		ps.add(key+".read_timeout", "want a positive duration, got %q", b.ReadTimeout.String())
	}
	for i, o := range b.AllowedOrigins {
		if strings.TrimSpace(o) == "" {
			ps.add(fmt.Sprintf("%s.allowed_origins[%d]", key, i), "want an origin pattern, got %q", o)
		}
	}
	if len(b.Keys) == 0 {
		if b.Role == "" {
			ps.add(key+".role", "required when no keys are configured and realm %q has no anonymous role", b.Realm)
		} else if !hasRole(b.Role) {
			ps.add(key+".role", "role %q is not defined in realm %q", b.Role, b.Realm)
		}
	} else if b.Role != "" {
		ps.add(key+".role", "only for requests without credentials, which are refused once keys are configured")
	}
	c.validateBridgeExtras(ps, key, b)
	names := map[string]int{}
	for j := range b.Keys {
		k := &b.Keys[j]
		kkey := fmt.Sprintf("%s.keys[%d]", key, j)
		if k.Key == "" {
			ps.add(kkey+".key", "required")
		} else if first, dup := names[k.Key]; dup {
			ps.add(kkey+".key", "duplicate key %q (also keys[%d])", k.Key, first)
		} else {
			names[k.Key] = j
		}
		if k.Role == "" {
			ps.add(kkey+".role", "required")
		} else if !hasRole(k.Role) {
			ps.add(kkey+".role", "role %q is not defined in realm %q", k.Role, b.Realm)
		}
		if k.Secret == "" && k.BearerToken == "" && k.SecretFile == "" {
			ps.add(kkey, "want a secret (or secret_file) or a bearer_token")
		}
		for name, v := range map[string]string{"secret": k.Secret, "bearer_token": k.BearerToken} {
			if v != "" && len(v) < MinSecretLength {
				// The value itself is never printed.
				ps.add(kkey+"."+name, "too short: want at least %d characters", MinSecretLength)
			}
		}
	}
}

func (c *Config) validateBridgeExtras(ps *problems, key string, b *Bridge) {
	for i, cidr := range b.RequireIP {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			ps.add(fmt.Sprintf("%s.require_ip[%d]", key, i), "want a CIDR like 10.0.0.0/8, got %q", cidr)
		}
	}
	for i, cidr := range b.TrustedProxies {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			ps.add(fmt.Sprintf("%s.trusted_proxies[%d]", key, i), "want a CIDR like 127.0.0.1/32, got %q", cidr)
		}
	}
	secret := func(k, v string, required bool) {
		switch {
		case v == "" && required:
			ps.add(k, "required")
		case v != "" && len(v) < MinSecretLength:
			ps.add(k, "too short: want at least %d characters", MinSecretLength)
		}
	}
	httpURL := func(k, v string) {
		u, err := url.Parse(v)
		if v == "" {
			ps.add(k, "required")
		} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ps.add(k, "want an http:// or https:// URL, got %q", v)
		}
	}
	names := map[string]int{}
	for i, w := range b.Webhooks {
		wkey := fmt.Sprintf("%s.webhooks[%d]", key, i)
		if w.Name == "" || strings.ContainsAny(w.Name, "/?# ") {
			ps.add(wkey+".name", "want a name usable as a path segment, got %q", w.Name)
		} else if first, dup := names[w.Name]; dup {
			ps.add(wkey+".name", "duplicate webhook %q (also webhooks[%d])", w.Name, first)
		} else {
			names[w.Name] = i
		}
		if !wamp.URI(w.Topic).ValidURI(false, "") {
			ps.add(wkey+".topic", "want a topic URI, got %q", w.Topic)
		}
		secret(wkey+".github_secret", w.GitHubSecret, false)
	}
	for i, f := range b.Forwards {
		fkey := fmt.Sprintf("%s.forwards[%d]", key, i)
		if f.Topic == "" && f.Match != MatchPrefix {
			ps.add(fkey+".topic", "required")
		} else if validateMatch(ps, fkey+".match", f.Match) && !validPattern(f.Topic, f.Match) {
			ps.add(fkey+".topic", "not a valid %s URI: %q", f.Match, f.Topic)
		}
		httpURL(fkey+".url", f.URL)
		secret(fkey+".secret", f.Secret, true)
		if f.QueueSize <= 0 {
			ps.add(fkey+".queue_size", "want a positive number of events, got %d", f.QueueSize)
		}
		if f.MaxRetries < 0 {
			ps.add(fkey+".max_retries", "want 0 or more, got %d", f.MaxRetries)
		}
		if f.Timeout <= 0 {
			ps.add(fkey+".timeout", "want a positive duration, got %q", f.Timeout.String())
		}
	}
	procs := map[string]int{}
	for i, c := range b.Callees {
		ckey := fmt.Sprintf("%s.callees[%d]", key, i)
		if !wamp.URI(c.Procedure).ValidURI(false, "") {
			ps.add(ckey+".procedure", "want a procedure URI, got %q", c.Procedure)
		} else if first, dup := procs[c.Procedure]; dup {
			ps.add(ckey+".procedure", "duplicate procedure %q (also callees[%d])", c.Procedure, first)
		} else {
			procs[c.Procedure] = i
		}
		httpURL(ckey+".url", c.URL)
		secret(ckey+".secret", c.Secret, true)
		if c.Timeout <= 0 {
			ps.add(ckey+".timeout", "want a positive duration, got %q", c.Timeout.String())
		}
	}
}

// validateCalleeRealms refuses an HTTP-callee procedure that another bridge
// of the same realm declares too: the router registers each procedure once
// per realm, so Start would fail. Duplicates within one bridge are reported
// by validateBridgeExtras.
func (c *Config) validateCalleeRealms(ps *problems) {
	type realmProcedure struct{ realm, procedure string }
	first := map[realmProcedure]string{}
	for i, l := range c.Listeners {
		if l.Bridge == nil {
			continue
		}
		own := map[string]bool{}
		for j, callee := range l.Bridge.Callees {
			if own[callee.Procedure] || !wamp.URI(callee.Procedure).ValidURI(false, "") {
				continue
			}
			own[callee.Procedure] = true
			key := fmt.Sprintf("listeners[%d].bridge.callees[%d]", i, j)
			rp := realmProcedure{l.Bridge.Realm, callee.Procedure}
			if other, dup := first[rp]; dup {
				ps.add(key+".procedure", "duplicate procedure %q in realm %q (also %s)", callee.Procedure, l.Bridge.Realm, other)
			} else {
				first[rp] = key
			}
		}
	}
}
