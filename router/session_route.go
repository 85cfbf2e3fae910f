package router

import (
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
	// dropInterrupts: the session is a callee for which call_canceling was
	// announced on its behalf (see emulateCallCanceling).
	dropInterrupts bool

	mu sync.Mutex
	// lookups are the requests of wamp.registration.lookup/match calls,
	// whose "not found" nexus answers with registration ID 0 instead of
	// null.
	lookups map[wamp.ID]struct{}
	// calls holds when each pending CALL (that nexus routes) arrived.
	calls map[wamp.ID]time.Time
}

var (
	_ transport.Route            = (*sessionRoute)(nil)
	_ transport.OutboundRewriter = (*sessionRoute)(nil)
)

func (r *sessionRoute) Handle(msg wamp.Message) bool {
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

func (r *sessionRoute) Leave() {
	r.broker.Leave()
	if r.onLeave != nil {
		r.onLeave()
	}
}

func (r *sessionRoute) Outbound(msg wamp.Message) wamp.Message {
	var request wamp.ID
	switch m := msg.(type) {
	case *wamp.Interrupt:
		if r.dropInterrupts {
			return nil
		}
		return msg
	case *wamp.Result:
		request = m.Request
		if progress, _ := m.Details["progress"].(bool); progress {
			return msg
		}
	case *wamp.Error:
		if m.Type != wamp.CALL {
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

// emulateCallCanceling lets callees that announce progressive_call_results
// but not call_canceling (autobahn.js, wampy.js) receive progressive calls:
// nexus v3.3.0 sets INVOCATION.Details.receive_progress only for callees
// with both features. It announces call_canceling for such a callee and
// reports whether it did, so that the INTERRUPTs the callee does not expect
// are dropped. A call cancelled in "kill" mode then completes when the callee
// answers, as with a callee that cannot be interrupted.
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
