package broker

import (
	"sync"
	"time"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/realms"
)

// History keeps the last Limit events published to topics matching Topic
// under Match, for wamp.subscription.get_events.
type History struct {
	Topic string
	Match string
	Limit int
}

// historyStore is one History's ring of recent events.
type historyStore struct {
	cfg     History
	pattern realms.Pattern // of cfg.Topic under cfg.Match

	mu     sync.Mutex
	events []wamp.Dict // oldest first, at most cfg.Limit
}

// record stores p in every history whose pattern matches. Publications
// restricted to some sessions are not kept: a later reader could not be
// checked against the restriction.
func (r *realm) record(p *publication) {
	if len(r.history) == 0 || p.filter.restricts() {
		return
	}
	for _, h := range r.history {
		if !h.pattern.Matches(p.topic) {
			continue
		}
		ev := wamp.Dict{
			"timestamp":   wamp.ISO8601(time.Now()),
			"publication": p.id,
			"topic":       p.topic,
			"args":        p.args,
			"kwargs":      p.kwargs,
		}
		h.mu.Lock()
		if len(h.events) == h.cfg.Limit {
			copy(h.events, h.events[1:])
			h.events = h.events[:len(h.events)-1]
		}
		h.events = append(h.events, ev)
		h.mu.Unlock()
	}
}

// historyEvents returns up to limit (0: all) recent events of the history
// configured with the subscription's own topic and match, oldest first, or
// an empty list.
func (r *realm) historyEvents(sub *subscription, limit int) []wamp.Dict {
	for _, h := range r.history {
		if h.pattern.URI() != sub.pattern.URI() || h.pattern.Match() != sub.pattern.Match() {
			continue
		}
		h.mu.Lock()
		events := h.events
		if limit > 0 && len(events) > limit {
			events = events[len(events)-limit:]
		}
		out := make([]wamp.Dict, len(events))
		for i, ev := range events {
			out[i] = wamp.Dict{"subscription": sub.id}
			for k, v := range ev {
				out[i][k] = v
			}
		}
		h.mu.Unlock()
		return out
	}
	return []wamp.Dict{}
}

func (f *filter) restricts() bool {
	return f.exclude != nil || f.eligible != nil || f.excludeAuthID != nil || f.eligibleAuthID != nil ||
		f.excludeAuthRole != nil || f.eligibleAuthRole != nil
}
