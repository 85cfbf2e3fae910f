package config

import (
	"net/url"
	"os"
	"strings"
)

// Cluster configures this node's membership in a cluster.
type Cluster struct {
	// NATS is the NATS server (or cluster) the nodes share.
	NATS ClusterNATS `mapstructure:"nats"`
	// Node names this node in logs and NATS. Default "": the host name and
	// a random suffix.
	Node string `mapstructure:"node" default:""`
	// HistoryReplicas is how many copies JetStream keeps of the realms'
	// retained events and event history (1 to 5, at most the NATS servers
	// with JetStream).
	// Default 1.
	HistoryReplicas int `mapstructure:"history_replicas" default:"1"`
	// MaxHistoryReads is how many wamp.subscription.get_events a node reads
	// from the cluster's history at once (1 to 10000); one more is
	// answered switchboard.error.limit_exceeded. Default 64.
	MaxHistoryReads int `mapstructure:"max_history_reads" default:"64"`
	// MaxMetaCalls is how many meta calls a node answers for the whole
	// cluster at once, each waiting up to a second for the other nodes (1
	// to 10000); one more is answered switchboard.error.limit_exceeded.
	// Default 64.
	MaxMetaCalls int `mapstructure:"max_meta_calls" default:"64"`
}

// ClusterNATS configures the connection to NATS.
type ClusterNATS struct {
	// URL is a NATS server URL (nats://host:4222, tls://host:4222) or a
	// comma-separated list of them. Default "": no cluster.
	URL string `mapstructure:"url" default:""`
	// CredentialsFile is a NATS credentials (.creds) file. Default "".
	CredentialsFile string `mapstructure:"credentials_file" default:""`
	// CAFile is a PEM file of CAs that sign the NATS servers' TLS
	// certificates. Default "": the system's.
	CAFile string `mapstructure:"ca_file" default:""`
}

// Enabled reports whether the node joins a cluster.
func (c Cluster) Enabled() bool { return c.NATS.URL != "" }

func (c *Config) validateCluster(ps *problems) {
	n := c.Cluster.NATS
	if n.URL == "" {
		return
	}
	for i, raw := range strings.Split(n.URL, ",") {
		raw = strings.TrimSpace(raw)
		u, err := url.Parse(raw)
		switch {
		case raw == "":
			ps.add("cluster.nats.url", "entry %d of the list is empty", i)
		case err != nil || u.Host == "":
			ps.add("cluster.nats.url", "entry %d is not a URL like nats://host:4222", i)
		case u.Scheme != "nats" && u.Scheme != "tls":
			ps.add("cluster.nats.url", "entry %d: scheme %q, want nats or tls", i, u.Scheme)
		}
	}
	for _, f := range []struct{ key, file string }{
		{"cluster.nats.credentials_file", n.CredentialsFile}, {"cluster.nats.ca_file", n.CAFile},
	} {
		if f.file == "" {
			continue
		}
		if _, err := os.Stat(f.file); err != nil {
			ps.add(f.key, "cannot read %q: %v", f.file, err)
		}
	}
	if r := c.Cluster.HistoryReplicas; r < 1 || r > 5 {
		ps.add("cluster.history_replicas", "want 1 to 5 (JetStream's replicas), got %d", r)
	}
	for _, f := range []struct {
		key string
		n   int
	}{{"cluster.max_history_reads", c.Cluster.MaxHistoryReads}, {"cluster.max_meta_calls", c.Cluster.MaxMetaCalls}} {
		if f.n < 1 || f.n > 10000 {
			ps.add(f.key, "want 1 to 10000, got %d", f.n)
		}
	}
	if strings.ContainsAny(c.Cluster.Node, " \t\r\n") {
		ps.add("cluster.node", "want a name without whitespace, got %q", c.Cluster.Node)
	}
}
