package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-wamp/switchboard/broker"
	"github.com/switchboard-wamp/switchboard/realms"
)

// Event history in JetStream. A realm with event_history gets a stream
// that captures the NATS subjects of its history topics: every node
// already sends each publication to its topic's subject (Forward), so the
// stream keeps them with no extra message, wherever they were published,
// and wherever they are read from. A topic is one subject, so the stream's
// per-subject limit is "the last N events of each topic"; max_history_bytes
// bounds the stream. wamp.subscription.get_events then reads the stream,
// and answers the same on every node, and after a node restarts.

// HistoryRealm is a realm's event history configuration.
type HistoryRealm struct {
	Name     string
	History  []broker.History
	MaxBytes int // 0: no bound
}

// maxHistoryRead bounds the events one get_events reads from the stream.
const maxHistoryRead = 100_000

// historyTimeout bounds a get_events read.
const historyTimeout = 2 * time.Second

// streamName is the JetStream stream of realm's history.
func streamName(realm string) string { return "SWITCHBOARD_HISTORY_" + escapeToken(realm) }

// StartHistory keeps the history of realms (those with event_history) in
// JetStream streams, created, or widened to cover this node's
// configuration (nodes whose event_history differs, as during a rolling
// change of the config, share one stream covering them all), with
// replicas copies. It returns each realm's error; a realm without one is
// kept. Errors that NoJetStream or PermanentJetStreamError recognise are
// not worth trying again.
func (n *Node) StartHistory(ctx context.Context, rs []HistoryRealm, replicas int) map[string]error {
	cfgs := map[string]jetstream.StreamConfig{}
	byName := map[string]HistoryRealm{}
	for _, hr := range rs {
		limit := 0
		var subjects []string
		for _, h := range hr.History {
			limit = max(limit, h.Limit)
			for _, subject := range interestSubjects(hr.Name, realms.NewPattern(h.Topic, h.Match)) {
				if strings.HasPrefix(subject, realmSubject(spacePub, hr.Name)) { // the router's own events are not kept
					subjects = append(subjects, subject)
				}
			}
		}
		subjects = withoutCovered(subjects)
		if len(subjects) == 0 {
			continue
		}
		maxBytes := int64(-1)
		if hr.MaxBytes > 0 {
			maxBytes = int64(hr.MaxBytes)
		}
		cfgs[hr.Name] = jetstream.StreamConfig{
			Name:              streamName(hr.Name),
			Description:       "switchboard event history of realm " + hr.Name,
			Subjects:          subjects,
			Retention:         jetstream.LimitsPolicy,
			Storage:           jetstream.FileStorage,
			Discard:           jetstream.DiscardOld,
			MaxMsgs:           -1,
			MaxMsgsPerSubject: int64(limit),
			MaxBytes:          maxBytes,
			Replicas:          max(replicas, 1),
		}
		byName[hr.Name] = hr
	}
	return n.keepStreams(ctx, cfgs, "event history", func(realm string) {
		if n.history == nil {
			n.history = map[string]HistoryRealm{}
		}
		n.history[realm] = byName[realm]
	})
}

// withoutCovered drops the subjects another one of the list covers
// (JetStream refuses overlapping subjects in one stream).
func withoutCovered(subjects []string) []string {
	var out []string
	for i, s := range subjects {
		covered := false
		for j, other := range subjects {
			if i != j && subjectCovers(other, s) && (!subjectCovers(s, other) || j < i) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, s)
		}
	}
	return out
}

// subjectCovers reports whether every subject that b matches, a matches
// too (NATS wildcards: '*' one token, '>' the rest).
func subjectCovers(a, b string) bool {
	at, bt := strings.Split(a, "."), strings.Split(b, ".")
	for i, tok := range at {
		if tok == ">" {
			return len(bt) > i
		}
		if i >= len(bt) {
			return false
		}
		switch {
		case bt[i] == ">":
			return false
		case tok == "*":
		case tok != bt[i] || bt[i] == "*":
			return false
		}
	}
	return len(at) == len(bt)
}

// KeepsHistory implements broker.HistorySource: whether realm's history
// is in JetStream.
func (n *Node) KeepsHistory(realm string) bool {
	n.rpcMu.Lock()
	defer n.rpcMu.Unlock()
	_, ok := n.history[realm]
	return ok
}

// HistoryEvents implements broker.HistorySource: the events of the
// realm's history that a subscription to p reads, oldest first, each
// topic's last limit of them for the history entry (event_history) that
// keeps it, as broker's own history selects them: for an exact p, its
// topic's events in the first entry that matches it; for a pattern p, the
// events of every topic of the entry configured with that same pattern.
func (n *Node) HistoryEvents(ctx context.Context, realm string, p realms.Pattern) ([]broker.HistoryEvent, error) {
	n.rpcMu.Lock()
	hr, ok := n.history[realm]
	n.rpcMu.Unlock()
	if !ok {
		return nil, errors.New("cluster: no history of this realm in JetStream")
	}
	var entry *broker.History
	for i, h := range hr.History {
		hp := realms.NewPattern(h.Topic, h.Match)
		if p.Match() == realms.MatchExact && hp.Matches(p.URI()) || hp.URI() == p.URI() && hp.Match() == p.Match() {
			entry = &hr.History[i]
			break
		}
	}
	if entry == nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, historyTimeout)
	defer cancel()
	perTopic := map[string][]broker.HistoryEvent{}
	var order []broker.HistoryEvent
	err := n.readStream(ctx, realm, streamName(realm), interestSubject(spacePub, realm, p), jetstream.DeliverAllPolicy,
		maxHistoryRead, func(topic string) string { return topicSubject(realm, topic) },
		func(pub broker.RemotePublication, at time.Time) {
			if p.Matches(pub.Topic) {
				ev := broker.HistoryEvent{Publication: pub, At: at}
				perTopic[pub.Topic] = append(perTopic[pub.Topic], ev)
				order = append(order, ev)
			}
		})
	if err != nil {
		return nil, fmt.Errorf("cluster: read the history of realm %q: %w", realm, err)
	}
	// Each topic keeps its entry's last Limit events (the stream keeps the
	// largest limit of the realm's entries).
	keep := map[wamp.ID]bool{}
	for _, evs := range perTopic {
		if len(evs) > entry.Limit {
			evs = evs[len(evs)-entry.Limit:]
		}
		for _, ev := range evs {
			keep[ev.Publication.ID] = true
		}
	}
	out := make([]broker.HistoryEvent, 0, len(keep))
	for _, ev := range order {
		if keep[ev.Publication.ID] {
			out = append(out, ev)
		}
	}
	return out, nil
}

// HistorySince implements broker.HistorySource: the events of topic kept
// in the stream after publication since, oldest first, and whether since
// is there at all.
func (n *Node) HistorySince(ctx context.Context, realm, topic string, since wamp.ID) ([]broker.HistoryEvent, bool, error) {
	if !n.KeepsHistory(realm) {
		return nil, false, errors.New("cluster: no history of this realm in JetStream")
	}
	ctx, cancel := context.WithTimeout(ctx, historyTimeout)
	defer cancel()
	var after []broker.HistoryEvent
	found := false
	subject := topicSubject(realm, topic)
	err := n.readStream(ctx, realm, streamName(realm), subject, jetstream.DeliverAllPolicy, maxHistoryRead,
		func(topic string) string { return topicSubject(realm, topic) },
		func(pub broker.RemotePublication, at time.Time) {
			switch {
			case pub.Topic != topic:
			case found:
				after = append(after, broker.HistoryEvent{Publication: pub, At: at})
			case pub.ID == since:
				found = true
			}
		})
	if err != nil {
		return nil, false, fmt.Errorf("cluster: read the history of realm %q: %w", realm, err)
	}
	return after, found, nil
}

// InterestReady returns once the interest changes reported so far are
// subscribed to at this node's NATS server (a round trip after the ops
// goroutine applied them).
func (n *Node) InterestReady(ctx context.Context) error {
	applied := make(chan struct{})
	n.opsMu.Lock()
	n.ops = append(n.ops, interestOp{barrier: applied})
	n.opsMu.Unlock()
	select {
	case n.opsWake <- struct{}{}:
	default:
	}
	select {
	case <-applied:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return errors.New("cluster: closed")
	}
	timeout := time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	return n.nc.FlushTimeout(timeout)
}

// LastPublication implements broker.ResumeSource: the newest publication
// of topic the stream keeps (a resume's position), and false if none.
func (n *Node) LastPublication(ctx context.Context, realm, topic string) (wamp.ID, bool, error) {
	n.rpcMu.Lock()
	js := n.js
	_, ok := n.history[realm]
	n.rpcMu.Unlock()
	if !ok {
		return 0, false, errors.New("cluster: no history of this realm in JetStream")
	}
	stream, err := js.Stream(ctx, streamName(realm))
	if err != nil {
		return 0, false, fmt.Errorf("cluster: the history of realm %q: %w", realm, err)
	}
	subject := topicSubject(realm, topic)
	msg, err := stream.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("cluster: the history of realm %q: %w", realm, err)
	}
	msgRealm, pub, err := n.decode(msg.Data)
	if err != nil || msgRealm != realm || pub.Topic != topic || msg.Subject != subject {
		return 0, false, fmt.Errorf("cluster: the history of realm %q: an undecodable message on %s", realm, subject)
	}
	return pub.ID, true, nil
}
