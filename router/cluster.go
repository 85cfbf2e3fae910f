package router

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-wamp/switchboard/broker"
	"github.com/switchboard-wamp/switchboard/cluster"
	"github.com/switchboard-wamp/switchboard/metrics"
)

// joinCluster connects the node to the cluster's NATS, if configured, and
// hands the broker to it; the router does not start without it.
func (s *Server) joinCluster() error {
	cc := s.cfg.Cluster
	if !cc.Enabled() {
		return nil
	}
	name := cc.Node
	if name == "" {
		name = defaultNodeName()
	}
	node, err := cluster.Connect(cluster.Options{
		URL: cc.NATS.URL, Node: name, CredentialsFile: cc.NATS.CredentialsFile, CAFile: cc.NATS.CAFile,
		Deliver: s.broker.DeliverRemote, Logger: s.log, Observer: newClusterObserver(s.metrics),
	})
	if err != nil {
		return fmt.Errorf("router: %w", err)
	}
	s.cluster = node
	s.broker.SetCluster(node, cc.MaxHistoryReads)
	s.metaCalls = make(chan struct{}, cc.MaxMetaCalls)
	if err := s.serveClusterMeta(node); err != nil {
		node.Close()
		return fmt.Errorf("router: %w", err)
	}
	realmNames := make([]string, 0, len(s.realms))
	for _, rs := range s.realms {
		realmNames = append(realmNames, rs.name)
	}
	if err := node.StartRPC(s.dealer, realmNames); err != nil {
		node.Close()
		return fmt.Errorf("router: %w", err)
	}
	s.clusterRPC.Store(node)
	s.keepClusterHistory(node)
	s.teardown.add("cluster", func(context.Context) { node.Close() })
	return nil
}

// keepClusterHistory keeps the realms' retained events and event history
// in JetStream, so that get_retained and get_events answer the same on
// every node; without JetStream on the NATS servers each node keeps its
// own (logged).
func (s *Server) keepClusterHistory(node *cluster.Node) {
	var hrs []cluster.HistoryRealm
	for _, rc := range s.cfg.Realms {
		hr := cluster.HistoryRealm{Name: rc.Name, MaxBytes: rc.Options.MaxHistoryBytes}
		for _, h := range rc.Options.EventHistory {
			hr.History = append(hr.History, broker.History{Topic: h.Topic, Match: h.Match, Limit: h.Limit})
		}
		if len(hr.History) > 0 {
			hrs = append(hrs, hr)
		}
	}
	var rrs []cluster.RetainedRealm
	for _, rc := range s.cfg.Realms {
		rrs = append(rrs, cluster.RetainedRealm{Name: rc.Name, MaxTopics: rc.Options.MaxRetainedTopics, MaxBytes: rc.Options.MaxRetainedBytes})
	}
	// JetStream may not be ready yet (a NATS cluster elects its JetStream
	// leader after it starts): each realm's streams are tried until they
	// are kept, the node answering from its own store meanwhile; an error
	// that trying again will not mend is logged and that realm stays per
	// node.
	go func() {
		replicas := s.cfg.Cluster.HistoryReplicas
		registry := true // the registration claims' bucket still to open
		for attempt := 1; registry || len(rrs)+len(hrs) > 0; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			retainedErrs := node.StartRetained(ctx, rrs, replicas)
			historyErrs := node.StartHistory(ctx, hrs, replicas)
			var registryErr error
			if registry {
				registryErr = node.StartRegistry(ctx, replicas)
			}
			cancel()
			var stop bool
			if registry && s.jetStreamSettled("", "registration claims", registryErr, attempt, &stop) {
				registry = false
			}
			rrs = slices.DeleteFunc(rrs, func(rr cluster.RetainedRealm) bool {
				return s.jetStreamSettled(rr.Name, "retained events", retainedErrs[rr.Name], attempt, &stop)
			})
			hrs = slices.DeleteFunc(hrs, func(hr cluster.HistoryRealm) bool {
				return s.jetStreamSettled(hr.Name, "event history", historyErrs[hr.Name], attempt, &stop)
			})
			if stop {
				return
			}
			select {
			case <-node.Done():
				return
			case <-time.After(2 * time.Second):
			}
		}
	}()
}

// jetStreamSettled reports whether a realm's stream needs no more
// attempts (kept, or an error trying again will not mend, logged); stop
// is set when the NATS servers have no JetStream at all.
func (s *Server) jetStreamSettled(realm, what string, err error, attempt int, stop *bool) bool {
	switch {
	case err == nil:
		return true
	case cluster.NoJetStream(err):
		if !*stop {
			s.log.Warn("cluster: the NATS servers have no JetStream: retained events and event history stay per node (each node answers get_retained and get_events with what it received)", "error", err)
		}
		*stop = true
		return true
	case cluster.PermanentJetStreamError(err):
		s.log.Error("cluster: JetStream refused the stream: this realm's "+what+" stays per node", "realm", realm, "error", err)
		return true
	case attempt == 1 || attempt%30 == 0:
		s.log.Warn("cluster: "+what+" not yet in JetStream; this node answers from its own meanwhile", "realm", realm, "attempt", attempt, "error", err)
	}
	return false
}

// defaultNodeName is the host name and a random suffix.
func defaultNodeName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "switchboard"
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

// clusterObserver feeds the cluster metrics.
type clusterObserver struct {
	sent, received prometheus.Counter
	lost           *prometheus.CounterVec
	connected      prometheus.Gauge
	subjects       prometheus.Gauge
	mirrored       prometheus.Gauge
	nodes          prometheus.Gauge
}

func newClusterObserver(m *metrics.Metrics) clusterObserver {
	return clusterObserver{
		sent: m.ClusterPublications.WithLabelValues("out"), received: m.ClusterPublications.WithLabelValues("in"),
		lost: m.ClusterLost, connected: m.ClusterConnected, subjects: m.ClusterSubjects,
		mirrored: m.ClusterMirroredRegistrations, nodes: m.ClusterNodes,
	}
}

func (o clusterObserver) Sent()              { o.sent.Inc() }
func (o clusterObserver) Received()          { o.received.Inc() }
func (o clusterObserver) Lost(reason string) { o.lost.WithLabelValues(reason).Inc() }
func (o clusterObserver) Subjects(n int)     { o.subjects.Set(float64(n)) }
func (o clusterObserver) Mirrored(n int)     { o.mirrored.Set(float64(n)) }
func (o clusterObserver) Nodes(n int)        { o.nodes.Set(float64(n)) }
func (o clusterObserver) Connected(up bool) {
	if up {
		o.connected.Set(1)
	} else {
		o.connected.Set(0)
	}
}
