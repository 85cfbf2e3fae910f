package dealer

import (
	"log/slog"
	"time"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/realms"
)

// Error URIs and limit names the dealer uses beside the spec's.
const (
	// LimitExceededURI answers a request over a per-session limit.
	LimitExceededURI = wamp.URI("switchboard.error.limit_exceeded")
	// LimitRegistrationsPerSession is the max_registrations_per_session
	// realm option.
	LimitRegistrationsPerSession = "registrations_per_session"
	// LimitCallsPerSession is the max_pending_calls_per_session realm
	// option.
	LimitCallsPerSession = "pending_calls_per_session"
)

// Outcomes of a call, as the Observer sees them.
const (
	OutcomeResult     = "result"      // the callee's final RESULT
	OutcomeError      = "error"       // the callee's ERROR
	OutcomeCanceled   = "canceled"    // the caller cancelled (skip, killnowait)
	OutcomeTimeout    = "timeout"     // the call's timeout passed
	OutcomeCalleeLost = "callee_lost" // the callee left or could not be reached
	OutcomeCallerLost = "caller_lost" // the caller left first
)

// Conn is a session's connection as the dealer uses it.
type Conn interface {
	// Send queues msg for the session without blocking. false means the
	// session is being disconnected (a slow consumer) and msg was not
	// queued; the dealer then ends the session's calls at once.
	Send(msg wamp.Message) bool
}

// Authorizer decides what a session may call and register
// (*realms.Authorizer implements it). It may block (a dynamic authorizer
// is a call itself); the dealer holds no lock while it runs.
type Authorizer interface {
	// Permission returns the permission that governs action on uri for the
	// subject (for its disclose settings), and whether action is allowed.
	Permission(sub realms.Subject, uri string, action realms.Action) (*realms.Permission, bool)
	// AllowsRegister reports whether the subject may register uri under
	// match (every procedure the pattern can match).
	AllowsRegister(sub realms.Subject, uri, match string) bool
	// Protected reports whether the router calls procedure with secrets:
	// a call of it goes to a registration only if its callee may still
	// register it (rules can change by reload after a REGISTER).
	Protected(procedure string) bool
}

// Realm configures one realm of the dealer.
type Realm struct {
	Name       string
	Authorizer Authorizer
	StrictURI  bool
	// MaxURILength bounds procedure URIs and patterns in bytes; 0 means no
	// limit.
	MaxURILength int
	// MaxRegistrationsPerSession bounds each session's registrations; 0
	// means no limit.
	MaxRegistrationsPerSession int
	// MaxCallsPerSession bounds each session's calls in flight (as a
	// caller); one more is answered with ERROR
	// switchboard.error.limit_exceeded. 0 means no limit.
	MaxCallsPerSession int
}

// Observer counts the dealer's work (for metrics); methods must be cheap.
type Observer interface {
	// CallEnded counts a call that reached a callee, with how it ended
	// (an Outcome*) and how long it took.
	CallEnded(realm, outcome string, d time.Duration)
	// CallRefused counts a CALL answered by the dealer itself with error
	// (no_such_procedure, not_authorized, limit_exceeded, ...).
	CallRefused(realm string, error wamp.URI)
	// LimitExceeded counts a request refused over a limit (Limit*).
	LimitExceeded(realm, limit string)
	// Registrations reports the realm's registration count after a change.
	Registrations(realm string, n int)
}

// Options configure a Dealer.
type Options struct {
	Logger   *slog.Logger
	Observer Observer
	// PublishMeta publishes a registration meta event (on_create,
	// on_register, on_unregister, on_delete) in realm; nil publishes none.
	PublishMeta func(realm string, topic wamp.URI, args wamp.List)
	// RegistrationsChanged is told that a realm's registrations of this
	// node's own sessions (not Remote ones) changed; nil for none. The
	// cluster announces them to the other nodes.
	RegistrationsChanged func(realm string)
	// Claim claims a procedure across the cluster before a REGISTER of a
	// session of this node takes effect; an error answers the REGISTER
	// with procedure_already_exists. nil claims nothing.
	Claim func(realm, uri, match, policy string) error
	// StableIDs gives a registration the same ID on every node of a
	// cluster (a hash of its realm, match and URI; a random one on a
	// collision), so that the registration meta API answers alike on
	// every node.
	StableIDs bool
}

// Dealer routes the calls of every realm.
type Dealer struct {
	realms map[string]*realm
	log    *slog.Logger
	obs    Observer
	meta   func(realm string, topic wamp.URI, args wamp.List)
	// changed: RegistrationsChanged, or nil.
	changed func(realm string)
	claim   func(realm, uri, match, policy string) error
	stable  bool
}

// New returns a dealer for the given realms.
func New(rs []Realm, opts Options) *Dealer {
	d := &Dealer{realms: map[string]*realm{}, log: opts.Logger, obs: opts.Observer, meta: opts.PublishMeta,
		changed: opts.RegistrationsChanged, claim: opts.Claim, stable: opts.StableIDs}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.obs == nil {
		d.obs = nopObserver{}
	}
	for _, rc := range rs {
		d.realms[rc.Name] = newRealm(rc)
	}
	return d
}

// Features are the RPC features a session announced in its HELLO.
type Features struct {
	ProgressiveCallResults     bool
	ProgressiveCallInvocations bool
	CallCanceling              bool
	CallTimeout                bool
	PayloadPassthru            bool
}

// ReadFeatures reads the features announced for role ("caller" or
// "callee") in a HELLO's details, without copying them (nexus's AsDict
// deep-copies through reflection: a tenth of a reconnect storm's CPU).
func ReadFeatures(details wamp.Dict, role string) Features {
	f := dictOf(dictOf(dictOf(details, "roles"), role), "features")
	on := func(name string) bool { b, _ := f[name].(bool); return b }
	return Features{
		ProgressiveCallResults:     on(wamp.FeatureProgCallResults),
		ProgressiveCallInvocations: on(wamp.FeatureProgCallInvocations),
		CallCanceling:              on(wamp.FeatureCallCanceling),
		CallTimeout:                on(wamp.FeatureCallTimeout),
		PayloadPassthru:            on(wamp.FeaturePayloadPassthruMode),
	}
}

// dictOf returns m[key] if it is a map (as the serializers decode them).
func dictOf(m map[string]any, key string) map[string]any {
	switch c := m[key].(type) {
	case wamp.Dict:
		return c
	case map[string]any:
		return c
	}
	return nil
}

// SessionInfo describes a session joining the dealer.
type SessionInfo struct {
	ID               wamp.ID
	AuthID, AuthRole string
	Caller, Callee   Features
	// Trusted sessions (the router's in-process ones) are not authorized
	// by the dealer (the bridge authorizes its requests itself), may ask
	// for disclose_caller and are not bounded by MaxCallsPerSession.
	Trusted bool
	// Remote sessions stand for another node of the cluster: a callee
	// that forwards its INVOCATIONs there, or the caller of calls relayed
	// from there. Their registrations are not this node's own
	// (LocalRegistrations), and a relayed call never goes to one.
	Remote bool
}

// RegistrationInfo is one registration as the cluster announces it.
type RegistrationInfo struct {
	URI, Match, Policy string
	Created            time.Time
}

// LocalRegistrations returns the registrations of realm that at least one
// of this node's own (not Remote) sessions holds.
func (d *Dealer) LocalRegistrations(realm string) []RegistrationInfo {
	r, ok := d.realms[realm]
	if !ok {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]RegistrationInfo, 0, len(r.byID))
	for _, reg := range r.byID {
		for _, c := range reg.callees {
			if !c.info.Remote {
				out = append(out, RegistrationInfo{URI: reg.uri, Match: reg.match, Policy: reg.policy, Created: reg.created})
				break
			}
		}
	}
	return out
}

// registrationsChanged tells the cluster about a change of s's
// registrations, if s is this node's own.
func (s *Session) registrationsChanged() {
	if s.d.changed != nil && !s.info.Remote {
		s.d.changed(s.r.name)
	}
}

// Join registers a session of realm that nexus has welcomed. It returns
// nil for a realm the dealer does not know.
func (d *Dealer) Join(conn Conn, realm string, info SessionInfo) *Session {
	r, ok := d.realms[realm]
	if !ok {
		return nil
	}
	return &Session{d: d, r: r, conn: conn, info: info}
}

type nopObserver struct{}

func (nopObserver) CallEnded(string, string, time.Duration) {}
func (nopObserver) CallRefused(string, wamp.URI)            {}
func (nopObserver) LimitExceeded(string, string)            {}
func (nopObserver) Registrations(string, int)               {}

// LocalCallees returns the session IDs of the callees of registration id
// in realm that are this node's own (not another node's proxy), and
// whether the registration exists here.
func (d *Dealer) LocalCallees(realm string, id wamp.ID) ([]wamp.ID, bool) {
	r, ok := d.realms[realm]
	if !ok {
		return nil, false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	reg, ok := r.byID[id]
	if !ok {
		return nil, false
	}
	out := []wamp.ID{}
	for _, c := range reg.callees {
		if !c.info.Remote {
			out = append(out, c.info.ID)
		}
	}
	return out, true
}

// registrationID returns the ID of a new registration. The caller holds
// r.mu.
func (d *Dealer) registrationID(r *realm, match, uri string) wamp.ID {
	if !d.stable {
		return wamp.GlobalID()
	}
	return realms.StableID(r.name, match, uri, func(id wamp.ID) bool { _, taken := r.byID[id]; return taken })
}
