package broker

import (
	"fmt"
	"strings"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/realms"
)

// The subscription meta procedures, spelled as the WAMP spec spells them
// (nexus v3.3.0 registers count_subscribers misspelled).
const (
	procSubList             = "wamp.subscription.list"
	procSubLookup           = "wamp.subscription.lookup"
	procSubMatch            = "wamp.subscription.match"
	procSubGet              = "wamp.subscription.get"
	procSubListSubscribers  = "wamp.subscription.list_subscribers"
	procSubCountSubscribers = "wamp.subscription.count_subscribers"
	procSubGetEvents        = "wamp.subscription.get_events"
)

// metaCall answers a CALL to a wamp.subscription.* procedure from the
// broker's own state, or refuses a testament, and reports whether it did.
func (s *Session) metaCall(m *wamp.Call) bool {
	proc := string(m.Procedure)
	if m.Procedure == wamp.MetaProcSessionAddTestament {
		return s.refuseTestament(m)
	}
	if !strings.HasPrefix(proc, "wamp.subscription.") {
		return false
	}
	if _, ok := s.realm.authz.Permission(s.subject(), proc, realms.ActionCall); !ok {
		s.replyError(wamp.CALL, m.Request, wamp.ErrNotAuthorized, fmt.Sprintf("role %q may not call %q", s.authRole, proc))
		return true
	}
	r := s.realm
	result := func(args ...any) {
		s.reply(&wamp.Result{Request: m.Request, Details: wamp.Dict{}, Arguments: wamp.List(args)})
	}
	fail := func(uri wamp.URI, msg string) { s.replyError(wamp.CALL, m.Request, uri, msg) }
	argString := func(i int) (string, bool) {
		if len(m.Arguments) <= i {
			return "", false
		}
		return wamp.AsString(m.Arguments[i])
	}
	argID := func(i int) (wamp.ID, bool) {
		if len(m.Arguments) <= i {
			return 0, false
		}
		return wamp.AsID(m.Arguments[i])
	}
	if proc == procSubGetEvents {
		s.getEvents(m, argID, fail, result)
		return true
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	switch proc {
	case procSubList:
		ids := func(table map[string]*subscription) []wamp.ID {
			out := make([]wamp.ID, 0, len(table))
			for _, sub := range table {
				out = append(out, sub.id)
			}
			return out
		}
		result(wamp.Dict{"exact": ids(r.exact), "prefix": ids(r.prefix), "wildcard": ids(r.wildcard)})
	case procSubLookup:
		topic, ok := argString(0)
		if !ok {
			fail(wamp.ErrInvalidArgument, "lookup: want a topic URI argument")
			return true
		}
		match := realms.MatchExact
		if len(m.Arguments) > 1 {
			if opts, ok := wamp.AsDict(m.Arguments[1]); ok {
				if v, ok := wamp.AsString(opts["match"]); ok {
					match = v
				}
			}
		}
		if sub, ok := r.table(match)[topic]; ok {
			result(sub.id)
		} else {
			result(nil)
		}
	case procSubMatch:
		topic, ok := argString(0)
		if !ok {
			fail(wamp.ErrInvalidArgument, "match: want a topic URI argument")
			return true
		}
		var ids []wamp.ID
		r.matches(topic, func(sub *subscription) { ids = append(ids, sub.id) })
		if len(ids) == 0 {
			result(nil)
		} else {
			result(ids)
		}
	case procSubGet, procSubListSubscribers, procSubCountSubscribers:
		id, ok := argID(0)
		if !ok {
			fail(wamp.ErrInvalidArgument, "want a subscription ID argument")
			return true
		}
		sub, ok := r.byID[id]
		if !ok {
			fail(wamp.ErrNoSuchSubscription, fmt.Sprintf("no subscription %d", id))
			return true
		}
		switch proc {
		case procSubGet:
			result(sub.details())
		case procSubListSubscribers:
			ids := make([]wamp.ID, 0, len(sub.subscribers))
			for subscriber := range sub.subscribers {
				ids = append(ids, subscriber.id)
			}
			result(ids)
		case procSubCountSubscribers:
			result(len(sub.subscribers))
		}
	default:
		fail(wamp.ErrNoSuchProcedure, fmt.Sprintf("no procedure %q", proc))
	}
	return true
}

// getEvents answers wamp.subscription.get_events(subscription, limit?): the
// history is a subscription's topic's events, so the caller's role must be
// allowed to subscribe to that topic (pattern), not only to call the
// procedure. The realm is not locked while a dynamic authorizer decides.
func (s *Session) getEvents(m *wamp.Call, argID func(int) (wamp.ID, bool), fail func(wamp.URI, string), result func(...any)) {
	r := s.realm
	id, ok := argID(0)
	if !ok {
		fail(wamp.ErrInvalidArgument, "want a subscription ID argument")
		return
	}
	r.mu.RLock()
	sub, ok := r.byID[id]
	r.mu.RUnlock()
	if !ok {
		fail(wamp.ErrNoSuchSubscription, fmt.Sprintf("no subscription %d", id))
		return
	}
	topic, match := sub.pattern.URI(), sub.pattern.Match()
	if !r.authz.AllowsPattern(s.subject(), topic, match, realms.ActionSubscribe) {
		fail(wamp.ErrNotAuthorized, fmt.Sprintf("role %q may not subscribe to %s %q, so not read its events", s.authRole, match, topic))
		return
	}
	limit := 0
	if len(m.Arguments) > 1 {
		if n, ok := wamp.AsInt64(m.Arguments[1]); ok {
			limit = int(n)
		}
	}
	result(r.historyEvents(sub, limit)) // sub's pattern never changes
}

// refuseTestament answers wamp.session.add_testament(topic, args, kwargs)
// with an ERROR, and reports that it did, if the session could not publish
// to topic itself: nexus publishes testaments as the router when the
// session leaves, which must not let a client publish a wamp.* meta event
// or to a topic its role may not publish to. Other testaments go to nexus.
func (s *Session) refuseTestament(m *wamp.Call) bool {
	if len(m.Arguments) == 0 {
		return false // nexus answers wamp.error.invalid_argument
	}
	topic, ok := wamp.AsString(m.Arguments[0])
	if !ok {
		return false
	}
	r := s.realm
	switch {
	case r.topicProblem(topic, "") != "":
		s.replyError(wamp.CALL, m.Request, wamp.ErrInvalidURI, "testament: "+r.topicProblem(topic, ""))
	case ReservedTopic(topic):
		s.replyError(wamp.CALL, m.Request, wamp.ErrInvalidURI,
			fmt.Sprintf("testament with restricted topic URI %q: only the router publishes wamp.* events", topic))
	default:
		if _, ok := r.authz.Permission(s.subject(), topic, realms.ActionPublish); ok {
			return false
		}
		s.replyError(wamp.CALL, m.Request, wamp.ErrNotAuthorized, fmt.Sprintf("role %q may not publish to %q", s.authRole, topic))
	}
	return true
}
