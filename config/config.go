package config

import "time"

// Config is the whole switchboard configuration, as read from YAML.
type Config struct {
	// Log configures the process logger.
	Log Log `mapstructure:"log"`
	// Listeners are the sockets the router serves. At least one is required.
	Listeners []Listener `mapstructure:"listeners"`
	// Realms are the WAMP realms clients may join. At least one is required.
	Realms []Realm `mapstructure:"realms"`
	// ShutdownTimeout bounds a graceful shutdown: sessions get GOODBYE and
	// connections still open after it are closed. Default "10s".
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
	// ShutdownDrainDelay is how long /readyz answers 503 before sessions get
	// GOODBYE, so that load balancers stop sending new clients. Default "0s".
	ShutdownDrainDelay time.Duration `mapstructure:"shutdown_drain_delay"`
	// Metrics configures the Prometheus endpoint.
	Metrics Metrics `mapstructure:"metrics"`
	// Limits bound what clients can make the router hold: connections,
	// slow messages, nesting.
	Limits Limits `mapstructure:"limits"`
	// AuthLimits bounds failed authentication attempts per client address,
	// across all realms and listeners.
	AuthLimits AuthLimits `mapstructure:"auth_limits"`
}

// Limits bound the resources that clients, authenticated or not, can make
// the router hold. Each refusal is counted (switchboard_connections_refused_total,
// switchboard_messages_refused_total) and logged.
type Limits struct {
	// MaxConnections bounds the open connections of all listeners together
	// (WebSocket, RawSocket and HTTP bridge); a connection over it is
	// answered with HTTP 503 (RawSocket: handshake error 4) and closed.
	// 0 means no bound. Default 10000.
	MaxConnections int `mapstructure:"max_connections"`
	// MaxConnectionsPerIP bounds the open connections from one client IP
	// address. Behind a reverse proxy every client has the proxy's address:
	// set 0 (no bound) there and limit at the proxy. Default 1000.
	MaxConnectionsPerIP int `mapstructure:"max_connections_per_ip"`
	// MessageReadTimeout bounds the time between the first byte of a
	// client's message (or frame, for control frames) and its last; a client
	// slower than that is disconnected, so that no connection holds a
	// half-received message for long. Default "30s".
	MessageReadTimeout time.Duration `mapstructure:"message_read_timeout"`
	// MaxNestingDepth bounds how deeply arrays, maps (and CBOR tags) may nest
	// in a WAMP message, counting the message itself as 1; a deeper message
	// is answered with ABORT/GOODBYE wamp.error.protocol_violation before it
	// is decoded. Default 64.
	MaxNestingDepth int `mapstructure:"max_nesting_depth"`
	// MaxMessageItems bounds how many values (array elements, map keys and
	// values, scalars) a WAMP message may hold: decoding costs about 100
	// bytes per value, however small it is on the wire. A request over it
	// is answered with ERROR wamp.error.payload_size_exceeded. Default
	// 100000.
	MaxMessageItems int `mapstructure:"max_message_items"`
	// MaxOpeningMessageSize bounds a client's messages before its session
	// is welcomed (HELLO, AUTHENTICATE), whatever max_message_size allows.
	// Default 65536.
	MaxOpeningMessageSize int `mapstructure:"max_opening_message_size"`
}

// AuthLimits bounds password guessing: once an address (an IPv4 address, or
// the /64 of an IPv6 address) has failed authentication
// MaxFailuresPerMinute times within a minute, its further attempts are
// refused without checking their credentials, each after FailureDelay.
// Successful joins do not count; Unix-socket clients are not limited.
type AuthLimits struct {
	// MaxFailuresPerMinute is how many failed attempts an address may make
	// in a sliding minute; 0 disables the limit. Default 10.
	MaxFailuresPerMinute int `mapstructure:"max_failures_per_minute"`
	// FailureDelay is how long a refused attempt of a limited address waits
	// before its ABORT (0s to 10s). Default "1s".
	FailureDelay time.Duration `mapstructure:"failure_delay"`
}

// Metrics configures the Prometheus endpoint. /healthz and /readyz are
// served on every HTTP listener regardless.
type Metrics struct {
	// Enabled serves the metrics. Default true.
	Enabled bool `mapstructure:"enabled"`
	// Path of the endpoint. Default "/metrics".
	Path string `mapstructure:"path"`
	// Listener is the address (as in listeners[].address) of the HTTP
	// listener that serves the metrics. Default: the first websocket or
	// bridge listener.
	Listener string `mapstructure:"listener"`
	// AllowRemote serves the metrics to non-loopback clients too. Default
	// false.
	AllowRemote bool `mapstructure:"allow_remote"`
}

// Log configures logging.
type Log struct {
	// Level is one of debug, info, warn, error. Default "info".
	Level string `mapstructure:"level"`
	// Format is text or json. Default "text".
	Format string `mapstructure:"format"`
	// AccessLog logs every HTTP bridge and webhook request (remote address,
	// path, status, duration; never query strings, which carry signatures).
	// Default true.
	AccessLog bool `mapstructure:"access_log"`
	// AccessLogUpgrades logs WebSocket upgrade requests too. Default false.
	AccessLogUpgrades bool `mapstructure:"access_log_upgrades"`
}

// Listener is one socket: a TCP "host:port" or "unix:/path" address serving
// either WebSocket (with HTTP) or RawSocket.
type Listener struct {
	// Address is "host:port" for TCP or "unix:/path/to.sock" for a Unix socket.
	// Required.
	Address string `mapstructure:"address"`
	// TLS turns the listener into TLS (wss:// or RawSocket over TLS) when both
	// files are set. Default: no TLS.
	TLS TLS `mapstructure:"tls"`
	// WebSocket serves WAMP over WebSocket on this listener. A listener has
	// rawsocket, or websocket and/or bridge.
	WebSocket *WebSocket `mapstructure:"websocket"`
	// RawSocket serves WAMP over RawSocket on this listener.
	RawSocket *RawSocket `mapstructure:"rawsocket"`
	// Bridge serves the HTTP bridge (/publish, /call) on this listener, beside
	// WebSocket or alone. Not with rawsocket.
	Bridge *Bridge `mapstructure:"bridge"`
}

// Bridge configures the HTTP bridge: backends publish and call over HTTP.
type Bridge struct {
	// Realm is the realm requests publish and call in. Required.
	Realm string `mapstructure:"realm"`
	// PublishPath serves POST publish requests (an object, or an array for a
	// batch; PublishPath + "/batch" takes arrays too). Default "/publish";
	// "off" disables it.
	PublishPath string `mapstructure:"publish_path"`
	// CallPath serves POST call requests. Default "/call"; "off" disables it.
	CallPath string `mapstructure:"call_path"`
	// MaxBodySize is the largest request body in bytes. Default 65536.
	MaxBodySize int `mapstructure:"max_body_size"`
	// TimestampDeltaLimit is how far a signed request's timestamp may be from
	// the router's clock; nonces are remembered this long to reject replays.
	// Default "300s".
	TimestampDeltaLimit time.Duration `mapstructure:"timestamp_delta_limit"`
	// CallTimeout bounds a call whose request sets no options.timeout.
	// Default "30s".
	CallTimeout time.Duration `mapstructure:"call_timeout"`
	// ReadTimeout bounds the time to read a request's body, from the end of
	// its headers; a body still arriving then is answered 408 and the
	// connection closed. Default "10s".
	ReadTimeout time.Duration `mapstructure:"read_timeout"`
	// AllowedOrigins lists the browser Origins whose requests are accepted,
	// with "*" globs matched against the whole origin
	// ("https://*.example.com") or its host. Any other request carrying an
	// Origin, or a Sec-Fetch-Site of cross-site or same-site, is refused
	// (403): the bridge is for backends. Default: none.
	AllowedOrigins []string `mapstructure:"allowed_origins"`
	// CrossbarCompat answers WAMP errors (not authorized, no such procedure,
	// callee errors, timeouts) with HTTP 200 and the error body, as Crossbar
	// does. Default false (documented 4xx/5xx statuses).
	CrossbarCompat bool `mapstructure:"crossbar_compat"`
	// Role is the role of requests without credentials, which are accepted
	// only from loopback addresses and only when no keys are configured.
	// Default: the realm's anonymous role.
	Role string `mapstructure:"role"`
	// Keys are the credentials backends use. With none, only loopback
	// clients may use the bridge.
	Keys []BridgeKey `mapstructure:"keys"`
	// RequireIP lists the CIDRs clients must come from (after
	// trusted_proxies). Default: any address.
	RequireIP []string `mapstructure:"require_ip"`
	// TrustedProxies lists the CIDRs of proxies whose X-Forwarded-For names
	// the client. Default: none (the connection's address is the client).
	TrustedProxies []string `mapstructure:"trusted_proxies"`
	// RequireTLS refuses requests that did not arrive over TLS (directly or,
	// from a trusted proxy, with X-Forwarded-Proto: https). Default false.
	RequireTLS bool `mapstructure:"require_tls"`
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
	Name string `mapstructure:"name"`
	// Topic receives the events. Required.
	Topic string `mapstructure:"topic"`
	// GitHubSecret, when set, requires GitHub's X-Hub-Signature-256 header
	// (HMAC-SHA256 of the body). "${NAME}" reads the environment. Default "".
	GitHubSecret string `mapstructure:"github_secret"`
}

// Forward POSTs the events of matching topics to an app URL as
// {"topic", "args", "kwargs", "publication"}, signed, with retries.
type Forward struct {
	// Topic is the topic URI or pattern. Required.
	Topic string `mapstructure:"topic"`
	// Match is exact, prefix or wildcard. Default "exact".
	Match string `mapstructure:"match"`
	// URL receives the POSTs. Required, http or https.
	URL string `mapstructure:"url"`
	// Secret signs each request (X-Switchboard-Signature). "${NAME}" reads
	// the environment. At least 16 characters. Required.
	Secret string `mapstructure:"secret"`
	// QueueSize bounds the events waiting to be delivered; beyond it new
	// events are counted as dropped and logged. Default 1000.
	QueueSize int `mapstructure:"queue_size"`
	// MaxRetries bounds the retries of one event (exponential backoff from
	// 100ms to 30s); then it is counted as failed and logged. Default 10.
	MaxRetries int `mapstructure:"max_retries"`
	// Timeout bounds each POST. Default "5s".
	Timeout time.Duration `mapstructure:"timeout"`
}

// HTTPCallee answers a procedure by POSTing each call to an app URL.
type HTTPCallee struct {
	// Procedure is the URI registered. Required, unique.
	Procedure string `mapstructure:"procedure"`
	// URL receives {"procedure", "args", "kwargs", "caller"} and answers with
	// the result. Required, http or https.
	URL string `mapstructure:"url"`
	// Secret signs each request (X-Switchboard-Signature). "${NAME}" reads
	// the environment. At least 16 characters. Required.
	Secret string `mapstructure:"secret"`
	// Timeout bounds each POST. Default "10s".
	Timeout time.Duration `mapstructure:"timeout"`
}

// BridgeKey is one backend's credential and identity.
type BridgeKey struct {
	// Key names the credential: the "key" query parameter of signed
	// requests. Required, unique.
	Key string `mapstructure:"key"`
	// Secret signs requests (Crossbar's scheme: HMAC-SHA256 over key,
	// timestamp, seq, nonce and body). "${NAME}" reads environment variable
	// NAME. At least 16 characters. Default "" (no signing).
	Secret string `mapstructure:"secret"`
	// SecretFile reads Secret from a file (surrounding whitespace trimmed).
	// Default "".
	SecretFile string `mapstructure:"secret_file"`
	// BearerToken is accepted as "Authorization: Bearer <token>". "${NAME}"
	// reads environment variable NAME. At least 16 characters. Default "".
	BearerToken string `mapstructure:"bearer_token"`
	// AuthID is the identity requests with this key act as. Default: Key.
	AuthID string `mapstructure:"authid"`
	// Role is the role whose permissions apply to requests with this key.
	// Required; one of the bridge realm's roles.
	Role string `mapstructure:"role"`
}

// TLS names the certificate and key files of a listener.
type TLS struct {
	// CertFile is a PEM certificate chain. Default "" (no TLS).
	CertFile string `mapstructure:"cert_file"`
	// KeyFile is the PEM private key of CertFile. Default "" (no TLS).
	KeyFile string `mapstructure:"key_file"`
}

// Enabled reports whether both TLS files are set.
func (t TLS) Enabled() bool { return t.CertFile != "" && t.KeyFile != "" }

// WebSocket configures the WebSocket transport of a listener.
type WebSocket struct {
	// Path is the HTTP path of the WebSocket endpoint. Default "/ws".
	Path string `mapstructure:"path"`
	// Serializers are the offered WAMP serializers, from json, msgpack, cbor.
	// Default all three.
	Serializers []string `mapstructure:"serializers"`
	// AllowedOrigins lists the browser Origins allowed to connect, with "*"
	// globs matched against the whole origin ("https://*.example.com") or its
	// host ("*.example.com"). A request without Origin, or from the same host
	// over TLS, is always allowed. Default: pages on localhost, 127.0.0.1 and
	// [::1].
	AllowedOrigins []string `mapstructure:"allowed_origins"`
	// MaxMessageSize is the largest inbound WAMP message in bytes; a larger
	// one closes the session. Default 1048576.
	MaxMessageSize int `mapstructure:"max_message_size"`
	// PingInterval is the keepalive interval; a peer that does not answer
	// pings is disconnected. "0s" disables keepalive. Default "30s".
	PingInterval time.Duration `mapstructure:"ping_interval"`
	// MaxQueueBytes bounds a session's outbound queue; a client further
	// behind is disconnected as a slow consumer. Default 1048576.
	MaxQueueBytes int `mapstructure:"max_queue_bytes"`
}

// RawSocket configures the RawSocket transport of a listener.
type RawSocket struct {
	// Serializers are the accepted WAMP serializers, from json, msgpack,
	// cbor. Default all three.
	Serializers []string `mapstructure:"serializers"`
	// MaxMessageSize is the largest inbound WAMP message in bytes (RawSocket
	// rounds it down to a power of two between 512 and 16777216). Default
	// 1048576.
	MaxMessageSize int `mapstructure:"max_message_size"`
	// MaxQueueBytes bounds a session's outbound queue, as for WebSocket.
	// Default 1048576.
	MaxQueueBytes int `mapstructure:"max_queue_bytes"`
	// PingInterval is the keepalive interval (RawSocket PING frames); a
	// peer silent for two intervals is disconnected. "0s" disables
	// keepalive. Default "30s".
	PingInterval time.Duration `mapstructure:"ping_interval"`
}

// Realm is one WAMP realm with its roles.
type Realm struct {
	// Name is the realm URI clients join, e.g. "realm1". Required, unique.
	Name string `mapstructure:"name"`
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

// Auth lists a realm's authentication methods; several may be on at once.
type Auth struct {
	// Anonymous admits clients that do not authenticate (authmethod
	// anonymous). Same as the realm's anonymous key.
	Anonymous *Anonymous `mapstructure:"anonymous"`
	// Ticket admits static principals with their tickets (authmethod
	// ticket).
	Ticket *TicketAuth `mapstructure:"ticket"`
	// JWT admits tickets that are JWTs signed by the web app (authmethod
	// ticket, tried after the static principals).
	JWT *JWTAuth `mapstructure:"jwt"`
	// Webhook asks the web app, forwarding the WebSocket upgrade's headers
	// (its session cookie), whether and as what to admit a client.
	Webhook *WebhookAuth `mapstructure:"webhook"`
	// WAMPCRA admits users by WAMP challenge-response (authmethod wampcra).
	WAMPCRA *WAMPCRAAuth `mapstructure:"wampcra"`
	// Cryptosign admits principals holding an Ed25519 key (authmethod
	// cryptosign).
	Cryptosign *CryptosignAuth `mapstructure:"cryptosign"`
	// Dynamic asks a WAMP procedure (Crossbar's dynamic authenticator).
	Dynamic *DynamicAuth `mapstructure:"dynamic"`
}

// DynamicAuth is Crossbar's dynamic authenticator: the router calls
// procedure(realm, authid, details) and the answer (a role, or
// {role, authid?, extra?}) admits the client; an error refuses it.
type DynamicAuth struct {
	// Procedure is registered by your backend. Required. Give only that
	// backend's role the register permission on it.
	Procedure string `mapstructure:"procedure"`
	// Methods are the HELLO authmethods it decides: ticket and/or
	// anonymous. Default [ticket].
	Methods []string `mapstructure:"methods"`
	// Timeout bounds the call. Default "5s".
	Timeout time.Duration `mapstructure:"timeout"`
}

// WAMPCRAAuth holds WAMP-CRA users.
type WAMPCRAAuth struct {
	// Users maps authid to its secret and role.
	Users map[string]CRAUser `mapstructure:"users"`
}

// CRAUser is one WAMP-CRA user.
type CRAUser struct {
	// Secret is the shared secret; with salt, the derived key that
	// `switchboard hash-secret` prints. "${NAME}" reads the environment.
	// Required.
	Secret string `mapstructure:"secret"`
	// Role of the user. Required.
	Role string `mapstructure:"role"`
	// Salt, Iterations and KeyLen are the PBKDF2 parameters of a salted
	// secret, sent in the challenge. Default: unsalted (iterations 1000,
	// keylen 32 when salted).
	Salt       string `mapstructure:"salt"`
	Iterations int    `mapstructure:"iterations"`
	KeyLen     int    `mapstructure:"keylen"`
}

// CryptosignAuth holds Ed25519 principals.
type CryptosignAuth struct {
	// Principals maps authid to its keys and role.
	Principals map[string]CryptosignPrincipal `mapstructure:"principals"`
}

// CryptosignPrincipal is one Ed25519 principal.
type CryptosignPrincipal struct {
	// AuthorizedKeys are hex Ed25519 public keys (64 hex digits), as
	// `switchboard keygen` prints. Required.
	AuthorizedKeys []string `mapstructure:"authorized_keys"`
	// Role of the principal. Required.
	Role string `mapstructure:"role"`
}

// TicketAuth holds static ticket principals.
type TicketAuth struct {
	// Principals maps authid to its ticket and role.
	Principals map[string]TicketPrincipal `mapstructure:"principals"`
}

// TicketPrincipal is one static principal.
type TicketPrincipal struct {
	// Ticket is the secret; "${NAME}" reads the environment. Required unless
	// ticket_file is set.
	Ticket string `mapstructure:"ticket"`
	// TicketFile reads the ticket from a file. Default "".
	TicketFile string `mapstructure:"ticket_file"`
	// Role of the principal. Required; one of the realm's roles.
	Role string `mapstructure:"role"`
}

// JWTAuth verifies JWT tickets.
type JWTAuth struct {
	// Algorithms allowed, from HS256, HS384, HS512, RS256, ES256, EdDSA.
	// Default [HS256].
	Algorithms []string `mapstructure:"algorithms"`
	// Secret is the HMAC key for HS* algorithms; "${NAME}" reads the
	// environment. At least 32 characters.
	Secret string `mapstructure:"secret"`
	// PublicKeyFile is a PEM public key for RS256, ES256 or EdDSA.
	PublicKeyFile string `mapstructure:"public_key_file"`
	// JWKSFile is a JSON Web Key Set; a token's "kid" picks the key.
	// Default "".
	JWKSFile string `mapstructure:"jwks_file"`
	// Issuer, when set, must equal the token's iss. Default "".
	Issuer string `mapstructure:"issuer"`
	// Audience, when set, must be in the token's aud. Default "".
	Audience string `mapstructure:"audience"`
	// AuthIDClaim names the claim that is the session's authid. Default "sub".
	AuthIDClaim string `mapstructure:"authid_claim"`
	// RoleClaim names the claim that is the session's role. Default "role".
	RoleClaim string `mapstructure:"role_claim"`
	// DefaultRole is the role of tokens without the role claim. Default ""
	// (such tokens are refused).
	DefaultRole string `mapstructure:"default_role"`
	// Leeway tolerates clock skew for exp and nbf. Default "30s".
	Leeway time.Duration `mapstructure:"leeway"`
}

// WebhookAuth asks the web app over HTTP.
type WebhookAuth struct {
	// URL receives POST {realm, authid, authmethod, ticket?, session,
	// transport: {peer, headers}}. Required.
	URL string `mapstructure:"url"`
	// Methods are the HELLO authmethods the webhook decides: anonymous
	// and/or ticket. Default [ticket].
	Methods []string `mapstructure:"methods"`
	// ForwardHeaders are the upgrade request headers sent along. Default
	// [Cookie, Authorization].
	ForwardHeaders []string `mapstructure:"forward_headers"`
	// Timeout bounds the request; a timeout rejects the client. Default "3s".
	Timeout time.Duration `mapstructure:"timeout"`
}

// Anonymous configures anonymous authentication for a realm.
type Anonymous struct {
	// Role is the role given to anonymous sessions. Required; must be one of
	// the realm's roles.
	Role string `mapstructure:"role"`
}

// Role is a named set of permissions.
type Role struct {
	// Name is the role name (authrole). Required, unique within the realm.
	Name string `mapstructure:"name"`
	// Permissions decide what sessions of this role may do. The most
	// specific match wins (exact, then longest prefix, then wildcard); a URI
	// no permission matches is denied. Default: none (deny everything).
	Permissions []Permission `mapstructure:"permissions"`
	// Authorizer, when set, is a WAMP procedure that decides instead of the
	// permissions: authorize(session, uri, action, options) -> bool or
	// {allow, disclose?, cache?}. Failures deny. Default "".
	Authorizer string `mapstructure:"authorizer"`
	// AuthorizerCache is how long a session's decisions are kept (per
	// session, uri and action). "0s" asks every time. Default "60s".
	AuthorizerCache time.Duration `mapstructure:"authorizer_cache"`
}

// Permission grants actions on the URIs it matches.
type Permission struct {
	// URI is the URI, prefix or wildcard pattern. With match prefix, "" matches
	// every URI. Default "".
	URI string `mapstructure:"uri"`
	// Match is exact, prefix or wildcard. Default "exact".
	Match string `mapstructure:"match"`
	// Allow lists the allowed actions. Default: all false.
	Allow Allow `mapstructure:"allow"`
	// Disclose makes the router reveal the identity of this role's callers
	// and publishers to callees and subscribers. Default: all false.
	Disclose Disclose `mapstructure:"disclose"`
}

// Allow lists the four WAMP actions a permission may grant.
type Allow struct {
	// Call allows CALL. Default false.
	Call bool `mapstructure:"call"`
	// Register allows REGISTER. Default false.
	Register bool `mapstructure:"register"`
	// Publish allows PUBLISH. Default false.
	Publish bool `mapstructure:"publish"`
	// Subscribe allows SUBSCRIBE. Default false.
	Subscribe bool `mapstructure:"subscribe"`
}

// Disclose controls identity disclosure, as Crossbar's permission disclose.
type Disclose struct {
	// Caller discloses the caller's session ID, authid and authrole to the
	// callee. Default false.
	Caller bool `mapstructure:"caller"`
	// Publisher discloses the publisher's session ID, authid and authrole to
	// subscribers. Default false.
	Publisher bool `mapstructure:"publisher"`
}

// RealmOptions are realm-wide routing options.
type RealmOptions struct {
	// StrictURI enforces strict URIs (lowercase letters, digits and "_"
	// components) in messages. Default false.
	StrictURI bool `mapstructure:"strict_uri"`
	// EventHistory keeps the last events of matching topics for
	// wamp.subscription.get_events. Default: none.
	EventHistory []EventHistory `mapstructure:"event_history"`
	// MaxRetainedTopics bounds how many topics of the realm keep a retained
	// event; a retained publication to one more topic is refused with
	// switchboard.error.limit_exceeded (replacing a topic's event is not one
	// more). Default 10000.
	MaxRetainedTopics int `mapstructure:"max_retained_topics"`
	// MaxRetainedBytes bounds the estimated memory of the realm's retained
	// events, in bytes. Default 16777216 (16 MiB).
	MaxRetainedBytes int `mapstructure:"max_retained_bytes"`
	// MaxSubscriptionsPerSession bounds one session's subscriptions; one
	// more is refused with switchboard.error.limit_exceeded. Default 1000.
	MaxSubscriptionsPerSession int `mapstructure:"max_subscriptions_per_session"`
	// MaxRegistrationsPerSession bounds one session's registrations
	// (including those it is still waiting for); one more is refused with
	// switchboard.error.limit_exceeded. Default 1000.
	MaxRegistrationsPerSession int `mapstructure:"max_registrations_per_session"`
}

// EventHistory keeps recent events of the topics it matches.
type EventHistory struct {
	// Topic is the topic URI or pattern. Required.
	Topic string `mapstructure:"topic"`
	// Match is exact, prefix or wildcard. Default "exact".
	Match string `mapstructure:"match"`
	// Limit is how many recent events are kept. Required, > 0.
	Limit int `mapstructure:"limit"`
}
