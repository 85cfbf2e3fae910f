package dealer

import (
	"maps"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/realms"
)

// call is one CALL routed to a callee, from its INVOCATION until it ends.
// Everything sent for the call, to either side, is sent under mu, so the
// caller never sees a progressive RESULT after the final answer, and the
// callee never an INVOCATION after its INTERRUPT.
type call struct {
	caller     *Session
	request    wamp.ID // the caller's CALL request
	callee     *Session
	invocation wamp.ID // the callee's INVOCATION request
	started    time.Time

	// receiveProgress: progressive results go to the caller.
	receiveProgress bool
	// registration and details are the first INVOCATION's: every later
	// progressive invocation carries them too (WAMP spec).
	registration wamp.ID
	details      wamp.Dict

	mu sync.Mutex
	// done: the caller has had its final answer (or left); whatever the
	// callee still sends for the call is dropped.
	done bool
	// invoking: the caller is still sending progressive invocations.
	invoking bool
	// interrupted: an INTERRUPT went to the callee.
	interrupted bool
	timer       *time.Timer
}

// maxTimeoutMS caps a call's timeout (a year) so that no value overflows
// a time.Duration.
const maxTimeoutMS = 365 * 24 * 3600 * 1000

// pptOptions are the payload passthru options a CALL or YIELD carries over
// to the INVOCATION or RESULT unchanged.
var pptOptions = []string{wamp.OptPPTScheme, wamp.OptPPTSerializer, wamp.OptPPTCipher, wamp.OptPPTKeyId}

func copyPPT(from, to wamp.Dict) {
	for _, k := range pptOptions {
		if v, ok := from[k]; ok {
			to[k] = v
		}
	}
}

// Relayed is a call another node of the cluster routed to one of this
// node's registrations: the registration it chose (by the precedence, on
// the caller's node) and the caller's identity if it was disclosed.
type Relayed struct {
	URI, Match string
	Caller     *Caller
}

// Caller is a caller's identity as INVOCATION details disclose it.
type Caller struct {
	Session          wamp.ID
	AuthID, AuthRole string
}

// Relay routes a CALL from another node (s is a Remote, trusted session
// standing for that node's callers) to this node's own callees of the
// registration the other node chose. Answers go to s's Conn like any
// caller's; CANCEL goes through Handle.
func (s *Session) Relay(m *wamp.Call, rc Relayed) { s.route(m, &rc) }

// call routes a CALL: a new call, or the next progressive invocation of
// one in progress.
func (s *Session) call(m *wamp.Call) { s.route(m, nil) }

// route routes a CALL, to the best registration for its procedure or (rc
// not nil) to the one another node chose.
func (s *Session) route(m *wamp.Call, rc *Relayed) {
	r := s.r
	proc := string(m.Procedure)
	progress, _ := m.Options[wamp.OptProgress].(bool)

	if c := s.pending(m.Request); c != nil {
		s.continueCall(c, m, progress)
		return
	}
	if s.tailOfCutShort(m.Request, progress) {
		return // a chunk of a progressive call that has ended
	}
	refuse := func(uri wamp.URI, format string, args ...any) {
		s.d.obs.CallRefused(r.name, uri)
		s.replyError(wamp.CALL, m.Request, uri, format, args...)
	}
	if problem := r.uriProblem(proc, ""); problem != "" {
		refuse(wamp.ErrInvalidURI, "%s", problem)
		return
	}
	disclose, _ := m.Options[wamp.OptDiscloseMe].(bool)
	if !s.info.Trusted {
		p, ok := r.authz.Permission(s.subject(), proc, realms.ActionCall)
		if !ok {
			refuse(wamp.ErrNotAuthorized, "role %q may not call %q", s.info.AuthRole, proc)
			return
		}
		disclose = disclose || p.Disclose.Caller
	}
	if strings.HasPrefix(proc, "wamp.registration.") {
		s.metaCall(m)
		return
	}
	if strings.HasPrefix(proc, "wamp.") {
		refuse(wamp.ErrNoSuchProcedure, "no procedure %q", proc)
		return
	}

	r.mu.RLock()
	var reg *registration
	if rc != nil {
		reg = r.table(rc.Match)[rc.URI]
	} else {
		reg = r.best(proc)
	}
	var callee *Session
	var match, regURI string
	var discloseCaller bool
	if reg != nil {
		if rc != nil {
			callee = reg.pickLocal(randomIndex)
		} else {
			callee = reg.pick(randomIndex)
		}
		match, regURI, discloseCaller = reg.match, reg.uri, reg.discloseCaller
	}
	r.mu.RUnlock()
	if callee != nil && !callee.info.Trusted && r.authz != nil && r.authz.Protected(proc) &&
		!r.authz.AllowsRegister(callee.subject(), regURI, match) {
		s.d.log.Warn("protected procedure not routed to a registration its callee may no longer hold",
			"realm", r.name, "procedure", proc, "callee_session_id", uint64(callee.info.ID))
		callee = nil
	}
	if callee == nil {
		refuse(wamp.ErrNoSuchProcedure, "no procedure %q is registered", proc)
		return
	}
	// The spec counts a callee without call_canceling as not supporting
	// progressive call invocations.
	if progress && (!callee.info.Callee.ProgressiveCallInvocations || !callee.info.Callee.CallCanceling) {
		refuse(wamp.ErrFeatureNotSupported, "the callee of %q does not take progressive call invocations", proc)
		return
	}
	if scheme, _ := m.Options[wamp.OptPPTScheme].(string); scheme != "" && !callee.info.Callee.PayloadPassthru {
		refuse(wamp.ErrFeatureNotSupported, "the callee of %q does not support payload passthru mode", proc)
		return
	}

	details := wamp.Dict{}
	if match != realms.MatchExact {
		details[wamp.OptProcedure] = proc
	}
	switch {
	case rc != nil: // the caller's node decided
		if rc.Caller != nil {
			details["caller"] = rc.Caller.Session
			details["caller_authid"] = rc.Caller.AuthID
			details["caller_authrole"] = rc.Caller.AuthRole
		}
	case disclose || discloseCaller:
		details["caller"] = s.info.ID
		details["caller_authid"] = s.info.AuthID
		details["caller_authrole"] = s.info.AuthRole
	}
	c := &call{caller: s, request: m.Request, callee: callee, started: time.Now(), invoking: progress}
	// A caller that asks for progressive results gets every progressive
	// YIELD; the callee is told it may send them if it announced the
	// feature (wampy.js sends them without announcing it).
	if want, _ := m.Options[wamp.OptReceiveProgress].(bool); want {
		c.receiveProgress = true
		if callee.info.Callee.ProgressiveCallResults {
			details[wamp.OptReceiveProgress] = true
		}
	}
	// timeout is in milliseconds; a fraction (some clients send one) is
	// rounded up, so that a positive timeout never means none.
	timeoutMS, _ := wamp.AsFloat64(m.Options[wamp.OptTimeout])
	timeoutMS = min(timeoutMS, maxTimeoutMS)
	timeout := time.Duration(math.Ceil(timeoutMS)) * time.Millisecond
	if timeout > 0 && callee.info.Callee.CallTimeout {
		details[wamp.OptTimeout] = m.Options[wamp.OptTimeout]
	}
	copyPPT(m.Options, details)
	if progress {
		c.registration, c.details = reg.id, maps.Clone(details)
		details[wamp.OptProgress] = true
	}

	// The caller's bound, then the callee's book, each session's lock on
	// its own, under c.mu: nothing can end the call before it is in both.
	c.mu.Lock()
	s.mu.Lock()
	if s.gone {
		s.mu.Unlock()
		c.mu.Unlock()
		return
	}
	if r.maxCalls > 0 && !s.info.Trusted && s.inFlight() >= r.maxCalls {
		s.mu.Unlock()
		c.mu.Unlock()
		s.d.obs.LimitExceeded(r.name, LimitCallsPerSession)
		s.d.log.Warn("call refused", "realm", r.name, "session_id", uint64(s.info.ID), "limit", LimitCallsPerSession, "max", r.maxCalls)
		refuse(LimitExceededURI, "%s limit of %d reached: wait for results first", LimitCallsPerSession, r.maxCalls)
		return
	}
	if _, inUse := s.calls[m.Request]; inUse {
		// A call leaves the book before its answer is sent, so this one is
		// still in progress: the client reused its request ID.
		s.mu.Unlock()
		c.mu.Unlock()
		refuse(wamp.ErrInvalidArgument, "request ID %d belongs to a call in progress", m.Request)
		return
	}
	if s.calls == nil {
		s.calls = map[wamp.ID]*call{}
	}
	s.calls[m.Request] = c
	s.mu.Unlock()

	callee.mu.Lock()
	if callee.gone {
		callee.mu.Unlock()
		c.done = true
		s.forget(c)
		c.mu.Unlock()
		s.d.obs.CallEnded(r.name, OutcomeCalleeLost, 0)
		s.send(&wamp.Error{Type: wamp.CALL, Request: m.Request, Details: wamp.Dict{}, Error: wamp.ErrCanceled,
			Arguments: wamp.List{"the callee left"}, ArgumentsKw: wamp.Dict{"reason": "callee_lost"}})
		return
	}
	// The INVOCATION is numbered and queued under the callee's lock, so
	// that concurrent callers' INVOCATIONs reach it in increasing order
	// (the WAMP spec numbers a session's requests sequentially; the nexus
	// client drops one that is out of order).
	c.invocation = wamp.ID(callee.nextInvocation.Add(1))
	if callee.invocations == nil {
		callee.invocations = map[wamp.ID]*call{}
	}
	callee.invocations[c.invocation] = c
	sent := callee.conn.Send(&wamp.Invocation{Request: c.invocation, Registration: reg.id, Details: details,
		Arguments: m.Arguments, ArgumentsKw: m.ArgumentsKw})
	callee.mu.Unlock()
	if timeout > 0 {
		c.timer = time.AfterFunc(timeout, c.timedOut)
	}
	c.mu.Unlock()
	if !sent {
		go callee.Leave()
		c.calleeLost("the callee is being disconnected (slow consumer)")
	}
}

// inFlight counts the session's calls that have not ended. The caller
// holds s.mu.
func (s *Session) inFlight() int { return len(s.calls) }

// pending returns the session's call of request if it is still taking
// progressive invocations.
func (s *Session) pending(request wamp.ID) *call {
	s.mu.Lock()
	c := s.calls[request]
	s.mu.Unlock()
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done || !c.invoking {
		return nil
	}
	return c
}

// continueCall sends the next progressive invocation of c, with the
// first INVOCATION's registration and details.
func (s *Session) continueCall(c *call, m *wamp.Call, progress bool) {
	c.mu.Lock()
	if c.done || c.interrupted {
		c.mu.Unlock()
		return
	}
	details := maps.Clone(c.details)
	if progress {
		details[wamp.OptProgress] = true
	}
	c.invoking = progress
	sent := c.callee.send(&wamp.Invocation{Request: c.invocation, Registration: c.registration, Details: details,
		Arguments: m.Arguments, ArgumentsKw: m.ArgumentsKw})
	c.mu.Unlock()
	if !sent {
		c.calleeLost("the callee is being disconnected (slow consumer)")
	}
}

// invocationOf returns the callee's pending invocation of request.
func (s *Session) invocationOf(request wamp.ID) *call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.invocations[request]
}

func (s *Session) yield(m *wamp.Yield) {
	c := s.invocationOf(m.Request)
	if c == nil {
		return // the call ended (cancelled, timed out, its caller left)
	}
	details := wamp.Dict{}
	copyPPT(m.Options, details)
	if progress, _ := m.Options[wamp.OptProgress].(bool); progress {
		if !c.receiveProgress {
			return // the caller did not ask for progressive results
		}
		details[wamp.OptProgress] = true
		c.mu.Lock()
		if !c.done {
			c.caller.send(&wamp.Result{Request: c.request, Details: details, Arguments: m.Arguments, ArgumentsKw: m.ArgumentsKw})
		}
		c.mu.Unlock()
		return
	}
	c.end(OutcomeResult, &wamp.Result{Request: c.request, Details: details, Arguments: m.Arguments, ArgumentsKw: m.ArgumentsKw})
}

func (s *Session) invocationError(m *wamp.Error) {
	c := s.invocationOf(m.Request)
	if c == nil {
		return
	}
	details := m.Details
	if details == nil {
		details = wamp.Dict{}
	}
	c.end(OutcomeError, &wamp.Error{Type: wamp.CALL, Request: c.request, Details: details, Error: m.Error,
		Arguments: m.Arguments, ArgumentsKw: m.ArgumentsKw})
}

// cancel handles the caller's CANCEL: skip answers the caller at once and
// leaves the callee alone; killnowait answers at once and interrupts the
// callee; kill interrupts the callee and waits for its answer. A callee
// without call_canceling is never interrupted: every mode is skip for it.
func (s *Session) cancel(m *wamp.Cancel) {
	mode, _ := wamp.AsString(m.Options[wamp.OptMode])
	switch mode {
	case wamp.CancelModeSkip, wamp.CancelModeKill, wamp.CancelModeKillNoWait:
	case "":
		mode = wamp.CancelModeKillNoWait
	default:
		s.replyError(wamp.CANCEL, m.Request, wamp.ErrInvalidArgument, "unknown cancel mode %q", mode)
		return
	}
	s.mu.Lock()
	c := s.calls[m.Request]
	s.mu.Unlock()
	if c == nil {
		return // it ended already: the caller has its answer
	}
	canInterrupt := c.callee.info.Callee.CallCanceling
	if mode == wamp.CancelModeKill && canInterrupt {
		c.mu.Lock()
		if !c.done && !c.interrupted { // a second CANCEL sends no second INTERRUPT
			c.interruptLocked(wamp.CancelModeKill, wamp.ErrCanceled)
		}
		c.mu.Unlock()
		return
	}
	interrupt := mode != wamp.CancelModeSkip && canInterrupt
	c.finish(OutcomeCanceled, &wamp.Error{Type: wamp.CALL, Request: c.request, Details: wamp.Dict{}, Error: wamp.ErrCanceled,
		Arguments: wamp.List{"the call was cancelled"}}, interrupt, wamp.ErrCanceled)
}

// timedOut ends a call whose timeout passed: the caller gets
// wamp.error.timeout, the callee (if it can take one) an INTERRUPT.
func (c *call) timedOut() {
	c.finish(OutcomeTimeout, &wamp.Error{Type: wamp.CALL, Request: c.request, Details: wamp.Dict{}, Error: wamp.ErrTimeout,
		Arguments: wamp.List{"the call timed out"}}, c.callee.info.Callee.CallCanceling, wamp.ErrTimeout)
}

// calleeLost fails a call whose callee left or cannot be reached.
func (c *call) calleeLost(why string) {
	c.finish(OutcomeCalleeLost, &wamp.Error{Type: wamp.CALL, Request: c.request, Details: wamp.Dict{}, Error: wamp.ErrCanceled,
		Arguments: wamp.List{why}, ArgumentsKw: wamp.Dict{"reason": "callee_lost"}}, false, "")
}

// callerLost drops a call whose caller left, interrupting the callee if it
// can take an INTERRUPT.
func (c *call) callerLost() {
	c.finish(OutcomeCallerLost, nil, c.callee.info.Callee.CallCanceling, wamp.ErrCanceled)
}

// end gives the caller the callee's final answer.
func (c *call) end(outcome string, answer wamp.Message) { c.finish(outcome, answer, false, "") }

// finish ends c once: both sessions forget the call, then answer (if any)
// goes to the caller and an INTERRUPT (killnowait, with reason) to the
// callee if interrupt. The call is forgotten first, so that a caller that
// has its answer finds its bound of calls in flight freed and may reuse
// the request ID at once. Lock order: c.mu, then a session's mu (never
// the other way round).
func (c *call) finish(outcome string, answer wamp.Message, interrupt bool, reason wamp.URI) {
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		return
	}
	c.done = true
	if c.timer != nil {
		c.timer.Stop()
	}
	c.caller.forget(c)
	c.callee.mu.Lock()
	if c.callee.invocations[c.invocation] == c {
		delete(c.callee.invocations, c.invocation)
	}
	c.callee.mu.Unlock()
	if interrupt && !c.interrupted {
		c.interruptLocked(wamp.CancelModeKillNoWait, reason)
	}
	if answer != nil {
		c.caller.send(answer)
	}
	c.mu.Unlock()
	c.caller.d.obs.CallEnded(c.caller.r.name, outcome, time.Since(c.started))
}

// interruptLocked sends the callee an INTERRUPT. The caller holds c.mu.
func (c *call) interruptLocked(mode string, reason wamp.URI) {
	c.interrupted = true
	c.callee.send(&wamp.Interrupt{Request: c.invocation, Options: wamp.Dict{wamp.OptMode: mode, wamp.OptReason: reason}})
}

// forget removes c from its caller's calls (unless the request ID already
// names a newer call); a progressive call whose caller was still sending
// chunks is remembered, so that those chunks are dropped. The caller holds
// c.mu.
func (s *Session) forget(c *call) {
	s.mu.Lock()
	if s.calls[c.request] == c {
		delete(s.calls, c.request)
		if c.invoking {
			s.noteCutShort(c.request)
		}
	}
	s.mu.Unlock()
}
