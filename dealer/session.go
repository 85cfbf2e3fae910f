package dealer

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/realms"
)

// Session is one WAMP session as the dealer knows it: its calls as a
// caller, its invocations as a callee, its registrations.
type Session struct {
	d    *Dealer
	r    *realm
	conn Conn
	info SessionInfo

	nextInvocation atomic.Uint64

	mu   sync.Mutex
	gone bool
	// Allocated on first use: most sessions of a web app never call.
	calls       map[wamp.ID]*call // as caller, by CALL request ID
	invocations map[wamp.ID]*call // as callee, by INVOCATION request ID
	regs        map[wamp.ID]*registration
	// cutShort holds the request IDs of progressive calls that ended while
	// their caller was still sending chunks (the callee answered early, a
	// timeout, a cancel): the chunks still on their way are dropped, not
	// taken for new calls. At most maxCutShort, oldest forgotten first.
	cutShort      map[wamp.ID]struct{}
	cutShortOrder []wamp.ID
}

// maxCutShort bounds a session's remembered cut-short progressive calls.
const maxCutShort = 64

// noteCutShort remembers request as a progressive call that ended before
// its last chunk. The caller holds s.mu.
func (s *Session) noteCutShort(request wamp.ID) {
	if s.cutShort == nil {
		s.cutShort = map[wamp.ID]struct{}{}
	}
	if _, ok := s.cutShort[request]; ok {
		return
	}
	if len(s.cutShortOrder) == maxCutShort {
		delete(s.cutShort, s.cutShortOrder[0])
		s.cutShortOrder = s.cutShortOrder[1:]
	}
	s.cutShort[request] = struct{}{}
	s.cutShortOrder = append(s.cutShortOrder, request)
}

// tailOfCutShort reports whether a CALL of request is a chunk of a
// progressive call that ended already; its last chunk (progress false)
// forgets the call.
func (s *Session) tailOfCutShort(request wamp.ID, progress bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cutShort[request]; !ok {
		return false
	}
	if !progress {
		delete(s.cutShort, request)
		for i, id := range s.cutShortOrder {
			if id == request {
				s.cutShortOrder = append(s.cutShortOrder[:i:i], s.cutShortOrder[i+1:]...)
				break
			}
		}
	}
	return true
}

// ID returns the WAMP session ID.
func (s *Session) ID() wamp.ID { return s.info.ID }

// PendingInvocations returns the request IDs of the invocations the
// session has not answered yet (as a callee), at most limit of them.
func (s *Session) PendingInvocations(limit int) []wamp.ID {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]wamp.ID, 0, min(len(s.invocations), limit))
	for id := range s.invocations {
		if len(out) == limit {
			break
		}
		out = append(out, id)
	}
	return out
}

func (s *Session) subject() realms.Subject {
	return realms.Subject{SessionID: s.info.ID, AuthID: s.info.AuthID, Role: s.info.AuthRole}
}

// Handle processes the session's RPC messages and reports whether msg was
// one; a CALL of a wamp.session.* procedure (nexus's session meta API) is
// left to nexus.
func (s *Session) Handle(msg wamp.Message) bool {
	switch m := msg.(type) {
	case *wamp.Call:
		if strings.HasPrefix(string(m.Procedure), "wamp.session.") {
			return false
		}
		s.call(m)
	case *wamp.Yield:
		s.yield(m)
	case *wamp.Error:
		if m.Type != wamp.INVOCATION {
			return false
		}
		s.invocationError(m)
	case *wamp.Cancel:
		s.cancel(m)
	case *wamp.Register:
		s.register(m)
	case *wamp.Unregister:
		s.unregister(m)
	default:
		return false
	}
	return true
}

// send queues msg for the session; if it cannot be queued the session is
// being disconnected, and its calls end now rather than when its
// connection finally closes.
func (s *Session) send(msg wamp.Message) bool {
	if s.conn.Send(msg) {
		return true
	}
	go s.Leave()
	return false
}

func (s *Session) replyError(typ wamp.MessageType, request wamp.ID, uri wamp.URI, format string, args ...any) {
	s.send(&wamp.Error{Type: typ, Request: request, Details: wamp.Dict{}, Error: uri,
		Arguments: wamp.List{fmt.Sprintf(format, args...)}})
}

func (s *Session) register(m *wamp.Register) {
	r := s.r
	uri := string(m.Procedure)
	match, _ := wamp.AsString(m.Options[wamp.OptMatch])
	switch match {
	case "":
		match = realms.MatchExact
	case realms.MatchExact, realms.MatchPrefix, realms.MatchWildcard:
	default:
		s.replyError(wamp.REGISTER, m.Request, wamp.ErrInvalidArgument, "unknown match policy %q", match)
		return
	}
	policy, _ := wamp.AsString(m.Options[wamp.OptInvoke])
	switch policy {
	case "":
		policy = wamp.InvokeSingle
	case wamp.InvokeSingle, wamp.InvokeRoundRobin, wamp.InvokeRandom, wamp.InvokeFirst, wamp.InvokeLast:
	default:
		s.replyError(wamp.REGISTER, m.Request, wamp.ErrInvalidArgument, "unknown invocation policy %q", policy)
		return
	}
	if problem := r.uriProblem(uri, match); problem != "" {
		s.replyError(wamp.REGISTER, m.Request, wamp.ErrInvalidURI, "%s", problem)
		return
	}
	if strings.HasPrefix(uri, "wamp.") {
		s.replyError(wamp.REGISTER, m.Request, wamp.ErrInvalidURI, "procedures under wamp. are the router's")
		return
	}
	if !s.info.Trusted && !r.authz.AllowsRegister(s.subject(), uri, match) {
		s.replyError(wamp.REGISTER, m.Request, wamp.ErrNotAuthorized, "role %q may not register %q", s.info.AuthRole, uri)
		return
	}
	disclose := false
	if s.info.Trusted {
		disclose, _ = m.Options[wamp.OptDiscloseCaller].(bool)
	}
	// Across the cluster first (a round trip, no lock held): another node
	// may have registered it a moment ago.
	if s.d.claim != nil && !s.info.Remote {
		if err := s.d.claim(r.name, uri, match, policy); err != nil {
			s.replyError(wamp.REGISTER, m.Request, wamp.ErrProcedureAlreadyExists, "procedure %q is already registered: %v", uri, err)
			return
		}
	}

	s.mu.Lock()
	if s.gone {
		s.mu.Unlock()
		return
	}
	if r.maxRegs > 0 && !s.info.Remote && len(s.regs) >= r.maxRegs { // a mirror holds another node's registrations
		s.mu.Unlock()
		s.d.obs.LimitExceeded(r.name, LimitRegistrationsPerSession)
		s.d.log.Warn("registration refused", "realm", r.name, "session_id", uint64(s.info.ID), "limit", LimitRegistrationsPerSession, "max", r.maxRegs)
		s.replyError(wamp.REGISTER, m.Request, LimitExceededURI, "%s limit of %d reached: unregister first", LimitRegistrationsPerSession, r.maxRegs)
		return
	}
	r.mu.Lock()
	reg, exists := r.table(match)[uri]
	switch {
	case !exists:
		reg = &registration{id: s.d.registrationID(r, match, uri), uri: uri, match: match, policy: policy, created: time.Now(), discloseCaller: disclose}
		r.add(reg)
	case reg.policy == wamp.InvokeSingle || policy == wamp.InvokeSingle:
		r.mu.Unlock()
		s.mu.Unlock()
		s.replyError(wamp.REGISTER, m.Request, wamp.ErrProcedureAlreadyExists, "procedure %q is already registered", uri)
		return
	case reg.policy != policy:
		r.mu.Unlock()
		s.mu.Unlock()
		s.replyError(wamp.REGISTER, m.Request, wamp.ErrProcedureAlreadyExists,
			"procedure %q is registered with invocation policy %q, not %q", uri, reg.policy, policy)
		return
	default:
		if _, mine := s.regs[reg.id]; mine {
			r.mu.Unlock()
			s.mu.Unlock()
			s.replyError(wamp.REGISTER, m.Request, wamp.ErrProcedureAlreadyExists, "this session has registered %q already", uri)
			return
		}
	}
	// REGISTERED is queued before a caller can see the new callee (callers
	// pick callees under the read lock), so it precedes every INVOCATION.
	s.send(&wamp.Registered{Request: m.Request, Registration: reg.id})
	reg.callees = append(reg.callees, s)
	n := r.count()
	r.mu.Unlock()
	if s.regs == nil {
		s.regs = map[wamp.ID]*registration{}
	}
	s.regs[reg.id] = reg
	s.mu.Unlock()

	s.d.obs.Registrations(r.name, n)
	s.registrationsChanged()
	if !exists {
		s.publishMeta(wamp.MetaEventRegOnCreate, wamp.List{s.info.ID, reg.details()})
	}
	s.publishMeta(wamp.MetaEventRegOnRegister, wamp.List{s.info.ID, reg.id})
}

func (s *Session) unregister(m *wamp.Unregister) {
	s.mu.Lock()
	reg, ok := s.regs[m.Registration]
	if ok {
		delete(s.regs, m.Registration)
	}
	s.mu.Unlock()
	if !ok {
		s.replyError(wamp.UNREGISTER, m.Request, wamp.ErrNoSuchRegistration, "no registration %d of this session", m.Registration)
		return
	}
	deleted := s.detach(reg)
	s.send(&wamp.Unregistered{Request: m.Request})
	s.unregistered(reg, deleted)
}

// detach takes s off reg's callees and deletes reg if it has none left,
// reporting whether it did.
func (s *Session) detach(reg *registration) bool {
	r := s.r
	r.mu.Lock()
	for i, c := range reg.callees {
		if c == s {
			reg.callees = append(reg.callees[:i:i], reg.callees[i+1:]...)
			break
		}
	}
	deleted := len(reg.callees) == 0
	if deleted {
		r.remove(reg)
	}
	n := r.count()
	r.mu.Unlock()
	s.d.obs.Registrations(r.name, n)
	s.registrationsChanged()
	return deleted
}

func (s *Session) unregistered(reg *registration, deleted bool) {
	s.publishMeta(wamp.MetaEventRegOnUnregister, wamp.List{s.info.ID, reg.id})
	if deleted {
		s.publishMeta(wamp.MetaEventRegOnDelete, wamp.List{s.info.ID, reg.id})
	}
}

func (s *Session) publishMeta(topic wamp.URI, args wamp.List) {
	// A Remote session mirrors another node's registrations: that node
	// publishes their meta events, which reach this node's subscribers.
	if s.d.meta != nil && !s.info.Remote {
		s.d.meta(s.r.name, topic, args)
	}
}

// Leave ends the session: its registrations go, the calls it was serving
// fail for their callers at once, the calls it made are dropped (their
// callees interrupted where they can be). Later calls do nothing.
func (s *Session) Leave() {
	s.mu.Lock()
	if s.gone {
		s.mu.Unlock()
		return
	}
	s.gone = true
	regs := s.regs
	s.regs = nil
	invocations := make([]*call, 0, len(s.invocations))
	for _, c := range s.invocations {
		invocations = append(invocations, c)
	}
	calls := make([]*call, 0, len(s.calls))
	for _, c := range s.calls {
		calls = append(calls, c)
	}
	s.mu.Unlock()

	for _, reg := range regs {
		s.unregistered(reg, s.detach(reg))
	}
	for _, c := range invocations {
		c.calleeLost("the callee left")
	}
	for _, c := range calls {
		c.callerLost()
	}
}

func randomIndex(n int) int { return rand.IntN(n) }
