package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
	"github.com/nats-io/nats.go/jetstream"
)

// Registration claims in JetStream KV: the snapshots tell the nodes
// about each other's registrations within milliseconds, but two REGISTERs
// of one single procedure on two nodes within those milliseconds would
// both succeed. A claim closes that window: before a REGISTER takes
// effect, its node puts a key of its own for the procedure (realm, match,
// URI) in the bucket, then lists the procedure's keys of the other nodes
// that are alive. If one conflicts (either is single, or the invocation
// policies differ), the key with the lower revision wins: the bucket orders
// every put, and each node puts before it lists, so exactly one of two
// conflicting REGISTERs sees the other's earlier key and gives way.

const registryBucket = "SWITCHBOARD_REGISTRATIONS"

// claimMinAge keeps a claim that its registration may still be about to
// use from being released by a snapshot taken in between.
const claimMinAge = 2 * time.Second

// ErrRegistrationClaimed refuses a REGISTER another node's earlier claim
// conflicts with.
var ErrRegistrationClaimed = errors.New("cluster: another node has registered the procedure")

type claim struct {
	realm, uri, match string
	at                time.Time
	revision          uint64
}

// StartRegistry opens (or creates) the bucket of registration claims.
func (n *Node) StartRegistry(ctx context.Context, replicas int) error {
	js, err := jetstream.New(n.nc)
	if err != nil {
		return fmt.Errorf("cluster: JetStream: %w", err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: registryBucket, Description: "switchboard registration claims", History: 1,
		Storage: jetstream.FileStorage, Replicas: max(replicas, 1),
	})
	if err != nil {
		return fmt.Errorf("cluster: JetStream KV %s for registration claims: %w", registryBucket, err)
	}
	n.rpcMu.Lock()
	n.kv = kv
	n.rpcMu.Unlock()
	n.log.Info("cluster: registration claims in JetStream KV", "bucket", registryBucket)
	return nil
}

func hashHex(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// claimKey is the key of node's claim of a procedure; claimPrefix the
// procedure's keys of every node.
func claimPrefix(realm, match, uri string) string { return "r." + hashHex(realm, match, uri)[:32] }
func claimKey(realm, match, uri, node string) string {
	return claimPrefix(realm, match, uri) + "." + hashHex(node)[:16]
}

func conflicting(a, b string) bool {
	return a == wamp.InvokeSingle || b == wamp.InvokeSingle || a != b
}

// ClaimRegistration claims a procedure for this node before a REGISTER
// of it takes effect (dealer.Options.Claim), and returns
// ErrRegistrationClaimed if another node's earlier claim conflicts. Without
// the bucket (no JetStream, or not ready yet) it claims nothing and lets
// the REGISTER go on: the snapshots still refuse conflicts they know of.
func (n *Node) ClaimRegistration(realm, uri, match, policy string) error {
	n.rpcMu.Lock()
	kv, rt := n.kv, n.rpc
	n.rpcMu.Unlock()
	if kv == nil || rt == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	key := claimKey(realm, match, uri, n.name)
	value, err := n.codec.SerializeDataItem(map[string]any{"node": n.name, "incarnation": rt.incarnation, "policy": policy})
	if err != nil {
		return nil
	}
	created := true
	rev, err := kv.Create(ctx, key, value)
	if errors.Is(err, jetstream.ErrKeyExists) {
		created = false
		var e jetstream.KeyValueEntry
		if e, err = kv.Get(ctx, key); err == nil {
			if node, inc, p, ok := n.decodeClaim(e.Value()); ok && node == n.name && inc == rt.incarnation && p == policy {
				rev = e.Revision() // this run's claim already: its place stays
			} else {
				rev, err = kv.Update(ctx, key, value, e.Revision())
				created = err == nil
			}
		}
	}
	if err != nil {
		n.log.Warn("cluster: a registration could not be claimed; it goes on unclaimed", "realm", realm, "procedure", uri, "error", err)
		return nil
	}
	rt.noteClaim(key, claim{realm: realm, uri: uri, match: match, at: time.Now(), revision: rev})
	lister, err := kv.ListKeysFiltered(ctx, claimPrefix(realm, match, uri)+".*")
	if err != nil {
		n.log.Warn("cluster: the claims of a procedure could not be listed; it goes on", "procedure", uri, "error", err)
		return nil
	}
	var others []string
	for k := range lister.Keys() {
		if k != key {
			others = append(others, k)
		}
	}
	for _, k := range others {
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue
		}
		node, inc, p, ok := n.decodeClaim(e.Value())
		if !ok || !rt.claimAlive(node, inc) || !conflicting(policy, p) || e.Revision() > rev {
			continue
		}
		if created {
			_ = kv.Delete(ctx, key, jetstream.LastRevision(rev))
			rt.forgetClaim(key)
		}
		return fmt.Errorf("%w: node %s registered %q first", ErrRegistrationClaimed, node, uri)
	}
	return nil
}

func (n *Node) decodeClaim(data []byte) (node string, incarnation uint64, policy string, ok bool) {
	var v any
	if err := n.decodeItem(data, &v); err != nil {
		return "", 0, "", false
	}
	d, _ := wamp.AsDict(v)
	node, _ = wamp.AsString(d["node"])
	policy, _ = wamp.AsString(d["policy"])
	return node, asUint64(d["incarnation"]), policy, node != ""
}

// claimAlive reports whether a claim of node's run incarnation still
// counts: this node's earlier runs do not; another node counts while this
// node hears from it, and, in this node's first moments (before it can
// have heard from every node), whether heard from or not.
func (rt *rpcRouter) claimAlive(node string, incarnation uint64) bool {
	if node == rt.n.name {
		return incarnation == rt.incarnation
	}
	rt.mu.Lock()
	p := rt.peers[node]
	young := time.Since(rt.started) < nodeExpiry+heartbeatEvery
	rt.mu.Unlock()
	if p != nil {
		return p.incarnation == incarnation
	}
	return young || rt.n.members.heardWithin(node, nodeExpiry)
}

func (rt *rpcRouter) noteClaim(key string, c claim) {
	rt.mu.Lock()
	if rt.claims == nil {
		rt.claims = map[string]claim{}
	}
	rt.claims[key] = c
	rt.mu.Unlock()
}

func (rt *rpcRouter) forgetClaim(key string) {
	rt.mu.Lock()
	delete(rt.claims, key)
	rt.mu.Unlock()
}

// releaseClaims deletes this node's claims of procedures it no longer
// registers (past claimMinAge).
func (rt *rpcRouter) releaseClaims() {
	rt.n.rpcMu.Lock()
	kv := rt.n.kv
	rt.n.rpcMu.Unlock()
	if kv == nil {
		return
	}
	held := map[string]bool{}
	for _, realm := range rt.realms {
		for _, reg := range rt.d.LocalRegistrations(realm) {
			held[claimKey(realm, reg.Match, reg.URI, rt.n.name)] = true
		}
	}
	var release []string
	var revs []uint64
	rt.mu.Lock()
	for key, c := range rt.claims {
		if !held[key] && time.Since(c.at) > claimMinAge {
			release = append(release, key)
			revs = append(revs, c.revision)
			delete(rt.claims, key)
		}
	}
	rt.mu.Unlock()
	if len(release) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for i, key := range release {
		if err := kv.Delete(ctx, key, jetstream.LastRevision(revs[i])); err != nil {
			rt.log.Warn("cluster: a registration claim could not be released", "error", err)
		}
	}
}

// releasePeerClaims deletes the claims of a node let go (it left, died or
// restarted): whoever lets it go does so; deleting twice is harmless.
func (rt *rpcRouter) releasePeerClaims(node string, incarnation uint64) {
	rt.n.rpcMu.Lock()
	kv := rt.n.kv
	rt.n.rpcMu.Unlock()
	if kv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	lister, err := kv.ListKeysFiltered(ctx, "r.*."+hashHex(node)[:16])
	if err != nil {
		return
	}
	for key := range lister.Keys() {
		e, err := kv.Get(ctx, key)
		if err != nil {
			continue
		}
		if n, inc, _, ok := rt.n.decodeClaim(e.Value()); ok && n == node && inc <= incarnation {
			_ = kv.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
		}
	}
}
