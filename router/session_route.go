package router

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-wamp/switchboard/broker"
	"github.com/switchboard-wamp/switchboard/transport"
)

// sessionRoute is what a welcomed session's messages meet before nexus:
// the broker takes publish/subscribe, and answers nexus gets wrong are
// corrected on their way out.
type sessionRoute struct {
	broker *broker.Session
	// callDuration times this session's calls; onLeave updates the gauges.
	callDuration prometheus.Observer
	onLeave      func()
	// answerInterrupts: the session is a callee for which call_canceling
	// was announced on its behalf (see emulateCallCanceling); deliver
	// hands nexus the answers the router gives for it.
	answerInterrupts bool
	deliver          func(wamp.Message)
	// registrationLimit is max_registrations_per_session, which the router
	// enforces here since nexus's dealer has no such limit.
	registrationLimit registrationLimit

	mu sync.Mutex
	// lookups are the requests of wamp.registration.lookup/match calls,
	// whose "not found" nexus answers with registration ID 0 instead of
	// null.
	lookups map[wamp.ID]struct{}
	// calls holds when each pending CALL (that nexus routes) arrived.
	calls map[wamp.ID]time.Time
	// registrations are the session's registrations (from REGISTERED);
	// pendingRegisters counts its REGISTERs nexus has not answered yet;
	// unregistering holds, per request ID, the registrations of pending
	// UNREGISTERs in order (nexus answers a session's requests in order,
	// and request IDs may repeat).
	registrations    map[wamp.ID]struct{}
	pendingRegisters int
	unregistering    map[wamp.ID][]wamp.ID
}

// registrationLimit is a session's max_registrations_per_session.
type registrationLimit struct {
	max     int // 0: no limit
	refused prometheus.Counter
	log     *slog.Logger
}

var (
	_ transport.Route            = (*sessionRoute)(nil)
	_ transport.OutboundRewriter = (*sessionRoute)(nil)
)

func (r *sessionRoute) Handle(msg wamp.Message) bool {
	switch m := msg.(type) {
	case *wamp.Register:
		return r.register(m)
	case *wamp.Unregister:
		r.mu.Lock()
		if r.unregistering == nil {
			r.unregistering = map[wamp.ID][]wamp.ID{}
		}
		r.unregistering[m.Request] = append(r.unregistering[m.Request], m.Registration)
		r.mu.Unlock()
		return false
	}
	if call, ok := msg.(*wamp.Call); ok {
		if r.broker.Handle(msg) { // wamp.subscription.* answered by the broker
			return true
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.calls == nil {
			r.calls = map[wamp.ID]time.Time{}
		}
		r.calls[call.Request] = time.Now()
		switch call.Procedure {
		case wamp.MetaProcRegLookup, wamp.MetaProcRegMatch:
			if r.lookups == nil {
				r.lookups = map[wamp.ID]struct{}{}
			}
			r.lookups[call.Request] = struct{}{}
		}
		return false // nexus's dealer routes it
	}
	return r.broker.Handle(msg)
}

// register answers a REGISTER over the session's limit with ERROR
// switchboard.error.limit_exceeded, and lets nexus have the others.
func (r *sessionRoute) register(m *wamp.Register) bool {
	lim := r.registrationLimit
	r.mu.Lock()
	held := len(r.registrations) + r.pendingRegisters
	over := lim.max > 0 && held >= lim.max
	if !over {
		r.pendingRegisters++
	}
	r.mu.Unlock()
	if !over {
		return false
	}
	if lim.refused != nil {
		lim.refused.Inc()
	}
	if lim.log != nil {
		lim.log.Warn("registration refused", "session_id", uint64(r.broker.ID()), "limit", broker.LimitRegistrationsPerSession, "max", lim.max)
	}
	r.broker.Send(&wamp.Error{Type: wamp.REGISTER, Request: m.Request, Details: wamp.Dict{}, Error: broker.LimitExceededURI,
		Arguments: wamp.List{fmt.Sprintf("%s: %s limit of %d reached: unregister first", broker.ErrLimitExceeded, broker.LimitRegistrationsPerSession, lim.max)}})
	return true
}

// trackRegistrations follows nexus's answers to the session's REGISTERs
// and UNREGISTERs.
func (r *sessionRoute) trackRegistrations(msg wamp.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch m := msg.(type) {
	case *wamp.Registered:
		if r.registrations == nil {
			r.registrations = map[wamp.ID]struct{}{}
		}
		r.registrations[m.Registration] = struct{}{}
		r.pendingRegisters = max(r.pendingRegisters-1, 0)
	case *wamp.Unregistered:
		if id, ok := r.popUnregistering(m.Request); ok {
			delete(r.registrations, id)
		}
	case *wamp.Error:
		switch m.Type {
		case wamp.REGISTER:
			r.pendingRegisters = max(r.pendingRegisters-1, 0)
		case wamp.UNREGISTER:
			r.popUnregistering(m.Request)
		}
	}
}

// popUnregistering takes the oldest pending UNREGISTER of request. The
// caller holds r.mu.
func (r *sessionRoute) popUnregistering(request wamp.ID) (wamp.ID, bool) {
	q := r.unregistering[request]
	if len(q) == 0 {
		return 0, false
	}
	id := q[0]
	if len(q) == 1 {
		delete(r.unregistering, request)
	} else {
		r.unregistering[request] = q[1:]
	}
	return id, true
}

func (r *sessionRoute) Leave() {
	r.broker.Leave()
	if r.onLeave != nil {
		r.onLeave()
	}
}

func (r *sessionRoute) Outbound(msg wamp.Message) wamp.Message {
	var request wamp.ID
	switch m := msg.(type) {
	case *wamp.Registered, *wamp.Unregistered:
		r.trackRegistrations(msg)
		return msg
	case *wamp.Interrupt:
		if !r.answerInterrupts {
			return msg
		}
		// The callee never announced call_canceling: it is not sent
		// INTERRUPT, and the call ends as in mode skip. For kill, where
		// nexus's dealer waits for the callee's answer, the router answers
		// for it; its later YIELD finds no invocation and is dropped.
		if mode, _ := m.Options[wamp.OptMode].(string); mode == wamp.CancelModeKill && r.deliver != nil {
			reason, _ := m.Options[wamp.OptReason].(wamp.URI)
			if reason == "" {
				reason = wamp.ErrCanceled
			}
			r.deliver(&wamp.Error{Type: wamp.INVOCATION, Request: m.Request, Details: wamp.Dict{}, Error: reason})
		}
		return nil
	case *wamp.Result:
		request = m.Request
		if progress, _ := m.Details["progress"].(bool); progress {
			return msg
		}
	case *wamp.Error:
		if m.Type != wamp.CALL {
			r.trackRegistrations(msg)
			return msg
		}
		request = m.Request
	default:
		return msg
	}
	r.mu.Lock()
	_, isLookup := r.lookups[request]
	delete(r.lookups, request)
	start, timed := r.calls[request]
	delete(r.calls, request)
	r.mu.Unlock()
	if timed && r.callDuration != nil {
		r.callDuration.Observe(time.Since(start).Seconds())
	}
	if res, ok := msg.(*wamp.Result); ok && isLookup && len(res.Arguments) == 1 {
		// AsID rejects 0 as an invalid ID, which is what is looked for.
		if n, ok := wamp.AsInt64(res.Arguments[0]); ok && n == 0 {
			res.Arguments = wamp.List{nil}
		}
	}
	return msg
}

// helloInfo is what the router takes from a client's HELLO before nexus
// sees it.
type helloInfo struct {
	// emulatedCanceling: see emulateCallCanceling.
	emulatedCanceling bool
	// publisherIdentification: the subscriber accepts publisher details.
	publisherIdentification bool
}

// readHello notes what switchboard's broker needs from the HELLO, then
// removes the publisher and subscriber features: nexus keeps every
// announced feature for the session's lifetime (about 1 KiB for
// autobahn.js's), but routes no publish/subscribe of remote sessions. The
// roles themselves stay (nexus requires one).
func readHello(hello *wamp.Hello) helloInfo {
	roles := childMap(hello.Details, "roles")
	var info helloInfo
	info.publisherIdentification, _ = childMap(childMap(roles, wamp.RoleSubscriber), "features")[wamp.FeaturePubIdent].(bool)
	for _, role := range []string{wamp.RolePublisher, wamp.RoleSubscriber} {
		if m := childMap(roles, role); m != nil {
			delete(m, "features")
		}
	}
	info.emulatedCanceling = emulateCallCanceling(hello)
	return info
}

// emulateCallCanceling lets callees that announce progressive_call_results
// but not call_canceling (autobahn.js) receive progressive calls: nexus
// v3.3.0 sets INVOCATION.Details.receive_progress only for callees with
// both features. It announces call_canceling to nexus for such a callee and
// reports whether it did; the callee itself is never sent the INTERRUPTs
// this makes nexus send (sessionRoute.Outbound answers them), so to it and
// its callers cancelling behaves as the WAMP spec says for a callee without
// call_canceling. Switchboard's own dealer (next) will not need this.
func emulateCallCanceling(hello *wamp.Hello) bool {
	// The decoded maps themselves must change: nexus's Dict helpers copy.
	features := childMap(childMap(childMap(hello.Details, "roles"), "callee"), "features")
	if features == nil {
		return false
	}
	progressive, _ := features[wamp.FeatureProgCallResults].(bool)
	canceling, _ := features[wamp.FeatureCallCanceling].(bool)
	if !progressive || canceling {
		return false
	}
	features[wamp.FeatureCallCanceling] = true
	return true
}

// childMap returns m[key] if it is a map, without copying it.
func childMap(m map[string]any, key string) map[string]any {
	switch c := m[key].(type) {
	case wamp.Dict:
		return c
	case map[string]any:
		return c
	}
	return nil
}
