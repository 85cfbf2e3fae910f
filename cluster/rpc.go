package cluster

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
	"github.com/nats-io/nats.go"

	"github.com/switchboard-wamp/switchboard/dealer"
)

// RPC across nodes. Every node announces the registrations of its own
// sessions (a snapshot per node on every change and every heartbeat); every
// other node mirrors them in its dealer as registrations of a proxy
// session, one per other node and realm, with the same match and
// invocation policy. A call is routed on the caller's node as any call:
// the precedence, the invocation policy (over local callees and the
// proxies alike), timeouts and cancelling are that node's dealer's. An
// INVOCATION to a proxy travels to the callee's node as a CALL naming the
// registration chosen; there a relay session of the caller's node (Remote,
// trusted) calls that registration's own callees; its answers (progressive
// results too) travel back and are handed to the proxy as YIELD or ERROR.
// A node not heard from for nodeExpiry leaves: its proxies' calls fail
// with callee_lost, the calls it relayed end (their callees interrupted).
// docs/cluster.md says what this guarantees and what it does not.
//
// Every RPC message names the run of the node that sent it (its
// incarnation, the time it started) and the proxy it concerns (the proxy
// session's ID): a node that restarted, or a proxy that was replaced,
// numbers its requests from 1 again, and nothing of an earlier run may be
// taken for the new one's.

// Subjects of the RPC traffic.
const (
	regsSubject      = subjectPrefix + ".rpc.regs"  // snapshots of a node's registrations
	rpcSubjectPrefix = subjectPrefix + ".rpc.node." // + the escaped node name: calls and answers for it
)

// Bounds: the registrations a node announces and mirrors per realm of
// another node, and the other nodes it keeps state for.
const (
	maxMirroredPerRealm = 10000
	maxPeers            = 1000
	departedMemory      = time.Minute // how long a node that left or restarted is remembered
)

// The in-flight check: every heartbeat a node lists to each other node
// the invocations its proxy has had pending since the last one; that node
// answers with those it does not know (a CALL lost on the way, or an
// answer), and they fail at once instead of waiting for ever. A node's
// messages to another arrive in order, so an answer sent before the list
// of unknown ones arrives before it.
const (
	topicInFlight   = "switchboard.cluster.in_flight"
	topicUnknown    = "switchboard.cluster.unknown"
	maxProbe        = 50000
	callLostMessage = "the call was lost between the nodes"
)

// Keys of the cluster's own options in the RPC messages; a callee's
// details that carry any _sb_ key lose it (it could pose as another node).
const (
	optFrom        = "_sb_from"   // the sending node
	optReg         = "_sb_reg"    // [uri, match] of the registration chosen
	optCaller      = "_sb_caller" // [session, authid, authrole] if disclosed
	optIncarnation = "_sb_inc"    // the sending node's incarnation
	optProxy       = "_sb_proxy"  // the caller's node's proxy session the call is for
)

// ErrClusterUnavailable answers an INVOCATION that could not be sent to
// its callee's node.
const ErrClusterUnavailable = wamp.URI("switchboard.error.cluster_unavailable")

// RPCObserver counts the RPC traffic between nodes (the Node's Observer
// implements it if it can).
type RPCObserver interface {
	// Mirrored reports how many registrations of other nodes this node
	// mirrors.
	Mirrored(n int)
}

type rpcRouter struct {
	n           *Node
	d           *dealer.Dealer
	realms      []string
	log         *slog.Logger
	incarnation uint64

	wake  chan struct{}      // this node's registrations changed
	calls *nats.Subscription // this node's RPC subject

	mu       sync.Mutex
	closing  bool // the goodbye is said: no more snapshots
	peers    map[string]*peer
	departed map[string]departure // nodes that left or restarted, by name
	started  time.Time
	claims   map[string]claim // this node's registration claims, by key
}

type departure struct {
	incarnation uint64
	at          time.Time
}

// peer is another node, as this node's RPC sees it.
type peer struct {
	name        string
	incarnation uint64
	seen        time.Time
	realms      map[string]*peerRealm
}

// peerRealm holds, for one other node and realm, the proxy standing for
// that node's callees and the relay standing for its callers.
type peerRealm struct {
	rpc   *rpcRouter
	peer  string
	realm string

	reconcileMu sync.Mutex // one reconciliation at a time
	proxy       *dealer.Session

	mu      sync.Mutex
	nextReq wamp.ID
	pending regKey              // the key of the REGISTER in progress
	refusal *wamp.Error         // the proxy's refusal of it
	regs    map[regKey]wamp.ID  // mirrored: key -> the proxy's registration ID
	keys    map[wamp.ID]regKey  // the proxy's registration ID -> key
	refused map[regKey]struct{} // conflicts already logged
	// The relay, the proxy of the peer it serves (the peer replaces its
	// proxy if it lets this node go and hears from it again) and its
	// calls in flight, to answer if the relay ends first.
	relay      *dealer.Session
	relayProxy wamp.ID
	relayCalls map[wamp.ID]struct{}
	// lastPending: the proxy's invocations pending at the last probe.
	lastPending map[wamp.ID]struct{}
}

type regKey struct{ uri, match, policy string }

// StartRPC routes calls between this node's dealer and the other nodes'
// for the given realms.
func (n *Node) StartRPC(d *dealer.Dealer, realms []string) error {
	rt := &rpcRouter{n: n, d: d, realms: realms, log: n.log, wake: make(chan struct{}, 1),
		incarnation: uint64(time.Now().UnixNano()), //nolint:gosec // after 1970
		peers:       map[string]*peer{}, departed: map[string]departure{}, started: time.Now()}
	if _, err := n.nc.Subscribe(regsSubject, rt.onSnapshot); err != nil {
		return fmt.Errorf("cluster: subscribe to registrations: %w", err)
	}
	sub, err := n.nc.Subscribe(rpcSubjectPrefix+escapeToken(n.name), rt.onMessage)
	if err != nil {
		return fmt.Errorf("cluster: subscribe to calls: %w", err)
	}
	rt.calls = sub
	n.rpcMu.Lock()
	n.rpc = rt
	n.rpcMu.Unlock()
	n.wg.Add(1)
	go rt.announce()
	return nil
}

// RegistrationsChanged tells the other nodes that this node's
// registrations in realm changed (dealer.Options.RegistrationsChanged).
func (n *Node) RegistrationsChanged(string) {
	n.rpcMu.Lock()
	rt := n.rpc
	n.rpcMu.Unlock()
	if rt == nil {
		return
	}
	select {
	case rt.wake <- struct{}{}:
	default:
	}
}

// announce sends this node's snapshot on every change and every
// heartbeat, and lets the peers not heard from for nodeExpiry go.
func (rt *rpcRouter) announce() {
	defer rt.n.wg.Done()
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for {
		rt.sendSnapshot()
		select {
		case <-rt.n.done:
			rt.mu.Lock()
			peers := rt.peers
			rt.peers = map[string]*peer{}
			rt.mu.Unlock()
			for _, p := range peers {
				rt.leave(p)
			}
			return
		case <-rt.wake:
		case <-t.C:
			rt.expire()
			rt.probeInFlight()
		}
	}
}

// snapshot lists this node's registrations of realm, at most limit of
// them, and how many it left out.
func (rt *rpcRouter) snapshot(realm string, limit int) ([]any, int) {
	regs := rt.d.LocalRegistrations(realm)
	// Oldest first: a cut keeps the same ones every time, and a flood of
	// new registrations cannot push out those that were there before.
	slices.SortFunc(regs, func(a, b dealer.RegistrationInfo) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.URI, b.URI), strings.Compare(a.Match, b.Match))
	})
	cut := 0
	if len(regs) > limit {
		cut = len(regs) - limit
		regs = regs[:limit]
	}
	list := make([]any, 0, len(regs))
	for _, reg := range regs {
		list = append(list, []any{reg.URI, reg.Match, reg.Policy})
	}
	return list, cut
}

func (rt *rpcRouter) sendSnapshot() {
	rt.mu.Lock()
	closing := rt.closing
	rt.mu.Unlock()
	if closing {
		return
	}
	rt.releaseClaims()
	// Cut to maxMirroredPerRealm, then as far as NATS's max_payload
	// demands: the other nodes mirror what arrives, and hear that this
	// node lives (its heartbeats) even if nothing does.
	limit := maxMirroredPerRealm
	for {
		byRealm := map[string]any{}
		cut := 0
		for _, realm := range rt.realms {
			list, c := rt.snapshot(realm, limit)
			cut += c
			if len(list) > 0 {
				byRealm[realm] = list
			}
		}
		data, err := rt.n.codec.SerializeDataItem(map[string]any{"node": rt.n.name, "incarnation": rt.incarnation, "realms": byRealm})
		if err == nil && int64(len(data)) > rt.n.nc.MaxPayload() && limit > 0 {
			limit /= 2
			continue
		}
		if cut > 0 {
			rt.n.obs.Lost("registrations_not_sent")
			rt.log.Error("cluster: not every registration of this node is announced: other nodes' callers do not reach the rest",
				"announced_per_realm", limit, "left_out", cut)
		}
		if err == nil {
			err = rt.n.nc.Publish(regsSubject, data)
		}
		if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			rt.n.obs.Lost("registrations_not_sent")
			rt.log.Warn("cluster: this node's registrations could not be announced", "error", err)
		}
		return
	}
}

// sayGoodbye tells the other nodes that this one leaves, and waits (a
// moment at most) until NATS has it.
func (rt *rpcRouter) sayGoodbye() {
	rt.mu.Lock()
	rt.closing = true
	rt.mu.Unlock()
	data, err := rt.n.codec.SerializeDataItem(map[string]any{"node": rt.n.name, "incarnation": rt.incarnation, "leaving": true})
	if err == nil {
		err = rt.n.nc.Publish(regsSubject, data)
	}
	if err == nil {
		err = rt.n.nc.FlushTimeout(time.Second)
	}
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		rt.log.Warn("cluster: the other nodes could not be told that this one leaves; they let it go after its expiry", "error", err)
	}
}

// expire lets go the peers heard from neither by snapshot, message nor
// heartbeat for nodeExpiry.
func (rt *rpcRouter) expire() {
	var gone []*peer
	rt.mu.Lock()
	for name, p := range rt.peers {
		if time.Since(p.seen) > nodeExpiry && !rt.n.members.heardWithin(name, nodeExpiry) {
			// Not noted as departed: the same run, heard again (a cut
			// healed), is a new peer with new proxies at once.
			delete(rt.peers, name)
			gone = append(gone, p)
		}
	}
	for name, d := range rt.departed {
		if time.Since(d.at) > departedMemory {
			delete(rt.departed, name)
		}
	}
	rt.mu.Unlock()
	for _, p := range gone {
		rt.log.Warn("cluster: node not heard from; its registrations and relayed calls end", "peer", p.name)
		rt.leave(p)
	}
	if len(gone) > 0 {
		rt.reportMirrored()
	}
}

// leave ends what this node holds for p: its proxies (their calls fail
// with callee_lost) and its relays (the calls they relayed are
// interrupted and answered, in case p still listens).
func (rt *rpcRouter) leave(p *peer) {
	go rt.releasePeerClaims(p.name, p.incarnation)
	for _, pr := range p.realms {
		pr.proxy.Leave()
		pr.mu.Lock()
		relay, proxy, calls := pr.relay, pr.relayProxy, pr.relayCalls
		pr.relay, pr.relayCalls = nil, nil
		pr.mu.Unlock()
		pr.endRelay(relay, proxy, calls)
	}
}

// endRelay ends a relay: its callees are interrupted, and each call it had
// in flight is answered to the caller's node (which may still wait).
func (pr *peerRealm) endRelay(relay *dealer.Session, proxy wamp.ID, calls map[wamp.ID]struct{}) {
	if relay == nil {
		return
	}
	relay.Leave()
	for req := range calls {
		_ = pr.rpc.send(pr.peer, &wamp.Error{Type: wamp.CALL, Request: req,
			Details: wamp.Dict{optRealm: pr.realm, optFrom: pr.rpc.n.name, optProxy: proxy},
			Error:   wamp.ErrCanceled, Arguments: wamp.List{"the callee's node let the caller's node go"},
			ArgumentsKw: wamp.Dict{"reason": "callee_lost"}})
	}
}

// noteDeparted remembers that run incarnation of node name left or was
// replaced, for departedMemory; at most maxPeers nodes are remembered.
// The caller holds rt.mu.
func (rt *rpcRouter) noteDeparted(name string, incarnation uint64) {
	if _, known := rt.departed[name]; !known && len(rt.departed) >= maxPeers {
		return
	}
	rt.departed[name] = departure{incarnation, time.Now()}
}

// current decides whether a message or snapshot of run incarnation of
// node name is to be taken: not if that run left, was replaced, or is
// older than the one known. A newer run replaces the old one (its state
// ends). It returns the peer, created if need be; nil to drop.
func (rt *rpcRouter) current(name string, incarnation uint64) *peer {
	rt.mu.Lock()
	if d, ok := rt.departed[name]; ok && incarnation <= d.incarnation {
		rt.mu.Unlock()
		return nil
	}
	p := rt.peers[name]
	switch {
	case p != nil && incarnation < p.incarnation:
		rt.mu.Unlock()
		return nil // a late message of an earlier run
	case p != nil && incarnation > p.incarnation:
		delete(rt.peers, name)
		rt.noteDeparted(name, p.incarnation)
		rt.mu.Unlock()
		rt.log.Info("cluster: a node restarted; its earlier registrations and relayed calls end", "peer", name)
		rt.leave(p)
		rt.mu.Lock()
		p = rt.peers[name]
	}
	defer rt.mu.Unlock()
	if p == nil {
		if len(rt.peers) >= maxPeers {
			rt.log.Error("cluster: too many nodes; this one is not taken", "peer", name, "max", maxPeers)
			return nil
		}
		p = &peer{name: name, incarnation: incarnation, realms: map[string]*peerRealm{}}
		rt.peers[name] = p
		select { // a new node: tell it about this one at once
		case rt.wake <- struct{}{}:
		default:
		}
	}
	p.seen = time.Now()
	return p
}

// realmOf returns p's state for realm, creating it; nil for a realm this
// node does not serve.
func (rt *rpcRouter) realmOf(p *peer, realm string) *peerRealm {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.peers[p.name] != p {
		return nil // let go meanwhile
	}
	if pr := p.realms[realm]; pr != nil {
		return pr
	}
	if !slices.Contains(rt.realms, realm) {
		return nil
	}
	pr := &peerRealm{rpc: rt, peer: p.name, realm: realm, regs: map[regKey]wamp.ID{}, keys: map[wamp.ID]regKey{},
		refused: map[regKey]struct{}{}}
	// The proxy takes every feature; the callee's node checks its own
	// callee's (an ERROR comes back if it lacks one).
	features := dealer.Features{ProgressiveCallResults: true, ProgressiveCallInvocations: true, CallCanceling: true,
		CallTimeout: true, PayloadPassthru: true}
	pr.proxy = rt.d.Join(proxyConn{pr}, realm, dealer.SessionInfo{ID: wamp.GlobalID(), AuthID: "node:" + p.name,
		AuthRole: "cluster", Callee: features, Trusted: true, Remote: true})
	if pr.proxy == nil {
		return nil
	}
	p.realms[realm] = pr
	return pr
}

// relayFor returns the relay serving the caller's node's proxy, replacing
// one that served an earlier proxy (whose calls are over there).
func (pr *peerRealm) relayFor(proxy wamp.ID) *dealer.Session {
	pr.mu.Lock()
	if pr.relay != nil && pr.relayProxy == proxy {
		defer pr.mu.Unlock()
		return pr.relay
	}
	old, oldProxy, oldCalls := pr.relay, pr.relayProxy, pr.relayCalls
	pr.relay = pr.rpc.d.Join(relayConn{pr, proxy}, pr.realm, dealer.SessionInfo{ID: wamp.GlobalID(), AuthID: "node:" + pr.peer,
		AuthRole: "cluster", Caller: dealer.Features{ProgressiveCallResults: true}, Trusted: true, Remote: true})
	pr.relayProxy, pr.relayCalls = proxy, map[wamp.ID]struct{}{}
	relay := pr.relay
	pr.mu.Unlock()
	pr.endRelay(old, oldProxy, oldCalls)
	return relay
}

// onSnapshot mirrors another node's registrations.
func (rt *rpcRouter) onSnapshot(m *nats.Msg) {
	var v any
	if err := rt.n.decodeItem(m.Data, &v); err != nil {
		rt.n.obs.Lost("undecodable")
		return
	}
	snap, _ := wamp.AsDict(v)
	name, _ := wamp.AsString(snap["node"])
	if name == "" || name == rt.n.name {
		return
	}
	incarnation := asUint64(snap["incarnation"])
	if leaving, _ := snap["leaving"].(bool); leaving {
		rt.mu.Lock()
		p := rt.peers[name]
		if p != nil && p.incarnation <= incarnation {
			delete(rt.peers, name)
		} else {
			p = nil
		}
		if d := rt.departed[name]; d.incarnation < incarnation {
			rt.noteDeparted(name, incarnation)
		}
		rt.mu.Unlock()
		if p != nil {
			rt.log.Info("cluster: a node left; its registrations and relayed calls end", "peer", name)
			rt.leave(p)
			rt.reportMirrored()
		}
		return
	}
	p := rt.current(name, incarnation)
	if p == nil {
		return
	}
	byRealm, _ := wamp.AsDict(snap["realms"])
	for _, realm := range rt.realms {
		list, _ := wamp.AsList(byRealm[realm])
		want := map[regKey]struct{}{}
		for _, item := range list {
			l, _ := wamp.AsList(item)
			if len(l) != 3 || len(want) >= maxMirroredPerRealm {
				continue
			}
			uri, _ := wamp.AsString(l[0])
			match, _ := wamp.AsString(l[1])
			policy, _ := wamp.AsString(l[2])
			want[regKey{uri, match, policy}] = struct{}{}
		}
		rt.mu.Lock()
		pr := p.realms[realm]
		rt.mu.Unlock()
		if pr == nil && len(want) == 0 {
			continue
		}
		if pr == nil {
			if pr = rt.realmOf(p, realm); pr == nil {
				continue
			}
		}
		pr.reconcile(want)
	}
	rt.reportMirrored()
}

func (rt *rpcRouter) reportMirrored() {
	o, ok := rt.n.obs.(RPCObserver)
	if !ok {
		return
	}
	total := 0
	rt.mu.Lock()
	for _, p := range rt.peers {
		for _, pr := range p.realms {
			pr.mu.Lock()
			total += len(pr.regs)
			pr.mu.Unlock()
		}
	}
	rt.mu.Unlock()
	o.Mirrored(total)
}

// reconcile registers what the peer has and the proxy does not, and
// unregisters what the peer no longer has.
func (pr *peerRealm) reconcile(want map[regKey]struct{}) {
	pr.reconcileMu.Lock()
	defer pr.reconcileMu.Unlock()
	pr.mu.Lock()
	var stale []wamp.ID
	for key, id := range pr.regs {
		if _, ok := want[key]; !ok {
			stale = append(stale, id)
		}
	}
	var missing []regKey
	for key := range want {
		if _, ok := pr.regs[key]; !ok {
			missing = append(missing, key)
		}
	}
	for key := range pr.refused {
		if _, ok := want[key]; !ok {
			delete(pr.refused, key)
		}
	}
	pr.mu.Unlock()

	for _, id := range stale {
		pr.mu.Lock()
		pr.nextReq++
		req := pr.nextReq
		pr.mu.Unlock()
		// Unregistered first, forgotten then: no call finds the proxy
		// without its key.
		pr.proxy.Handle(&wamp.Unregister{Request: req, Registration: id})
		pr.mu.Lock()
		key := pr.keys[id]
		delete(pr.keys, id)
		delete(pr.regs, key)
		pr.mu.Unlock()
	}
	for _, key := range missing {
		pr.mu.Lock()
		pr.nextReq++
		req := pr.nextReq
		pr.pending, pr.refusal = key, nil
		pr.mu.Unlock()
		// REGISTERED records the key (proxyConn.Send) before any call can
		// pick the proxy.
		pr.proxy.Handle(&wamp.Register{Request: req, Procedure: wamp.URI(key.uri),
			Options: wamp.Dict{wamp.OptMatch: key.match, wamp.OptInvoke: key.policy}})
		pr.mu.Lock()
		refusal := pr.refusal
		pr.pending, pr.refusal = regKey{}, nil
		_, logged := pr.refused[key]
		if refusal != nil {
			pr.refused[key] = struct{}{}
		}
		pr.mu.Unlock()
		if refusal != nil && !logged {
			pr.rpc.log.Warn("cluster: a registration of another node conflicts with this node's; calls here go to this node's",
				"peer", pr.peer, "realm", pr.realm, "procedure", key.uri, "match", key.match, "invoke", key.policy,
				"error", string(refusal.Error))
		}
	}
}

// proxyConn is the Conn of a proxy: its REGISTER answers are recorded for
// reconcile; INVOCATION and INTERRUPT go to the peer.
type proxyConn struct{ pr *peerRealm }

func (c proxyConn) Send(msg wamp.Message) bool {
	pr := c.pr
	switch m := msg.(type) {
	case *wamp.Registered:
		pr.mu.Lock()
		pr.regs[pr.pending] = m.Registration
		pr.keys[m.Registration] = pr.pending
		delete(pr.refused, pr.pending)
		pr.mu.Unlock()
	case *wamp.Error:
		if m.Type == wamp.REGISTER {
			pr.mu.Lock()
			pr.refusal = m
			pr.mu.Unlock()
		}
	case *wamp.Invocation:
		pr.mu.Lock()
		key, ok := pr.keys[m.Registration]
		pr.mu.Unlock()
		if !ok {
			pr.failInvocation(m.Request, "the registration of another node is gone")
			return true
		}
		opts := wamp.Dict{optReg: wamp.List{key.uri, key.match}}
		for _, k := range []string{wamp.OptReceiveProgress, wamp.OptTimeout, wamp.OptProgress, wamp.OptPPTScheme,
			wamp.OptPPTSerializer, wamp.OptPPTCipher, wamp.OptPPTKeyId} {
			if v, ok := m.Details[k]; ok {
				opts[k] = v
			}
		}
		if id, ok := m.Details["caller"]; ok {
			opts[optCaller] = wamp.List{id, m.Details["caller_authid"], m.Details["caller_authrole"]}
		}
		pr.stamp(opts)
		procedure := key.uri
		if p, ok := wamp.AsString(m.Details[wamp.OptProcedure]); ok {
			procedure = p
		}
		if err := pr.rpc.send(pr.peer, &wamp.Call{Request: m.Request, Options: opts, Procedure: wamp.URI(procedure),
			Arguments: m.Arguments, ArgumentsKw: m.ArgumentsKw}); err != nil {
			pr.failInvocation(m.Request, "the callee's node cannot be reached: "+err.Error())
		}
	case *wamp.Interrupt:
		mode, _ := wamp.AsString(m.Options[wamp.OptMode])
		opts := wamp.Dict{wamp.OptMode: mode}
		pr.stamp(opts)
		if err := pr.rpc.send(pr.peer, &wamp.Cancel{Request: m.Request, Options: opts}); err != nil {
			// The callee's node will not hear of it: the call ends here
			// (a kill would otherwise wait for an answer that never comes).
			pr.rpc.log.Warn("cluster: an INTERRUPT could not reach the callee's node", "peer", pr.peer, "error", err)
			pr.failInvocation(m.Request, "the callee's node cannot be reached: "+err.Error())
		}
	}
	return true
}

// probeInFlight sends each other node the invocations of this node's
// proxy that were pending at the last probe and still are.
func (rt *rpcRouter) probeInFlight() {
	var prs []*peerRealm
	rt.mu.Lock()
	for _, p := range rt.peers {
		for _, pr := range p.realms {
			prs = append(prs, pr)
		}
	}
	rt.mu.Unlock()
	for _, pr := range prs {
		pending := pr.proxy.PendingInvocations(maxProbe)
		now := make(map[wamp.ID]struct{}, len(pending))
		var probe wamp.List
		pr.mu.Lock()
		for _, id := range pending {
			now[id] = struct{}{}
			if _, was := pr.lastPending[id]; was {
				probe = append(probe, id)
			}
		}
		pr.lastPending = now
		pr.mu.Unlock()
		if len(probe) == 0 {
			continue
		}
		opts := wamp.Dict{}
		pr.stamp(opts)
		if err := rt.send(pr.peer, &wamp.Publish{Options: opts, Topic: topicInFlight, Arguments: probe}); err != nil {
			rt.log.Warn("cluster: the in-flight check could not be sent", "peer", pr.peer, "error", err)
		}
	}
}

// stamp adds the keys every message from this node's proxy carries.
func (pr *peerRealm) stamp(opts wamp.Dict) {
	opts[optRealm] = pr.realm
	opts[optFrom] = pr.rpc.n.name
	opts[optProxy] = pr.proxy.ID()
}

// failInvocation answers an INVOCATION of the proxy with an ERROR, later:
// the dealer sends INVOCATIONs under its locks.
func (pr *peerRealm) failInvocation(request wamp.ID, why string) {
	pr.rpc.n.obs.Lost("call_not_sent")
	go pr.proxy.Handle(&wamp.Error{Type: wamp.INVOCATION, Request: request, Details: wamp.Dict{},
		Error: ErrClusterUnavailable, Arguments: wamp.List{why}})
}

// relayConn is the Conn of a relay: the answers to the calls it relayed
// go back to the caller's node, for the proxy they came from.
type relayConn struct {
	pr    *peerRealm
	proxy wamp.ID
}

// withoutClusterKeys copies a callee's details without any _sb_ key.
func withoutClusterKeys(d wamp.Dict) wamp.Dict {
	out := make(wamp.Dict, len(d)+4)
	for k, v := range d {
		if !strings.HasPrefix(k, "_sb_") {
			out[k] = v
		}
	}
	return out
}

func (c relayConn) Send(msg wamp.Message) bool {
	pr := c.pr
	var out wamp.Message
	var details wamp.Dict
	var request wamp.ID
	final := true
	switch m := msg.(type) {
	case *wamp.Result:
		details = withoutClusterKeys(m.Details)
		progress, _ := m.Details[wamp.OptProgress].(bool)
		final, request = !progress, m.Request
		out = &wamp.Result{Request: m.Request, Details: details, Arguments: m.Arguments, ArgumentsKw: m.ArgumentsKw}
	case *wamp.Error:
		details, request = withoutClusterKeys(m.Details), m.Request
		out = &wamp.Error{Type: m.Type, Request: m.Request, Details: details, Error: m.Error,
			Arguments: m.Arguments, ArgumentsKw: m.ArgumentsKw}
	default:
		return true
	}
	details[optRealm] = pr.realm
	details[optFrom] = pr.rpc.n.name
	details[optProxy] = c.proxy
	if err := pr.rpc.send(pr.peer, out); err != nil {
		pr.rpc.n.obs.Lost("answer_not_sent")
		pr.rpc.log.Error("cluster: the answer to a call from another node could not be sent; the in-flight check ends it",
			"peer", pr.peer, "realm", pr.realm, "error", err)
	}
	// Forgotten after it is sent: an in-flight check that no longer finds
	// the call is answered after the answer itself.
	if final {
		pr.mu.Lock()
		if pr.relayProxy == c.proxy {
			delete(pr.relayCalls, request)
		}
		pr.mu.Unlock()
	}
	return true
}

// send publishes msg to node's RPC subject, stamped with this node's
// incarnation.
func (rt *rpcRouter) send(node string, msg wamp.Message) error {
	if !rt.n.nc.IsConnected() {
		return errors.New("not connected to NATS")
	}
	switch m := msg.(type) {
	case *wamp.Call:
		m.Options[optIncarnation] = rt.incarnation
	case *wamp.Cancel:
		m.Options[optIncarnation] = rt.incarnation
	case *wamp.Result:
		m.Details[optIncarnation] = rt.incarnation
	case *wamp.Error:
		m.Details[optIncarnation] = rt.incarnation
	case *wamp.Publish:
		m.Options[optIncarnation] = rt.incarnation
	}
	data, err := rt.n.codec.Serialize(msg)
	if err != nil {
		return err
	}
	return rt.n.nc.Publish(rpcSubjectPrefix+escapeToken(node), data)
}

// onMessage handles what another node sends this one: calls to relay,
// their cancels, and answers to this node's proxies.
func (rt *rpcRouter) onMessage(m *nats.Msg) {
	msg, err := rt.n.decodeMessage(m.Data)
	if err != nil {
		rt.n.obs.Lost("undecodable")
		rt.log.Warn("cluster: undecodable RPC message", "error", err)
		return
	}
	var opts wamp.Dict
	switch a := msg.(type) {
	case *wamp.Call:
		opts = a.Options
	case *wamp.Cancel:
		opts = a.Options
	case *wamp.Result:
		opts = a.Details
	case *wamp.Error:
		opts = a.Details
	case *wamp.Publish:
		opts = a.Options
	default:
		return
	}
	from, _ := wamp.AsString(opts[optFrom])
	realm, _ := wamp.AsString(opts[optRealm])
	inc := asUint64(opts[optIncarnation])
	proxy, _ := wamp.AsID(opts[optProxy])
	if from == "" || from == rt.n.name {
		return
	}
	p := rt.current(from, inc)
	if p == nil {
		return
	}
	pr := rt.realmOf(p, realm)
	if pr == nil {
		return
	}
	reg, _ := wamp.AsList(opts[optReg])
	caller, _ := wamp.AsList(opts[optCaller])
	for k := range opts {
		if strings.HasPrefix(k, "_sb_") {
			delete(opts, k)
		}
	}
	switch a := msg.(type) {
	case *wamp.Call: // the peer's proxy invokes one of this node's registrations
		if len(reg) != 2 {
			return
		}
		rc := dealer.Relayed{}
		rc.URI, _ = wamp.AsString(reg[0])
		rc.Match, _ = wamp.AsString(reg[1])
		if len(caller) == 3 {
			id, _ := wamp.AsID(caller[0])
			authID, _ := wamp.AsString(caller[1])
			authRole, _ := wamp.AsString(caller[2])
			rc.Caller = &dealer.Caller{Session: id, AuthID: authID, AuthRole: authRole}
		}
		relay := pr.relayFor(proxy)
		pr.mu.Lock()
		if pr.relay == relay {
			pr.relayCalls[a.Request] = struct{}{}
		}
		pr.mu.Unlock()
		relay.Relay(a, rc)
	case *wamp.Cancel:
		pr.mu.Lock()
		relay := pr.relay
		current := pr.relayProxy == proxy
		pr.mu.Unlock()
		if relay != nil && current {
			relay.Handle(a)
		}
	case *wamp.Result: // an answer for this node's proxy
		if proxy == pr.proxy.ID() {
			pr.proxy.Handle(&wamp.Yield{Request: a.Request, Options: opts, Arguments: a.Arguments, ArgumentsKw: a.ArgumentsKw})
		}
	case *wamp.Error:
		if a.Type == wamp.CALL && proxy == pr.proxy.ID() {
			pr.proxy.Handle(&wamp.Error{Type: wamp.INVOCATION, Request: a.Request, Details: opts, Error: a.Error,
				Arguments: a.Arguments, ArgumentsKw: a.ArgumentsKw})
		}
	case *wamp.Publish:
		pr.inFlight(a, proxy)
	}
}

// inFlight handles the in-flight check: a list of the peer's proxy's
// invocations (answered with those this node's relay does not have), or
// the answer, the invocations of this node's proxy the peer does not have
// (they fail).
func (pr *peerRealm) inFlight(m *wamp.Publish, proxy wamp.ID) {
	switch m.Topic {
	case topicInFlight:
		var unknown wamp.List
		pr.mu.Lock()
		for _, v := range m.Arguments {
			id, _ := wamp.AsID(v)
			if _, ok := pr.relayCalls[id]; !ok || pr.relayProxy != proxy {
				unknown = append(unknown, id)
			}
		}
		pr.mu.Unlock()
		if len(unknown) == 0 {
			return
		}
		opts := wamp.Dict{optRealm: pr.realm, optFrom: pr.rpc.n.name, optProxy: proxy}
		if err := pr.rpc.send(pr.peer, &wamp.Publish{Options: opts, Topic: topicUnknown, Arguments: unknown}); err != nil {
			pr.rpc.log.Warn("cluster: the answer to an in-flight check could not be sent", "peer", pr.peer, "error", err)
		}
	case topicUnknown:
		if proxy != pr.proxy.ID() {
			return
		}
		for _, v := range m.Arguments {
			id, _ := wamp.AsID(v)
			pr.rpc.n.obs.Lost("call_lost")
			pr.rpc.log.Error("cluster: a call was lost between the nodes; it fails", "peer", pr.peer, "realm", pr.realm)
			pr.proxy.Handle(&wamp.Error{Type: wamp.INVOCATION, Request: id, Details: wamp.Dict{},
				Error: ErrClusterUnavailable, Arguments: wamp.List{callLostMessage}})
		}
	}
}

// asUint64 reads an unsigned integer as the MessagePack codec decodes
// one (incarnations exceed wamp.ID's 2^53).
func asUint64(v any) uint64 {
	switch n := v.(type) {
	case uint64:
		return n
	case int64:
		if n > 0 {
			return uint64(n)
		}
	case uint32:
		return uint64(n)
	case int:
		if n > 0 {
			return uint64(n)
		}
	}
	return 0
}
