package broker

import (
	"context"
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
	result := func(args ...any) {
		s.reply(&wamp.Result{Request: m.Request, Details: wamp.Dict{}, Arguments: wamp.List(args)})
	}
	fail := func(uri wamp.URI, msg string) { s.replyError(wamp.CALL, m.Request, uri, msg) }
	if proc == procSubGetEvents {
		argID := func(i int) (wamp.ID, bool) {
			if len(m.Arguments) <= i {
				return 0, false
			}
			return wamp.AsID(m.Arguments[i])
		}
		s.getEvents(m, argID, fail, result)
		return true
	}
	args, errURI, msg := s.realm.subscriptionMeta(proc, m.Arguments)
	if errURI != "" {
		fail(errURI, msg)
		return true
	}
	result(args...)
	return true
}

// ClusterSubscriptionMeta lists the subscription meta procedures whose
// answers a cluster combines from every node (get_events is each node's).
var ClusterSubscriptionMeta = map[string]bool{
	procSubList: true, procSubLookup: true, procSubMatch: true, procSubGet: true,
	procSubListSubscribers: true, procSubCountSubscribers: true,
}

// SubscriptionMeta answers one of ClusterSubscriptionMeta's procedures for
// realm from this node's subscriptions: the RESULT's arguments, or an
// ERROR's URI and message.
func (b *Broker) SubscriptionMeta(realm, proc string, args wamp.List) (wamp.List, wamp.URI, string) {
	r, ok := b.realms[realm]
	if !ok || !ClusterSubscriptionMeta[proc] {
		return nil, wamp.ErrNoSuchProcedure, fmt.Sprintf("no procedure %q", proc)
	}
	return r.subscriptionMeta(proc, args)
}

// subscriptionMeta answers the subscription meta procedures other than
// get_events.
func (r *realm) subscriptionMeta(proc string, args wamp.List) (wamp.List, wamp.URI, string) {
	argString := func(i int) (string, bool) {
		if len(args) <= i {
			return "", false
		}
		return wamp.AsString(args[i])
	}
	argID := func(i int) (wamp.ID, bool) {
		if len(args) <= i {
			return 0, false
		}
		return wamp.AsID(args[i])
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
		return wamp.List{wamp.Dict{"exact": ids(r.exact), "prefix": ids(r.prefix), "wildcard": ids(r.wildcard)}}, "", ""
	case procSubLookup:
		topic, ok := argString(0)
		if !ok {
			return nil, wamp.ErrInvalidArgument, "lookup: want a topic URI argument"
		}
		match := realms.MatchExact
		if len(args) > 1 {
			if opts, ok := wamp.AsDict(args[1]); ok {
				if v, ok := wamp.AsString(opts["match"]); ok {
					match = v
				}
			}
		}
		if sub, ok := r.table(match)[topic]; ok {
			return wamp.List{sub.id}, "", ""
		}
		return wamp.List{nil}, "", ""
	case procSubMatch:
		topic, ok := argString(0)
		if !ok {
			return nil, wamp.ErrInvalidArgument, "match: want a topic URI argument"
		}
		var ids []wamp.ID
		r.matches(topic, func(sub *subscription) { ids = append(ids, sub.id) })
		if len(ids) == 0 {
			return wamp.List{nil}, "", ""
		}
		return wamp.List{ids}, "", ""
	case procSubGet, procSubListSubscribers, procSubCountSubscribers:
		id, ok := argID(0)
		if !ok {
			return nil, wamp.ErrInvalidArgument, "want a subscription ID argument"
		}
		sub, ok := r.byID[id]
		if !ok {
			return nil, wamp.ErrNoSuchSubscription, fmt.Sprintf("no subscription %d", id)
		}
		switch proc {
		case procSubGet:
			return wamp.List{sub.details()}, "", ""
		case procSubListSubscribers:
			ids := make([]wamp.ID, 0, len(sub.subscribers))
			for subscriber := range sub.subscribers {
				ids = append(ids, subscriber.id)
			}
			return wamp.List{ids}, "", ""
		default:
			return wamp.List{len(sub.subscribers)}, "", ""
		}
	}
	return nil, wamp.ErrNoSuchProcedure, fmt.Sprintf("no procedure %q", proc)
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
	if hs, ok := s.b.cluster.(HistorySource); ok && hs.KeepsHistory(r.name) {
		// The cluster's history, read without holding up the session's
		// other messages, at most cap(clusterReads) at once.
		select {
		case s.b.clusterReads <- struct{}{}:
		default:
			err := &limitError{limit: LimitClusterReads, max: cap(s.b.clusterReads)}
			s.b.limitRefused(r, "get_events refused", s.id, s.authID, err)
			fail(LimitExceededURI, err.Error()+": try again")
			return
		}
		go func() {
			defer func() { <-s.b.clusterReads }()
			events, err := hs.HistoryEvents(context.Background(), r.name, sub.pattern)
			if err != nil {
				s.b.log.Error("event history of the cluster unavailable", "realm", r.name, "error", err)
				fail(ClusterUnavailableURI, "the cluster's event history cannot be read: "+err.Error())
				return
			}
			result(clusterHistoryEvents(events, sub.id, limit))
		}()
		return
	}
	result(r.historyEvents(sub, limit)) // sub's pattern never changes
}

// clusterHistoryEvents describes the cluster's kept events as get_events
// does its own: the last limit (0: all) of them, restricted publications
// (exclude/eligible) left out.
func clusterHistoryEvents(events []HistoryEvent, sub wamp.ID, limit int) []wamp.Dict {
	out := make([]wamp.Dict, 0, len(events))
	for _, e := range events {
		if f, err := parseFilter(e.Publication.Options); err == nil && f.restricts() {
			continue
		}
		out = append(out, wamp.Dict{
			"subscription": sub,
			"timestamp":    wamp.ISO8601(e.At),
			"publication":  e.Publication.ID,
			"topic":        e.Publication.Topic,
			"args":         e.Publication.Args,
			"kwargs":       e.Publication.Kwargs,
		})
	}
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out
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
