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
// created or updated, with replicas copies.
func (n *Node) StartRetained(ctx context.Context, rs []RetainedRealm, replicas int) error {
	js, err := jetstream.New(n.nc)
	if err != nil {
		return fmt.Errorf("cluster: JetStream: %w", err)
	}
	kept := map[string]bool{}
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
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("cluster: JetStream stream %s for the retained events of realm %q: %w", cfg.Name, rr.Name, err)
		}
		kept[rr.Name] = true
	}
	n.rpcMu.Lock()
	n.js, n.retained = js, kept
	n.rpcMu.Unlock()
	n.log.Info("cluster: retained events kept in JetStream", "realms", len(kept), "replicas", max(replicas, 1))
	return nil
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
	cons, err := js.CreateConsumer(ctx, stream, jetstream.ConsumerConfig{
		FilterSubjects:    []string{subject},
		DeliverPolicy:     policy,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: 10 * time.Second, // if the delete below is lost
		MemoryStorage:     true,
		Replicas:          1,
	})
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
	want := min(int(cons.CachedInfo().NumPending), limit) //nolint:gosec // bounded by limit
	read := 0
	for read < want {
		wait := time.Second
		if d, ok := ctx.Deadline(); ok {
			wait = max(time.Until(d), time.Millisecond)
		}
		batch, err := cons.Fetch(min(256, want-read), jetstream.FetchMaxWait(wait))
		if err != nil {
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
