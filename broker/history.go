package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/realms"
)

// History keeps the last Limit events of each topic matching Topic under
// Match, for wamp.subscription.get_events.
type History struct {
	Topic string
	Match string
	Limit int
}

// historyStore is one History: a ring of recent events per topic it
// matches. Its topics are guarded by the realm's history lock.
type historyStore struct {
	cfg     History
	pattern realms.Pattern // of cfg.Topic under cfg.Match
	topics  map[string]*topicHistory
}

// topicHistory is one topic's recent events in one store, and its place
// in the realm's list of topics by last publication (for eviction).
type topicHistory struct {
	store      *historyStore
	topic      string
	events     []historyEvent // oldest first, at most store.cfg.Limit
	bytes      int
	prev, next *topicHistory
}

// historyEvent is a kept event: seq orders events across topics.
type historyEvent struct {
	seq  uint64
	pub  *publication
	at   time.Time
	size int
}

// dict is the event as wamp.subscription.get_events describes it.
func (e historyEvent) dict(sub wamp.ID) wamp.Dict {
	return wamp.Dict{
		"subscription": sub,
		"timestamp":    wamp.ISO8601(e.at),
		"publication":  e.pub.id,
		"topic":        e.pub.topic,
		"args":         e.pub.args,
		"kwargs":       e.pub.kwargs,
	}
}

// histories is a realm's history bookkeeping: the bounds on topics and
// bytes across every store, and the topics from least to most recently
// published.
type histories struct {
	mu         sync.Mutex
	seq        uint64
	topics     int
	bytes      int
	maxTopics  int // 0: no limit
	maxBytes   int // 0: no limit
	head, tail *topicHistory
	evicted    int // events dropped over the bounds, not yet reported
}

// historyEventOverhead is the estimated fixed cost of a kept event (its
// map of five entries and the ring slot).
const historyEventOverhead = 400

// record stores p in every history whose pattern matches, in the ring of
// p's topic, with its exclude/eligible restrictions (a resumed subscriber
// gets it only if eligible; get_events leaves restricted ones out). Past
// the realm's bounds, the oldest events of the least recently published
// topics go first. The caller holds r.mu (read): a subscription that
// resumes from the history, under the write lock, sees p either in the
// history or live, never both nor neither.
func (r *realm) record(p *publication) {
	if len(r.history) == 0 || p.retained || p.internal {
		return // the router's own meta events are not kept
	}
	var size int
	h := &r.hist
	changed := false
	for _, store := range r.history {
		if !store.pattern.Matches(p.topic) {
			continue
		}
		if size == 0 {
			size = historyEventOverhead + retainedSize(p)
		}
		h.mu.Lock()
		th := store.topics[p.topic]
		if th == nil {
			if h.maxTopics > 0 && h.topics >= h.maxTopics && h.head != nil {
				h.evicted += len(h.head.events)
				h.dropTopic(h.head)
			}
			th = &topicHistory{store: store, topic: p.topic}
			store.topics[p.topic] = th
			h.topics++
		} else {
			h.unlink(th)
		}
		h.append(th)
		if len(th.events) == store.cfg.Limit {
			h.bytes -= th.events[0].size
			th.bytes -= th.events[0].size
			th.events = slices.Delete(th.events, 0, 1)
		}
		h.seq++
		th.events = append(th.events, historyEvent{seq: h.seq, pub: p, at: time.Now(), size: size})
		th.bytes += size
		h.bytes += size
		for h.maxBytes > 0 && h.bytes > h.maxBytes && h.head != nil {
			h.dropOldest(h.head)
			h.evicted++
		}
		h.mu.Unlock()
		changed = true
	}
	if changed {
		r.reportHistory()
	}
}

// dropOldest drops the oldest event of th, and th itself once empty. The
// caller holds h.mu.
func (h *histories) dropOldest(th *topicHistory) {
	h.bytes -= th.events[0].size
	th.bytes -= th.events[0].size
	th.events = slices.Delete(th.events, 0, 1)
	if len(th.events) == 0 {
		h.dropTopic(th)
	}
}

// dropTopic forgets th and its events. The caller holds h.mu.
func (h *histories) dropTopic(th *topicHistory) {
	h.bytes -= th.bytes
	h.topics--
	h.unlink(th)
	delete(th.store.topics, th.topic)
}

func (h *histories) unlink(th *topicHistory) {
	if th.prev != nil {
		th.prev.next = th.next
	} else if h.head == th {
		h.head = th.next
	}
	if th.next != nil {
		th.next.prev = th.prev
	} else if h.tail == th {
		h.tail = th.prev
	}
	th.prev, th.next = nil, nil
}

func (h *histories) append(th *topicHistory) {
	th.prev = h.tail
	if h.tail != nil {
		h.tail.next = th
	} else {
		h.head = th
	}
	h.tail = th
}

// reportHistory tells the observer the realm's history size and what was
// evicted since the last report.
func (r *realm) reportHistory() {
	if r.obs == nil {
		return
	}
	h := &r.hist
	h.mu.Lock()
	topics, bytes, evicted := h.topics, h.bytes, h.evicted
	h.evicted = 0
	h.mu.Unlock()
	r.obs.History(r.name, topics, bytes, evicted)
}

// historyEvents returns up to limit (0: all) recent events for a
// subscription, oldest first: for an exact subscription, its topic's
// events in the first history that matches the topic; for a pattern one,
// the events of every topic of the history configured with the same
// pattern, in publication order. Otherwise an empty list.
func (r *realm) historyEvents(sub *subscription, limit int) []wamp.Dict {
	h := &r.hist
	var events []historyEvent
	h.mu.Lock()
	for _, store := range r.history {
		if sub.pattern.Match() == realms.MatchExact {
			if !store.pattern.Matches(sub.pattern.URI()) {
				continue
			}
			if th := store.topics[sub.pattern.URI()]; th != nil {
				events = slices.Clone(th.events)
			}
			break
		}
		if store.pattern.URI() != sub.pattern.URI() || store.pattern.Match() != sub.pattern.Match() {
			continue
		}
		for _, th := range store.topics {
			events = append(events, th.events...)
		}
		break
	}
	h.mu.Unlock()
	slices.SortFunc(events, func(a, b historyEvent) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	// Restricted publications are for resumed subscribers who may see
	// them, not for any reader of get_events.
	events = slices.DeleteFunc(events, func(e historyEvent) bool { return e.pub.filter.restricts() })
	if limit > 0 && len(events) > limit {
		events = events[len(events)-limit:]
	}
	out := make([]wamp.Dict, len(events))
	for i, e := range events {
		out[i] = e.dict(sub.id)
	}
	return out
}

// errHistoryGap: a resume point the history does not hold.
var errHistoryGap = errors.New("history gap")

// eventsSince returns the events of topic published after the
// publication since, oldest first, from the first history that keeps the
// topic; errHistoryGap if no history keeps the topic or since is not in
// it (evicted, or older than the router). The caller holds r.mu.
func (r *realm) eventsSince(topic string, since wamp.ID) ([]*publication, error) {
	h := &r.hist
	h.mu.Lock()
	defer h.mu.Unlock()
	events := r.keptEvents(topic)
	for i, e := range events {
		if e.pub.id == since {
			out := make([]*publication, 0, len(events)-i-1)
			for _, later := range events[i+1:] {
				out = append(out, later.pub)
			}
			return out, nil
		}
	}
	return nil, errHistoryGap
}

// keptEvents returns topic's events, oldest first, in the first history
// that keeps the topic (nil: none does, or it has none yet). The caller
// holds r.hist.mu.
func (r *realm) keptEvents(topic string) []historyEvent {
	for _, store := range r.history {
		if !store.pattern.Matches(topic) {
			continue
		}
		if th := store.topics[topic]; th != nil {
			return th.events
		}
		return nil
	}
	return nil
}

// lastPublication returns the ID of the newest kept event of topic, from
// the first history that keeps the topic.
func (r *realm) lastPublication(topic string) (wamp.ID, bool) {
	h := &r.hist
	h.mu.Lock()
	defer h.mu.Unlock()
	if events := r.keptEvents(topic); len(events) > 0 {
		return events[len(events)-1].pub.id, true
	}
	return 0, false
}

func (f *filter) restricts() bool {
	return f.exclude != nil || f.eligible != nil || f.excludeAuthID != nil || f.eligibleAuthID != nil ||
		f.excludeAuthRole != nil || f.eligibleAuthRole != nil
}

// LastPublication returns the newest kept publication of topic in realm
// (its event history), and false if none is kept.
func (b *Broker) LastPublication(realmName, topic string) (wamp.ID, bool, error) {
	r, ok := b.realms[realmName]
	if !ok {
		return 0, false, fmt.Errorf("%w: %q", ErrNoSuchRealm, realmName)
	}
	// In a cluster whose history is in JetStream, the position is the
	// cluster's: the one a resume reads from.
	if rs, ok := b.cluster.(ResumeSource); ok && rs.KeepsHistory(realmName) && r.keepsHistoryOf(topic) {
		ctx, cancel := context.WithTimeout(context.Background(), clusterHistoryTimeout)
		defer cancel()
		id, ok, err := rs.LastPublication(ctx, realmName, topic)
		if err != nil {
			return 0, false, fmt.Errorf("%w: %w", ErrClusterUnavailable, err)
		}
		return id, ok, nil
	}
	id, ok := r.lastPublication(topic)
	return id, ok, nil
}

// keepsHistoryOf reports whether an event_history entry matches topic.
func (r *realm) keepsHistoryOf(topic string) bool {
	for _, store := range r.history {
		if store.pattern.Matches(topic) {
			return true
		}
	}
	return false
}

// historySeq returns the realm's history sequence: every event recorded
// later has a greater one.
func (r *realm) historySeq() uint64 {
	r.hist.mu.Lock()
	defer r.hist.mu.Unlock()
	return r.hist.seq
}

// eventsAfterSeq returns topic's kept events recorded after seq, oldest
// first, from the first history that keeps the topic. The caller holds
// r.mu.
func (r *realm) eventsAfterSeq(topic string, seq uint64) []*publication {
	h := &r.hist
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*publication
	for _, e := range r.keptEvents(topic) {
		if e.seq > seq {
			out = append(out, e.pub)
		}
	}
	return out
}
