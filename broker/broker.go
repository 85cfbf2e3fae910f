package broker

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gammazero/nexus/v3/transport/serialize"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/realms"
)

// Conn is a session's connection as the broker uses it.
type Conn interface {
	// SerializerName names the session's serializer (json, msgpack, cbor).
	SerializerName() string
	// Codec encodes messages for the session.
	Codec() serialize.Serializer
	// EnqueueFrame queues an encoded message; false means the session is
	// being disconnected (slow consumer) and the message was not queued.
	// An EVENT may wait a moment to share a write with the next ones.
	EnqueueFrame([]byte) bool
	// EnqueueFrameNow is EnqueueFrame for a reply the client waits for
	// (SUBSCRIBED, PUBLISHED, RESULT, ERROR): written without delay.
	EnqueueFrameNow([]byte) bool
}

// Authorizer decides what a session may do on a topic or meta procedure
// (*realms.Authorizer implements it). Both methods may run on the publish
// path, without the realm locked.
type Authorizer interface {
	// Permission returns the permission that governs action on uri for the
	// subject (for its disclose settings), and whether action is allowed.
	Permission(sub realms.Subject, uri string, action realms.Action) (*realms.Permission, bool)
	// AllowsPattern reports whether the subject may take action on every
	// URI that uri matches under match.
	AllowsPattern(sub realms.Subject, uri, match string, action realms.Action) bool
}

// Realm configures one realm of the broker.
type Realm struct {
	Name       string
	Authorizer Authorizer
	StrictURI  bool
	// MaxURILength bounds topic URIs and patterns in bytes (the pattern
	// index holds a node per component); 0 means no limit.
	MaxURILength int
	// History keeps recent events for wamp.subscription.get_events.
	History []History
	// MaxRetainedTopics bounds the topics with a retained event; 0 means
	// no limit (the router always sets it).
	MaxRetainedTopics int
	// MaxRetainedBytes bounds the estimated memory of the retained events;
	// 0 means no limit.
	MaxRetainedBytes int
	// MaxSubscriptionsPerSession bounds each session's subscriptions; 0
	// means no limit.
	MaxSubscriptionsPerSession int
	// MaxHistoryTopics and MaxHistoryBytes bound the realm's history (every
	// History's topics together); past them the least recently published
	// topics' oldest events are dropped. 0 means no limit.
	MaxHistoryTopics int
	MaxHistoryBytes  int
}

// Observer counts the broker's work (for metrics). Methods must be cheap:
// they run on the publish path.
type Observer interface {
	// Published counts a publication of a client or in-process publisher
	// (not the router's own meta events) accepted in realm.
	Published(realm string)
	// Delivered counts n EVENTs queued for subscribers of realm.
	Delivered(realm string, n int)
	// Sent counts a reply (SUBSCRIBED, PUBLISHED, ERROR, ...) queued.
	Sent(t wamp.MessageType)
	// LimitExceeded counts a request of realm refused over a limit (one of
	// the Limit* names).
	LimitExceeded(realm, limit string)
	// Retained reports the realm's retained events after a change: how
	// many topics have one, and their estimated bytes.
	Retained(realm string, topics, bytes int)
	// History reports the realm's history after a change: topics kept,
	// their estimated bytes, and how many events were evicted over the
	// bounds since the last report.
	History(realm string, topics, bytes, evicted int)
}

// Broker routes events of every realm.
type Broker struct {
	realms  map[string]*realm
	log     *slog.Logger
	obs     Observer
	cluster Cluster // nil on a single node; set before sessions join
	// clusterReads holds a token per get_events reading the cluster's
	// history (SetCluster's maxReads).
	clusterReads chan struct{}
}

type realm struct {
	name   string
	authz  Authorizer
	strict bool
	maxURI int // bytes; 0: no limit

	mu       sync.RWMutex
	exact    map[string]*subscription
	prefix   map[string]*subscription
	wildcard map[string]*subscription
	byID     map[wamp.ID]*subscription
	// patterns indexes the prefix and wildcard subscriptions for matches.
	patterns *patternIndex

	history []*historyStore
	hist    histories
	cluster Cluster  // guarded by mu for Interest calls
	obs     Observer // nil: none
	maxSubs int      // per session; 0: no limit

	retainMu          sync.Mutex
	retainedAt        map[string]int32 // the index in retained of each topic's retained event
	retained          []retainedEvent  // the last retained publication per topic
	retainedTopics    topicIndex       // the topics of retained, for pattern lookups
	retainedBytes     int              // their estimated size
	maxRetainedTopics int
	maxRetainedBytes  int
}

type subscription struct {
	id          wamp.ID
	pattern     realms.Pattern // never changes
	created     time.Time
	subscribers map[*Session]struct{}
}

// New returns a broker for the given realms; obs may be nil.
func New(rs []Realm, log *slog.Logger, obs Observer) *Broker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Broker{realms: make(map[string]*realm, len(rs)), log: log, obs: obs}
	for _, r := range rs {
		prefix := map[string]*subscription{}
		rs := &realm{
			name: r.Name, authz: r.Authorizer, strict: r.StrictURI, maxURI: r.MaxURILength, maxSubs: r.MaxSubscriptionsPerSession,
			maxRetainedTopics: r.MaxRetainedTopics, maxRetainedBytes: r.MaxRetainedBytes,
			exact: map[string]*subscription{}, prefix: prefix,
			wildcard: map[string]*subscription{}, byID: map[wamp.ID]*subscription{},
			patterns: newPatternIndex(prefix), obs: obs,
			hist: histories{maxTopics: r.MaxHistoryTopics, maxBytes: r.MaxHistoryBytes},
		}
		for _, h := range r.History {
			rs.history = append(rs.history, &historyStore{cfg: h, pattern: realms.NewPattern(h.Topic, h.Match),
				topics: map[string]*topicHistory{}})
		}
		b.realms[r.Name] = rs
	}
	return b
}

// Session is a session's membership in the broker.
type Session struct {
	b     *Broker
	realm *realm
	conn  Conn

	id       wamp.ID
	authID   string
	authRole string
	// pubIdent: the session announced subscriber feature
	// publisher_identification, so disclosed publishers are sent to it.
	pubIdent bool

	subs map[wamp.ID]*subscription // guarded by realm.mu
	gone bool                      // guarded by realm.mu

	// local, for in-process subscribers, receives events instead of conn.
	local func(LocalEvent)
}

// LocalEvent is an event delivered to an in-process subscriber.
type LocalEvent struct {
	Topic       string
	Publication wamp.ID
	Args        wamp.List
	Kwargs      wamp.Dict
}

// SubscribeLocal subscribes fn in-process to topic under match (for
// forwarding events to HTTP). fn is called with the realm locked and must
// not block. Permissions do not apply: the subscription is configuration.
// The returned function unsubscribes.
func (b *Broker) SubscribeLocal(realmName, topic, match string, fn func(LocalEvent)) (func(), error) {
	r, ok := b.realms[realmName]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoSuchRealm, realmName)
	}
	s := &Session{b: b, realm: r, id: wamp.GlobalID(), subs: map[wamp.ID]*subscription{}, local: fn}
	r.mu.Lock()
	r.add(s, realms.NewPattern(topic, match))
	r.mu.Unlock()
	return s.Leave, nil
}

// Join registers a session that nexus is welcoming. It returns nil for a
// realm the broker does not know.
func (b *Broker) Join(conn Conn, hello *wamp.Hello, welcome *wamp.Welcome) *Session {
	var pubIdent bool
	if v, err := wamp.DictValue(hello.Details, []string{"roles", "subscriber", "features", "publisher_identification"}); err == nil {
		pubIdent, _ = v.(bool)
	}
	return b.JoinSession(conn, string(hello.Realm), welcome, pubIdent)
}

// JoinSession is Join for a caller that read the HELLO itself:
// publisherIdentification tells whether the subscriber accepts publisher
// details in its events.
func (b *Broker) JoinSession(conn Conn, realm string, welcome *wamp.Welcome, publisherIdentification bool) *Session {
	r, ok := b.realms[realm]
	if !ok {
		return nil
	}
	s := &Session{b: b, realm: r, conn: conn, id: welcome.ID, subs: map[wamp.ID]*subscription{}, pubIdent: publisherIdentification}
	s.authID, _ = wamp.AsString(welcome.Details["authid"])
	s.authRole, _ = wamp.AsString(welcome.Details["authrole"])
	return s
}

func (s *Session) subject() realms.Subject {
	return realms.Subject{SessionID: s.id, AuthID: s.authID, Role: s.authRole}
}

// ID returns the WAMP session ID.
func (s *Session) ID() wamp.ID { return s.id }

// Handle processes the session's pub/sub messages and reports whether msg
// was one.
func (s *Session) Handle(msg wamp.Message) bool {
	switch m := msg.(type) {
	case *wamp.Publish:
		s.publish(m)
	case *wamp.Subscribe:
		s.subscribe(m)
	case *wamp.Unsubscribe:
		s.unsubscribe(m)
	case *wamp.Call:
		return s.metaCall(m)
	default:
		return false
	}
	return true
}

// Leave removes the session's subscriptions.
func (s *Session) Leave() {
	r := s.realm
	var left []*subscription
	var deleted []bool
	r.mu.Lock()
	s.gone = true
	for id, sub := range s.subs {
		delete(sub.subscribers, s)
		empty := len(sub.subscribers) == 0
		if empty {
			r.remove(sub)
		}
		left = append(left, sub)
		deleted = append(deleted, empty)
		delete(s.subs, id)
	}
	r.mu.Unlock()
	for i, sub := range left {
		s.b.publishMeta(r, wamp.MetaEventSubOnUnsubscribe, wamp.List{s.id, sub.id})
		if deleted[i] {
			s.b.publishMeta(r, wamp.MetaEventSubOnDelete, wamp.List{s.id, sub.id})
		}
	}
}

func (s *Session) reply(msg wamp.Message) {
	b, err := s.conn.Codec().Serialize(msg)
	if err != nil {
		s.b.log.Error("cannot encode reply", "type", msg.MessageType().String(), "error", err)
		return
	}
	if s.conn.EnqueueFrameNow(b) && s.b.obs != nil {
		s.b.obs.Sent(msg.MessageType())
	}
}

// Send queues msg for the session, encoded with its serializer: for answers
// the router gives outside nexus.
func (s *Session) Send(msg wamp.Message) { s.reply(msg) }

func (s *Session) replyError(typ wamp.MessageType, request wamp.ID, uri wamp.URI, message string) {
	s.reply(&wamp.Error{Type: typ, Request: request, Details: wamp.Dict{}, Error: uri, Arguments: wamp.List{message}})
}

// add subscribes s to the subscription of p, which it creates if there is
// none, and reports whether it created it and whether s was subscribed to
// it already. The caller holds r.mu.
func (r *realm) add(s *Session, p realms.Pattern) (sub *subscription, created, already bool) {
	table := r.table(p.Match())
	sub, ok := table[p.URI()]
	if !ok {
		sub = &subscription{id: r.subscriptionID(p), pattern: p, created: time.Now(), subscribers: map[*Session]struct{}{}}
		table[p.URI()] = sub
		r.byID[sub.id] = sub
		r.patterns.add(sub)
		created = true
		if r.cluster != nil {
			r.cluster.Interest(r.name, p, true)
		}
	}
	_, already = sub.subscribers[s]
	sub.subscribers[s] = struct{}{}
	s.subs[sub.id] = sub
	return sub, created, already
}

// subscribed reports whether s is subscribed to the subscription of p. The
// caller holds r.mu.
func (r *realm) subscribed(s *Session, p realms.Pattern) bool {
	sub, ok := r.table(p.Match())[p.URI()]
	if !ok {
		return false
	}
	_, ok = sub.subscribers[s]
	return ok
}

func (r *realm) remove(sub *subscription) {
	delete(r.byID, sub.id)
	delete(r.table(sub.pattern.Match()), sub.pattern.URI())
	r.patterns.remove(sub)
	if r.cluster != nil {
		r.cluster.Interest(r.name, sub.pattern, false)
	}
}

// table returns the subscriptions of a match policy, by topic.
func (r *realm) table(match string) map[string]*subscription {
	switch match {
	case realms.MatchPrefix:
		return r.prefix
	case realms.MatchWildcard:
		return r.wildcard
	}
	return r.exact
}

// matches calls f for each subscription matching topic: the exact one,
// found by its topic, then the prefix and wildcard ones that match. The
// caller holds r.mu (read or write).
func (r *realm) matches(topic string, f func(*subscription)) {
	if sub, ok := r.exact[topic]; ok {
		f(sub)
	}
	r.patterns.matches(topic, f)
}

// topicProblem says what is wrong with topic as a URI under match (""
// for exact), or returns "". A topic over the length bound is not quoted.
func (r *realm) topicProblem(topic, match string) string {
	if r.maxURI > 0 && len(topic) > r.maxURI {
		return fmt.Sprintf("topic URI of %d bytes exceeds %d bytes (limits.max_uri_length)", len(topic), r.maxURI)
	}
	if !realms.ValidURI(topic, r.strict, match) {
		if match != "" && match != realms.MatchExact {
			return fmt.Sprintf("invalid %s topic URI %q", match, topic)
		}
		return fmt.Sprintf("invalid topic URI %q", topic)
	}
	return ""
}

// subscriptionID returns the ID of a new subscription to p. In a cluster
// it is the same on every node (a hash of the realm, match and URI), so
// that the nodes' subscription meta answers combine by ID; a hash that
// collides with a subscription of this node gets a random ID. The caller
// holds r.mu.
func (r *realm) subscriptionID(p realms.Pattern) wamp.ID {
	if r.cluster == nil {
		return wamp.GlobalID()
	}
	return realms.StableID(r.name, p.Match(), p.URI(), func(id wamp.ID) bool { _, taken := r.byID[id]; return taken })
}
