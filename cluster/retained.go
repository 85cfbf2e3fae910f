package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-wamp/switchboard/broker"
	"github.com/switchboard-wamp/switchboard/realms"
)

// Retained events in JetStream. A node that accepts a retained
// publication sends it once more, to the topic's subject in the "ret"
// space, which a stream per realm keeps with one message per subject: the
// last retained event of every topic, wherever it was published. A
// SUBSCRIBE with get_retained on any node reads the stream (and this
// node's own store, the newer of the two winning per topic).

const spaceRetained = "ret"

// maxRetainedRead bounds the retained events one SUBSCRIBE reads.
const maxRetainedRead = 100_000

// RetainedRealm is a realm's bounds on retained events.
type RetainedRealm struct {
	Name                string
	MaxTopics, MaxBytes int // 0: no bound
}

func retainedStreamName(realm string) string { return "SWITCHBOARD_RETAINED_" + escapeToken(realm) }

// StartRetained keeps the retained events of realms in JetStream streams,
// created or widened (as StartHistory), with replicas copies. It returns
// each realm's error; a realm without one is kept.
func (n *Node) StartRetained(ctx context.Context, rs []RetainedRealm, replicas int) map[string]error {
	errs := map[string]error{}
	js, err := jetstream.New(n.nc)
	if err != nil {
		for _, rr := range rs {
			errs[rr.Name] = fmt.Errorf("cluster: JetStream: %w", err)
		}
		return errs
	}
	for _, rr := range rs {
		cfg := jetstream.StreamConfig{
			Name:              retainedStreamName(rr.Name),
			Description:       "switchboard retained events of realm " + rr.Name,
			Subjects:          []string{realmSubject(spaceRetained, rr.Name) + ".>"},
			Retention:         jetstream.LimitsPolicy,
			Storage:           jetstream.FileStorage,
			Discard:           jetstream.DiscardOld,
			MaxMsgsPerSubject: 1,
			MaxMsgs:           -1,
			MaxBytes:          -1,
			Replicas:          max(replicas, 1),
		}
		if rr.MaxTopics > 0 {
			cfg.MaxMsgs = int64(rr.MaxTopics)
		}
		if rr.MaxBytes > 0 {
			cfg.MaxBytes = int64(rr.MaxBytes)
		}
		if err := n.ensureStream(ctx, js, cfg); err != nil {
			errs[rr.Name] = fmt.Errorf("cluster: JetStream stream %s for the retained events of realm %q: %w", cfg.Name, rr.Name, err)
			continue
		}
		n.rpcMu.Lock()
		n.js = js
		if n.retained == nil {
			n.retained = map[string]bool{}
		}
		n.retained[rr.Name] = true
		n.rpcMu.Unlock()
		n.log.Info("cluster: retained events kept in JetStream", "realm", rr.Name, "stream", cfg.Name, "replicas", cfg.Replicas)
	}
	return errs
}

// KeepsRetained implements broker.RetainedSource.
func (n *Node) KeepsRetained(realm string) bool {
	n.rpcMu.Lock()
	defer n.rpcMu.Unlock()
	return n.retained[realm]
}

// forwardRetained sends a retained publication's encoded message to the
// realm's retained stream too (whether this node has seen the stream yet
// or not: one created by another node keeps it).
func (n *Node) forwardRetained(realm, topic string, data []byte) error {
	subject := spaceSubject(spaceRetained, realm, topic)
	if len(subject) > maxSubjectLength {
		return fmt.Errorf("topic of %d bytes: its NATS subject exceeds %d bytes", len(topic), maxSubjectLength)
	}
	return n.nc.Publish(subject, data)
}

// RetainedEvents implements broker.RetainedSource: the last retained event
// of each topic p matches, as the stream keeps them.
func (n *Node) RetainedEvents(ctx context.Context, realm string, p realms.Pattern) ([]broker.HistoryEvent, error) {
	n.rpcMu.Lock()
	js := n.js
	n.rpcMu.Unlock()
	if !n.KeepsRetained(realm) {
		return nil, errors.New("cluster: no retained events of this realm in JetStream")
	}
	release, err := n.acquireRead(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster: read the retained events of realm %q: %w", realm, err)
	}
	defer release()
	cons, done, err := readConsumer(ctx, js, retainedStreamName(realm), interestSubject(spaceRetained, realm, p),
		jetstream.DeliverLastPerSubjectPolicy)
	if err != nil {
		return nil, fmt.Errorf("cluster: read the retained events of realm %q: %w", realm, err)
	}
	defer done()
	var out []broker.HistoryEvent
	err = readAll(ctx, cons, maxRetainedRead, func(msg jetstream.Msg, meta *jetstream.MsgMetadata) {
		msgRealm, pub, err := n.decode(msg.Data())
		if err != nil || msgRealm != realm || !p.Matches(pub.Topic) || msg.Subject() != spaceSubject(spaceRetained, realm, pub.Topic) {
			return
		}
		out = append(out, broker.HistoryEvent{Publication: pub, At: meta.Timestamp})
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: read the retained events of realm %q: %w", realm, err)
	}
	return out, nil
}

// readConsumer creates a consumer that reads stream's messages on
// subject once (no acks, in memory, one replica), and a function that
// deletes it.
func readConsumer(ctx context.Context, js jetstream.JetStream, stream, subject string, policy jetstream.DeliverPolicy) (jetstream.Consumer, func(), error) {
	cfg := jetstream.ConsumerConfig{
		FilterSubjects:    []string{subject},
		DeliverPolicy:     policy,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: 10 * time.Second, // if the delete below is lost
		MemoryStorage:     true,
		Replicas:          1,
	}
	var cons jetstream.Consumer
	var err error
	for {
		// A stream whose leader is changing answers nothing for a moment:
		// try again within ctx.
		if cons, err = js.CreateConsumer(ctx, stream, cfg); err == nil || PermanentJetStreamError(err) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err != nil {
		return nil, nil, err
	}
	name := cons.CachedInfo().Name
	return cons, func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = js.DeleteConsumer(ctx, stream, name)
	}, nil
}

// readAll hands f every message cons had pending when it was created, at
// most limit of them.
func readAll(ctx context.Context, cons jetstream.Consumer, limit int, f func(jetstream.Msg, *jetstream.MsgMetadata)) error {
	pending := cons.CachedInfo().NumPending
	if pending > uint64(limit) { //nolint:gosec // limit > 0
		return fmt.Errorf("%d messages to read, over the bound of %d", pending, limit)
	}
	want, read := int(pending), 0 //nolint:gosec // at most limit
	for read < want {
		wait := time.Second
		if d, ok := ctx.Deadline(); ok {
			wait = max(time.Until(d), time.Millisecond)
		}
		batch, err := cons.Fetch(min(256, want-read), jetstream.FetchMaxWait(wait))
		if err != nil {
			// A consumer just created may not answer for a moment (its
			// server is still placing it): try again within ctx.
			if !PermanentJetStreamError(err) && ctx.Err() == nil {
				select {
				case <-ctx.Done():
				case <-time.After(50 * time.Millisecond):
				}
				continue
			}
			return err
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			read++
			meta, err := msg.Metadata()
			if err != nil {
				continue
			}
			f(msg, meta)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) {
			if got == 0 && !PermanentJetStreamError(err) && ctx.Err() == nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return err
		}
		if got == 0 { // nothing within the wait: the deadline passed
			if err := ctx.Err(); err != nil {
				return err
			}
			return fmt.Errorf("%d of %d messages read before the wait ended", read, want)
		}
	}
	return nil
}

// maxConcurrentReads bounds the JetStream reads (get_events, get_retained)
// a node runs at once; more wait, within their deadline.
const maxConcurrentReads = 16

// acquireRead takes one of the node's concurrent JetStream reads, or fails
// when ctx ends first.
func (n *Node) acquireRead(ctx context.Context) (func(), error) {
	select {
	case n.reads <- struct{}{}:
		return func() { <-n.reads }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("too many reads of JetStream at once (%d): %w", maxConcurrentReads, ctx.Err())
	}
}
