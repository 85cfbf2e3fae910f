package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/realms"
)

// Cluster carries publications between the nodes of a cluster (package
// cluster implements it over NATS). Both methods are called on the
// publish and subscribe paths and must not block.
type Cluster interface {
	// Interest reports that the realm's first subscription to p was made
	// (on) or its last one removed (off): the node wants, or no longer
	// wants, other nodes' publications that p matches. Called with the
	// realm locked, in order.
	Interest(realm string, p realms.Pattern, on bool)
	// Forward sends a publication accepted on this node to the others. An
	// error means it could not reach the cluster (it was delivered here).
	Forward(realm string, pub RemotePublication) error
}

// RemotePublication is a publication as it travels between nodes: what
// another node needs to deliver it exactly as this one does.
type RemotePublication struct {
	ID     wamp.ID
	Topic  string
	Args   wamp.List
	Kwargs wamp.Dict
	// Publisher is the publishing session (Session 0 for an in-process
	// publisher such as the HTTP bridge); nil for the router's own events.
	Publisher *RemotePublisher
	// Disclose: subscribers that accept publisher details get them.
	Disclose bool
	// Options are the publication's exclude/eligible filters and payload
	// passthru options, as the publisher gave them.
	Options wamp.Dict
}

// HistorySource keeps event history for the whole cluster (package
// cluster implements it with JetStream); a Cluster that implements it
// answers wamp.subscription.get_events for the realms it keeps.
type HistorySource interface {
	// KeepsHistory reports whether the realm's history is kept there.
	KeepsHistory(realm string) bool
	// HistoryEvents returns the events a subscription to p reads, oldest
	// first (the same selection as this node's own history).
	HistoryEvents(ctx context.Context, realm string, p realms.Pattern) ([]HistoryEvent, error)
}

// ResumeSource lets a subscription resume (_since) from the whole
// cluster's history (package cluster implements it with JetStream).
type ResumeSource interface {
	HistorySource
	// HistorySince returns topic's kept events after publication since,
	// oldest first, and whether since is kept at all.
	HistorySince(ctx context.Context, realm, topic string, since wamp.ID) ([]HistoryEvent, bool, error)
	// InterestReady returns once the interest reported so far is in
	// place at this node's NATS server.
	InterestReady(ctx context.Context) error
	// LastPublication returns the newest kept publication of topic.
	LastPublication(ctx context.Context, realm, topic string) (wamp.ID, bool, error)
}

// HistoryEvent is a kept publication and when it was kept.
type HistoryEvent struct {
	Publication RemotePublication
	At          time.Time
}

// RemotePublisher identifies the publisher of a RemotePublication.
type RemotePublisher struct {
	Session          wamp.ID
	AuthID, AuthRole string
}

// ErrClusterUnavailable is returned (and an acknowledged publication is
// answered with ClusterUnavailableURI) when a publication was delivered on
// this node but could not be sent to the cluster.
var ErrClusterUnavailable = errors.New("broker: cluster unavailable")

// ClusterUnavailableURI is the ERROR of an acknowledged publication that
// reached this node's subscribers but not the cluster.
const ClusterUnavailableURI = wamp.URI("switchboard.error.cluster_unavailable")

// forwardedOptions are the PUBLISH options another node needs.
var forwardedOptions = []string{"exclude", "eligible", "exclude_authid", "eligible_authid", "exclude_authrole",
	"eligible_authrole", "ppt_scheme", "ppt_serializer", "ppt_cipher", "ppt_keyid", "retain"}

// SetCluster connects the broker to a cluster; call it before any session
// joins. Subscriptions made before are announced now.
func (b *Broker) SetCluster(c Cluster, maxReads int) {
	b.cluster = c
	if maxReads <= 0 {
		maxReads = DefaultMaxClusterReads
	}
	b.clusterReads = make(chan struct{}, maxReads)
	for _, r := range b.realms {
		r.mu.Lock()
		r.cluster = c
		for _, table := range []map[string]*subscription{r.exact, r.prefix, r.wildcard} {
			for _, sub := range table {
				c.Interest(r.name, sub.pattern, true)
			}
		}
		r.mu.Unlock()
	}
}

// forward sends p, a publication accepted on this node, to the cluster:
// clients' and in-process publishers' publications, and the router's own
// events (session, subscription and registration meta events, testaments),
// so that a subscriber on any node sees every node's.
func (b *Broker) forward(r *realm, p *publication, options wamp.Dict) error {
	if b.cluster == nil || p.remote {
		return nil
	}
	rp := RemotePublication{ID: p.id, Topic: p.topic, Args: p.args, Kwargs: p.kwargs, Disclose: p.disclose}
	if p.publisher != nil {
		rp.Publisher = &RemotePublisher{Session: p.publisher.id, AuthID: p.publisher.authID, AuthRole: p.publisher.authRole}
	}
	for _, k := range forwardedOptions {
		if v, ok := options[k]; ok {
			if rp.Options == nil {
				rp.Options = wamp.Dict{}
			}
			rp.Options[k] = v
		}
	}
	if err := b.cluster.Forward(r.name, rp); err != nil {
		return fmt.Errorf("%w: %w", ErrClusterUnavailable, err)
	}
	return nil
}

// remotePublication is rp as this node's publication, with its filter f.
func remotePublication(rp RemotePublication, f filter) *publication {
	p := &publication{id: rp.ID, topic: rp.Topic, args: rp.Args, kwargs: rp.Kwargs, filter: f,
		disclose: rp.Disclose, ppt: pptDetails(rp.Options), remote: true,
		internal: ReservedTopic(rp.Topic)} // another node's meta event: not kept in history
	if rp.Publisher != nil {
		// Never one of this node's sessions: exclude_me was applied where
		// the publisher is.
		p.publisher = &Session{id: rp.Publisher.Session, authID: rp.Publisher.AuthID, authRole: rp.Publisher.AuthRole}
	}
	return p
}

// RetainedSource keeps the retained events of the whole cluster (package
// cluster implements it with JetStream); a Cluster that implements it
// adds them to what a SUBSCRIBE with get_retained receives.
type RetainedSource interface {
	// KeepsRetained reports whether the realm's retained events are kept
	// there.
	KeepsRetained(realm string) bool
	// RetainedEvents returns the retained event of each topic p matches.
	RetainedEvents(ctx context.Context, realm string, p realms.Pattern) ([]HistoryEvent, error)
}

// DeliverRemote delivers a publication of another node to this node's
// subscribers (and its history), as that node delivered it to its own.
func (b *Broker) DeliverRemote(realmName string, rp RemotePublication) error {
	r, ok := b.realms[realmName]
	if !ok {
		return fmt.Errorf("%w: %q", ErrNoSuchRealm, realmName)
	}
	f, err := parseFilter(rp.Options)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	p := remotePublication(rp, f)
	// A node that receives a retained publication (it has a subscriber to
	// its topic) keeps it too, within its own limits, for later
	// subscribers with get_retained.
	if retain, _ := rp.Options["retain"].(bool); retain {
		if err := b.retain(r, p); err != nil {
			authID := ""
			if rp.Publisher != nil {
				authID = rp.Publisher.AuthID
			}
			b.limitRefused(r, "retained publication of another node not kept", 0, authID, err)
		}
	}
	b.deliver(r, p)
	return nil
}
