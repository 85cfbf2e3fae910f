package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/realms"
)

func (s *Session) subscribe(m *wamp.Subscribe) {
	r := s.realm
	match := realms.MatchExact
	if v, ok := m.Options[wamp.OptMatch]; ok {
		match, _ = wamp.AsString(v)
	}
	switch match {
	case realms.MatchExact, realms.MatchPrefix, realms.MatchWildcard:
	default:
		s.replyError(wamp.SUBSCRIBE, m.Request, wamp.ErrInvalidArgument,
			fmt.Sprintf("match %q: want exact, prefix or wildcard", match))
		return
	}
	topic := string(m.Topic)
	if problem := r.topicProblem(topic, match); problem != "" {
		s.replyError(wamp.SUBSCRIBE, m.Request, wamp.ErrInvalidURI, "subscribe: "+problem)
		return
	}
	// A pattern must not reach a topic the role may not subscribe to.
	if !r.authz.AllowsPattern(s.subject(), topic, match, realms.ActionSubscribe) {
		s.replyError(wamp.SUBSCRIBE, m.Request, wamp.ErrNotAuthorized,
			fmt.Sprintf("role %q may not subscribe to %s %q: it matches topics the role may not subscribe to", s.authRole, match, topic))
		return
	}

	since, resume, err := resumePoint(m.Options, match)
	if err != nil {
		s.replyError(wamp.SUBSCRIBE, m.Request, wamp.ErrInvalidArgument, err.Error())
		return
	}

	pattern := realms.NewPattern(topic, match)
	// In a cluster whose history is in JetStream, a resume reads it there:
	// this node's own history lacks what was published elsewhere while it
	// had no subscriber to the topic.
	var fromCluster *clusterReplay
	if rs, ok := s.b.cluster.(ResumeSource); ok && resume && rs.KeepsHistory(r.name) {
		fromCluster, err = s.clusterReplay(rs, topic, since)
		if fromCluster != nil {
			defer fromCluster.release()
		}
		if err != nil {
			s.b.log.Warn("resume from the cluster's history refused", "realm", r.name, "topic", topic, "error", err)
			s.reply(&wamp.Error{Type: wamp.SUBSCRIBE, Request: m.Request, Details: wamp.Dict{}, Error: HistoryGapURI,
				Arguments:   wamp.List{fmt.Sprintf("the history of %q does not reach back to publication %d: reload, then subscribe without _since", topic, since)},
				ArgumentsKw: wamp.Dict{"topic": topic, "since": since}})
			return
		}
	}
	getRetained, _ := m.Options["get_retained"].(bool)
	var remoteRetained []HistoryEvent
	if rs, ok := s.b.cluster.(RetainedSource); ok && getRetained && !resume && rs.KeepsRetained(r.name) {
		// Read before the realm's lock: a round trip to JetStream. A
		// retained event published meanwhile on a node of no interest here
		// is the one case left out (docs/cluster.md).
		ctx, cancel := context.WithTimeout(context.Background(), retainedReadTimeout)
		remoteRetained, err = rs.RetainedEvents(ctx, r.name, pattern)
		cancel()
		if err != nil {
			s.b.log.Error("retained events of the cluster unavailable; this node's only", "realm", r.name, "error", err)
		}
	}
	r.mu.Lock()
	if s.gone {
		r.mu.Unlock()
		return
	}
	// The replay is read under the write lock: every publication of the
	// topic is in it or will be delivered live, none both (record runs
	// under the read lock).
	var replay []*publication
	switch {
	case fromCluster != nil:
		replay = fromCluster.merge(r.eventsAfterSeq(topic, fromCluster.seq))
	case resume:
		if replay, err = r.eventsSince(topic, since); err != nil {
			r.mu.Unlock()
			s.reply(&wamp.Error{Type: wamp.SUBSCRIBE, Request: m.Request, Details: wamp.Dict{}, Error: HistoryGapURI,
				Arguments:   wamp.List{fmt.Sprintf("the history of %q does not reach back to publication %d: reload, then subscribe without _since", topic, since)},
				ArgumentsKw: wamp.Dict{"topic": topic, "since": since}})
			return
		}
	}
	// Subscribing again to a subscription is not one more.
	if r.maxSubs > 0 && len(s.subs) >= r.maxSubs && !r.subscribed(s, pattern) {
		r.mu.Unlock()
		err := &limitError{limit: LimitSubscriptionsPerSession, max: r.maxSubs}
		s.b.limitRefused(r, "subscription refused", s.id, s.authID, err)
		s.replyError(wamp.SUBSCRIBE, m.Request, LimitExceededURI, err.Error()+": unsubscribe first")
		return
	}
	sub, created, already := r.add(s, pattern)
	// SUBSCRIBED is queued under the lock, so that it precedes every EVENT
	// of the subscription on this session.
	s.reply(&wamp.Subscribed{Request: m.Request, Subscription: sub.id})
	if getRetained && !resume {
		s.sendRetained(sub, remoteRetained)
	}
	for _, p := range replay {
		if (s == p.publisher && p.excludeMe) || !p.filter.allows(s) {
			continue
		}
		s.reply(s.b.event(p, sub, p.disclose && s.pubIdent))
	}
	var details wamp.Dict
	if created {
		details = sub.details()
	}
	r.mu.Unlock()

	if created {
		s.b.publishMeta(r, wamp.MetaEventSubOnCreate, wamp.List{s.id, details})
	}
	if !already {
		s.b.publishMeta(r, wamp.MetaEventSubOnSubscribe, wamp.List{s.id, sub.id})
	}
}

// resumeGrace is how long a resume waits, when this node has had no
// subscriber to the topic for that long, after its interest is in place
// at its NATS server and before it reads the cluster's history: NATS
// propagates the interest to the other servers meanwhile, so that what is
// published from then on arrives live, and what was published before is
// in the history read.
const resumeGrace = 250 * time.Millisecond

// clusterReplay is a resume's replay read from the cluster's history.
type clusterReplay struct {
	events  []*publication
	seq     uint64 // this node's history sequence before the read
	release func()
}

// clusterReplay reads the events of topic after since from the cluster's
// history, with this node's interest in the topic in place first (taken
// for the time of the resume; release gives it back).
func (s *Session) clusterReplay(rs ResumeSource, topic string, since wamp.ID) (*clusterReplay, error) {
	r := s.realm
	p := realms.NewPattern(topic, realms.MatchExact)
	settled := false // a subscription matching topic for resumeGrace already
	r.mu.Lock()
	r.matches(topic, func(sub *subscription) { settled = settled || time.Since(sub.created) > resumeGrace })
	if r.cluster != nil {
		r.cluster.Interest(r.name, p, true)
	}
	r.mu.Unlock()
	cr := &clusterReplay{seq: r.historySeq(), release: func() {
		r.mu.Lock()
		if r.cluster != nil {
			r.cluster.Interest(r.name, p, false)
		}
		r.mu.Unlock()
	}}
	ctx, cancel := context.WithTimeout(context.Background(), resumeTimeout)
	defer cancel()
	if !settled {
		if err := rs.InterestReady(ctx); err != nil {
			return cr, err
		}
		time.Sleep(resumeGrace)
	}
	events, found, err := rs.HistorySince(ctx, r.name, topic, since)
	if err != nil {
		return cr, err
	}
	if !found {
		return cr, fmt.Errorf("publication %d is not in the cluster's history of %q", since, topic)
	}
	for _, ev := range events {
		f, err := parseFilter(ev.Publication.Options)
		if err != nil {
			continue
		}
		cr.events = append(cr.events, remotePublication(ev.Publication, f))
	}
	return cr, nil
}

// clusterHistoryTimeout bounds a read of the cluster's history (a
// position); resumeTimeout a resume's wait for the cluster (its interest in
// place, then the read).
const (
	clusterHistoryTimeout = 2 * time.Second
	resumeTimeout         = 2 * clusterHistoryTimeout
)

// merge returns the replay: the cluster's events, then those this node
// recorded since the read began that the read did not have (published
// after it), each once.
func (cr *clusterReplay) merge(local []*publication) []*publication {
	seen := make(map[wamp.ID]bool, len(cr.events))
	for _, p := range cr.events {
		seen[p.id] = true
	}
	out := cr.events
	for _, p := range local {
		if !seen[p.id] {
			seen[p.id] = true
			out = append(out, p)
		}
	}
	return out
}

// retainedReadTimeout bounds the read of the cluster's retained events
// on SUBSCRIBE.
const retainedReadTimeout = 2 * time.Second

// HistoryGapURI answers a SUBSCRIBE with _since that the topic's history
// cannot serve: the client should reload its state and subscribe afresh.
const HistoryGapURI = wamp.URI("switchboard.error.history_gap")

// OptSince is the SUBSCRIBE option (a WAMP extension attribute) that
// resumes an exact subscription after a publication.
const OptSince = "_since"

// resumePoint reads the _since option: the publication to resume after.
func resumePoint(options wamp.Dict, match string) (wamp.ID, bool, error) {
	v, ok := options[OptSince]
	if !ok || v == nil {
		return 0, false, nil
	}
	id, ok := wamp.AsID(v)
	if !ok {
		return 0, false, fmt.Errorf("%s: want a publication ID, got %v", OptSince, v)
	}
	if match != realms.MatchExact {
		return 0, false, fmt.Errorf("%s resumes exact subscriptions only, not %s ones", OptSince, match)
	}
	return id, true, nil
}

// details describes a subscription as the meta API does.
func (sub *subscription) details() wamp.Dict {
	return wamp.Dict{
		"id":      sub.id,
		"created": wamp.ISO8601(sub.created),
		"uri":     sub.pattern.URI(),
		"match":   sub.pattern.Match(),
	}
}

func (s *Session) unsubscribe(m *wamp.Unsubscribe) {
	r := s.realm
	r.mu.Lock()
	sub, ok := s.subs[m.Subscription]
	if !ok {
		r.mu.Unlock()
		s.replyError(wamp.UNSUBSCRIBE, m.Request, wamp.ErrNoSuchSubscription,
			fmt.Sprintf("no subscription %d", m.Subscription))
		return
	}
	delete(s.subs, sub.id)
	delete(sub.subscribers, s)
	deleted := len(sub.subscribers) == 0
	if deleted {
		r.remove(sub)
	}
	s.reply(&wamp.Unsubscribed{Request: m.Request})
	r.mu.Unlock()

	s.b.publishMeta(r, wamp.MetaEventSubOnUnsubscribe, wamp.List{s.id, sub.id})
	if deleted {
		s.b.publishMeta(r, wamp.MetaEventSubOnDelete, wamp.List{s.id, sub.id})
	}
}
