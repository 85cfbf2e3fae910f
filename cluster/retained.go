package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

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
	cfgs := map[string]jetstream.StreamConfig{}
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
		cfgs[rr.Name] = cfg
	}
	return n.keepStreams(ctx, cfgs, "retained events", func(realm string) {
		if n.retained == nil {
			n.retained = map[string]bool{}
		}
		n.retained[realm] = true
	})
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
	if !n.KeepsRetained(realm) {
		return nil, errors.New("cluster: no retained events of this realm in JetStream")
	}
	var out []broker.HistoryEvent
	err := n.readStream(ctx, realm, retainedStreamName(realm), interestSubject(spaceRetained, realm, p),
		jetstream.DeliverLastPerSubjectPolicy, maxRetainedRead,
		func(topic string) string { return spaceSubject(spaceRetained, realm, topic) },
		func(pub broker.RemotePublication, at time.Time) {
			if p.Matches(pub.Topic) {
				out = append(out, broker.HistoryEvent{Publication: pub, At: at})
			}
		})
	if err != nil {
		return nil, fmt.Errorf("cluster: read the retained events of realm %q: %w", realm, err)
	}
	return out, nil
}
