package broker

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/realms"
)

// publication is one PUBLISH on its way to subscribers.
type publication struct {
	id        wamp.ID
	topic     string
	args      wamp.List
	kwargs    wamp.Dict
	publisher *Session // nil for in-process publishers
	excludeMe bool
	disclose  bool
	filter    filter
	ppt       wamp.Dict // payload passthru options, copied to details
	retained  bool      // sent from the retained store to a new subscriber
	internal  bool      // the router's own (meta events, testaments): not counted as published
	remote    bool      // published on another node of the cluster
}

// sendRetained queues to s, a new subscriber of sub that asked for
// get_retained, the retained events of the topics sub matches: this
// node's, and the cluster's (remote, read before the lock) where they are
// newer or this node has none. The caller holds r.mu, so that they precede
// live events.
func (s *Session) sendRetained(sub *subscription, remote []HistoryEvent) {
	r := s.realm
	var buf [2]publication
	pubs := buf[:0] // copies, read after the lock is released
	var local map[string]time.Time
	if len(remote) > 0 {
		local = map[string]time.Time{}
	}
	take := func(topic string) {
		if p, at, ok := r.retainedEvent(topic); ok {
			if local != nil {
				local[topic] = at
			}
			if p.filter.allows(s) {
				pubs = append(pubs, p)
			}
		}
	}
	r.retainMu.Lock()
	if sub.pattern.Match() == realms.MatchExact { // one topic: no need to scan them all
		take(sub.pattern.URI())
	} else {
		r.retainedTopics.matching(sub.pattern, take)
	}
	r.retainMu.Unlock()
	for _, ev := range remote {
		at, here := local[ev.Publication.Topic]
		if here && !ev.At.After(at) {
			continue
		}
		if here { // the cluster's is newer: it replaces this node's
			pubs = slices.DeleteFunc(pubs, func(p publication) bool { return p.topic == ev.Publication.Topic })
		}
		f, err := parseFilter(ev.Publication.Options)
		if err != nil || !f.allows(s) || !sub.pattern.Matches(ev.Publication.Topic) {
			continue
		}
		pubs = append(pubs, *remotePublication(ev.Publication, f))
	}
	for i := range pubs {
		p := &pubs[i]
		p.retained = true
		s.reply(s.b.event(p, sub, p.disclose && s.pubIdent))
	}
}

func (s *Session) publish(m *wamp.Publish) {
	r := s.realm
	ack, _ := m.Options[wamp.OptAcknowledge].(bool)
	fail := func(uri wamp.URI, message string) {
		if ack {
			s.replyError(wamp.PUBLISH, m.Request, uri, message)
		}
	}
	topic := string(m.Topic)
	if problem := r.topicProblem(topic, ""); problem != "" {
		fail(wamp.ErrInvalidURI, "publish: "+problem)
		return
	}
	if ReservedTopic(topic) {
		fail(wamp.ErrInvalidURI, fmt.Sprintf("publish with restricted topic URI %q: only the router publishes wamp.* events", topic))
		return
	}
	perm, ok := r.authz.Permission(s.subject(), topic, realms.ActionPublish)
	if !ok {
		fail(wamp.ErrNotAuthorized, fmt.Sprintf("role %q may not publish to %q", s.authRole, topic))
		return
	}
	p := &publication{
		id: wamp.GlobalID(), topic: topic, args: m.Arguments, kwargs: m.ArgumentsKw,
		publisher: s, excludeMe: true, disclose: perm.Disclose.Publisher,
	}
	if v, ok := m.Options[wamp.OptExcludeMe].(bool); ok {
		p.excludeMe = v
	}
	// A publisher may always ask to disclose its own identity (WAMP spec).
	if v, _ := m.Options[wamp.OptDiscloseMe].(bool); v {
		p.disclose = true
	}
	var err error
	if p.filter, err = parseFilter(m.Options); err != nil {
		fail(wamp.ErrInvalidArgument, err.Error())
		return
	}
	p.ppt = pptDetails(m.Options)
	if retain, _ := m.Options["retain"].(bool); retain {
		// Over the limits the publication is refused whole: an
		// acknowledged one that was delivered but not retained would look
		// like a success.
		if err := s.b.retain(r, p); err != nil {
			s.b.limitRefused(r, "retained publication refused", s.id, s.authID, err)
			fail(LimitExceededURI, err.Error())
			return
		}
	}
	s.b.deliver(r, p)
	if err := s.b.forward(r, p, m.Options); err != nil {
		s.b.log.Warn("publication not sent to the cluster", "realm", r.name, "session_id", uint64(s.id), "error", err)
		fail(ClusterUnavailableURI, "delivered on this node only: "+err.Error())
		return
	}
	if ack {
		s.reply(&wamp.Published{Request: m.Request, Publication: p.id})
	}
}

// Errors of Publish.
var (
	ErrNoSuchRealm     = errors.New("broker: no such realm")
	ErrInvalidURI      = errors.New("broker: invalid topic URI")
	ErrInvalidArgument = errors.New("broker: invalid option")
)

// ReservedTopic reports whether topic is in the wamp. namespace, where only
// the router publishes (session and subscription meta events): a client's
// publication there is refused with wamp.error.invalid_uri, as Crossbar and
// the WAMP spec have it, whatever its role's permissions say.
func ReservedTopic(topic string) bool { return strings.HasPrefix(topic, "wamp.") }

// Publisher identifies an in-process publisher, such as an HTTP bridge key.
type Publisher struct {
	AuthID, AuthRole string
	// Disclose reveals AuthID and AuthRole to subscribers that announce
	// publisher_identification.
	Disclose bool
}

// Publish publishes an event in-process (for the HTTP bridge and the
// router's own events); from is nil for the router's own events only.
// options may hold the exclude/eligible filters, retain and disclose_me.
// The caller is responsible for authorization, but a publisher (from set)
// may not publish to wamp.* topics (ErrInvalidURI) nor retain over the
// realm's limits (ErrLimitExceeded). It returns the publication ID.
func (b *Broker) Publish(realmName string, from *Publisher, topic string, args wamp.List, kwargs wamp.Dict, options wamp.Dict) (wamp.ID, error) {
	r, ok := b.realms[realmName]
	if !ok {
		return 0, fmt.Errorf("%w: %q", ErrNoSuchRealm, realmName)
	}
	if problem := r.topicProblem(topic, ""); problem != "" {
		return 0, fmt.Errorf("%w: %s", ErrInvalidURI, problem)
	}
	if from != nil && ReservedTopic(topic) {
		return 0, fmt.Errorf("%w: %q is reserved for the router's own events", ErrInvalidURI, topic)
	}
	f, err := parseFilter(options)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	p := &publication{id: wamp.GlobalID(), topic: topic, args: args, kwargs: kwargs, filter: f, internal: from == nil}
	if from != nil {
		p.publisher = &Session{id: 0, authID: from.AuthID, authRole: from.AuthRole}
		discloseMe, _ := options[wamp.OptDiscloseMe].(bool)
		p.disclose = from.Disclose || discloseMe
	}
	if retain, _ := options["retain"].(bool); retain {
		if err := b.retain(r, p); err != nil {
			authID := ""
			if from != nil {
				authID = from.AuthID
			}
			b.limitRefused(r, "retained publication refused", 0, authID, err)
			return 0, err
		}
	}
	b.deliver(r, p)
	if err := b.forward(r, p, options); err != nil {
		b.log.Warn("publication not sent to the cluster", "realm", r.name, "error", err)
		return p.id, err
	}
	return p.id, nil
}

func (b *Broker) publishMeta(r *realm, topic wamp.URI, args wamp.List) {
	p := &publication{id: wamp.GlobalID(), topic: string(topic), args: args, internal: true}
	b.deliver(r, p)
	if err := b.forward(r, p, nil); err != nil {
		b.log.Warn("meta event not sent to the cluster", "realm", r.name, "topic", string(topic), "error", err)
	}
}

// frameKey selects one encoding of an EVENT within a subscription.
type frameKey struct {
	serializer string
	disclosed  bool
}

type encodedFrame struct {
	key   frameKey
	frame []byte
}

// deliver queues the publication on every eligible subscriber. Each EVENT is
// encoded once per subscription, serializer and details variant.
func (b *Broker) deliver(r *realm, p *publication) {
	delivered := 0
	r.mu.RLock()
	r.record(p)
	defer func() {
		r.mu.RUnlock()
		if b.obs != nil {
			if !p.internal && !p.remote { // counted where it was published
				b.obs.Published(r.name)
			}
			if delivered > 0 {
				b.obs.Delivered(r.name, delivered)
			}
		}
	}()
	r.matches(p.topic, func(sub *subscription) {
		// At most 3 serializers x 2 variants: a small array, no map.
		var frames [6]encodedFrame
		nframes := 0
		for s := range sub.subscribers {
			if s == p.publisher && p.excludeMe {
				continue
			}
			if !p.filter.allows(s) {
				continue
			}
			if s.local != nil {
				s.local(LocalEvent{Topic: p.topic, Publication: p.id, Args: p.args, Kwargs: p.kwargs})
				continue
			}
			key := frameKey{serializer: s.conn.SerializerName(), disclosed: p.disclose && s.pubIdent}
			var frame []byte
			for _, f := range frames[:nframes] {
				if f.key == key {
					frame = f.frame
					break
				}
			}
			if frame == nil {
				var err error
				frame, err = s.conn.Codec().Serialize(b.event(p, sub, key.disclosed))
				if err != nil {
					b.log.Error("cannot encode event", "realm", r.name, "serializer", key.serializer, "error", err)
					continue
				}
				if nframes < len(frames) {
					frames[nframes] = encodedFrame{key, frame}
					nframes++
				}
			}
			if s.conn.EnqueueFrame(frame) {
				delivered++
			}
		}
	})
}

// event builds the EVENT of p for sub with fresh details.
func (b *Broker) event(p *publication, sub *subscription, disclosed bool) *wamp.Event {
	details := wamp.Dict{}
	if p.retained {
		details["retained"] = true
	}
	if sub.pattern.Match() != realms.MatchExact {
		details["topic"] = p.topic
	}
	if disclosed && p.publisher != nil {
		if p.publisher.id != 0 { // in-process publishers have no session
			details["publisher"] = p.publisher.id
		}
		details["publisher_authid"] = p.publisher.authID
		details["publisher_authrole"] = p.publisher.authRole
	}
	for k, v := range p.ppt {
		details[k] = v
	}
	return &wamp.Event{
		Subscription: sub.id, Publication: p.id, Details: details,
		Arguments: p.args, ArgumentsKw: p.kwargs,
	}
}

func pptDetails(options wamp.Dict) wamp.Dict {
	if _, ok := options["ppt_scheme"]; !ok {
		return nil
	}
	out := wamp.Dict{}
	for _, k := range []string{"ppt_scheme", "ppt_serializer", "ppt_cipher", "ppt_keyid"} {
		if v, ok := options[k]; ok {
			out[k] = v
		}
	}
	return out
}

// filter is a publication's exclude/eligible restrictions; a nil set means
// the option was not given.
type filter struct {
	exclude, eligible                 map[wamp.ID]bool
	excludeAuthID, eligibleAuthID     map[string]bool
	excludeAuthRole, eligibleAuthRole map[string]bool
}

func parseFilter(options wamp.Dict) (filter, error) {
	var f filter
	var err error
	if f.exclude, err = idSet(options, "exclude"); err != nil {
		return f, err
	}
	if f.eligible, err = idSet(options, "eligible"); err != nil {
		return f, err
	}
	for key, dst := range map[string]*map[string]bool{
		"exclude_authid": &f.excludeAuthID, "eligible_authid": &f.eligibleAuthID,
		"exclude_authrole": &f.excludeAuthRole, "eligible_authrole": &f.eligibleAuthRole,
	} {
		if *dst, err = stringSet(options, key); err != nil {
			return f, err
		}
	}
	return f, nil
}

func idSet(options wamp.Dict, key string) (map[wamp.ID]bool, error) {
	v := options[key]
	if v == nil {
		return nil, nil
	}
	return listSet(key, v, "session IDs", wamp.AsID)
}

func stringSet(options wamp.Dict, key string) (map[string]bool, error) {
	v := options[key]
	if v == nil {
		return nil, nil
	}
	// A single string is accepted as a list of one, as Crossbar does.
	if s, ok := wamp.AsString(v); ok {
		return map[string]bool{s: true}, nil
	}
	return listSet(key, v, "strings", wamp.AsString)
}

// listSet reads v, the value of option key, a list of what (items that
// item converts), as a set.
func listSet[T comparable](key string, v any, what string, item func(any) (T, bool)) (map[T]bool, error) {
	list, ok := wamp.AsList(v)
	if !ok {
		return nil, fmt.Errorf("option %s: want a list of %s", key, what)
	}
	set := make(map[T]bool, len(list))
	for _, x := range list {
		e, ok := item(x)
		if !ok {
			return nil, fmt.Errorf("option %s: want %s, got %v", key, what, x)
		}
		set[e] = true
	}
	return set, nil
}

func (f *filter) allows(s *Session) bool {
	if f.exclude != nil && f.exclude[s.id] {
		return false
	}
	if f.excludeAuthID != nil && f.excludeAuthID[s.authID] {
		return false
	}
	if f.excludeAuthRole != nil && f.excludeAuthRole[s.authRole] {
		return false
	}
	if f.eligible != nil && !f.eligible[s.id] {
		return false
	}
	if f.eligibleAuthID != nil && !f.eligibleAuthID[s.authID] {
		return false
	}
	if f.eligibleAuthRole != nil && !f.eligibleAuthRole[s.authRole] {
		return false
	}
	return true
}
