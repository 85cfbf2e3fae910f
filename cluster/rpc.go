package cluster

import (
	"errors"
	"fmt"
	"log/slog"
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

// Subjects of the RPC traffic.
const (
	regsSubject      = subjectPrefix + ".rpc.regs"  // snapshots of a node's registrations
	rpcSubjectPrefix = subjectPrefix + ".rpc.node." // + the escaped node name: calls and answers for it
)

// maxMirroredPerRealm bounds the registrations mirrored from one node in
// one realm (a snapshot must also fit in a NATS message).
const maxMirroredPerRealm = 10000

// Keys of the cluster's own options in the RPC messages.
const (
	optFrom        = "_sb_from"   // the sending node
	optReg         = "_sb_reg"    // [uri, match] of the registration chosen
	optCaller      = "_sb_caller" // [session, authid, authrole] if disclosed
	optIncarnation = "_sb_inc"    // the sending node's incarnation
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
	n      *Node
	d      *dealer.Dealer
	realms []string
	log    *slog.Logger

	wake chan struct{} // this node's registrations changed
	// incarnation tells this run of the node from an earlier one of the
	// same name: a peer that restarted is a new peer (its calls in
	// flight, numbered from 1 again, are not the old ones).
	incarnation uint64

	mu    sync.Mutex
	peers map[string]*peer
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
	relay       *dealer.Session

	mu      sync.Mutex
	nextReq wamp.ID
	reply   wamp.Message        // the proxy's answer to the REGISTER or UNREGISTER in progress
	regs    map[regKey]wamp.ID  // mirrored: key -> the proxy's registration ID
	keys    map[wamp.ID]regKey  // the proxy's registration ID -> key
	refused map[regKey]struct{} // conflicts already logged
}

type regKey struct{ uri, match, policy string }

// StartRPC routes calls between this node's dealer and the other nodes'
// for the given realms.
func (n *Node) StartRPC(d *dealer.Dealer, realms []string) error {
	rt := &rpcRouter{n: n, d: d, realms: realms, log: n.log, wake: make(chan struct{}, 1), peers: map[string]*peer{},
		incarnation: uint64(wamp.GlobalID())}
	if _, err := n.nc.Subscribe(regsSubject, rt.onSnapshot); err != nil {
		return fmt.Errorf("cluster: subscribe to registrations: %w", err)
	}
	if _, err := n.nc.Subscribe(rpcSubjectPrefix+escapeToken(n.name), rt.onMessage); err != nil {
		return fmt.Errorf("cluster: subscribe to calls: %w", err)
	}
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
		}
	}
}

func (rt *rpcRouter) sendSnapshot() {
	byRealm := map[string]any{}
	for _, realm := range rt.realms {
		var list []any
		for _, reg := range rt.d.LocalRegistrations(realm) {
			list = append(list, []any{reg.URI, reg.Match, reg.Policy})
		}
		if len(list) > 0 {
			byRealm[realm] = list
		}
	}
	data, err := rt.n.codec.SerializeDataItem(map[string]any{"node": rt.n.name, "incarnation": rt.incarnation, "realms": byRealm})
	if err == nil {
		err = rt.n.nc.Publish(regsSubject, data)
	}
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		rt.n.obs.Lost("registrations_not_sent")
		rt.log.Warn("cluster: this node's registrations could not be announced", "error", err)
	}
}

// sayGoodbye tells the other nodes that this one leaves, and waits (a
// moment at most) until NATS has it.
func (rt *rpcRouter) sayGoodbye() {
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

// forget lets go of a peer at once (it left, or restarted).
func (rt *rpcRouter) forget(name string) {
	rt.mu.Lock()
	p := rt.peers[name]
	delete(rt.peers, name)
	rt.mu.Unlock()
	if p != nil {
		rt.leave(p)
		rt.reportMirrored()
	}
}

// expire lets go the peers not heard from for nodeExpiry.
func (rt *rpcRouter) expire() {
	var gone []*peer
	rt.mu.Lock()
	for name, p := range rt.peers {
		if time.Since(p.seen) > nodeExpiry {
			delete(rt.peers, name)
			gone = append(gone, p)
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

func (rt *rpcRouter) leave(p *peer) {
	for _, pr := range p.realms {
		pr.proxy.Leave()
		pr.relay.Leave()
	}
}

// peerRealm returns the state for peer and realm, creating it (and the
// peer) if needed; nil for a realm this node does not serve.
func (rt *rpcRouter) peerRealm(name string, incarnation uint64, realm string, heard bool) *peerRealm {
	rt.mu.Lock()
	p := rt.peers[name]
	if p != nil && incarnation != 0 && p.incarnation != incarnation {
		// The peer restarted: what was in flight with its earlier run ends.
		delete(rt.peers, name)
		rt.mu.Unlock()
		rt.log.Info("cluster: a node restarted; its earlier registrations and relayed calls end", "peer", name)
		rt.leave(p)
		rt.mu.Lock()
		p = rt.peers[name]
	}
	defer rt.mu.Unlock()
	if p == nil {
		p = &peer{name: name, incarnation: incarnation, seen: time.Now(), realms: map[string]*peerRealm{}}
		rt.peers[name] = p
		select { // a new node: tell it about this one at once
		case rt.wake <- struct{}{}:
		default:
		}
	}
	if heard {
		p.seen = time.Now()
	}
	if realm == "" {
		return nil
	}
	pr := p.realms[realm]
	if pr != nil {
		return pr
	}
	pr = &peerRealm{rpc: rt, peer: name, realm: realm, regs: map[regKey]wamp.ID{}, keys: map[wamp.ID]regKey{},
		refused: map[regKey]struct{}{}}
	features := dealer.Features{ProgressiveCallResults: true, CallCanceling: true, CallTimeout: true, PayloadPassthru: true}
	pr.proxy = rt.d.Join(proxyConn{pr}, realm, dealer.SessionInfo{ID: wamp.GlobalID(), AuthID: "node:" + name,
		AuthRole: "cluster", Callee: features, Trusted: true, Remote: true})
	pr.relay = rt.d.Join(relayConn{pr}, realm, dealer.SessionInfo{ID: wamp.GlobalID(), AuthID: "node:" + name,
		AuthRole: "cluster", Caller: dealer.Features{ProgressiveCallResults: true}, Trusted: true, Remote: true})
	if pr.proxy == nil || pr.relay == nil {
		return nil // not a realm of this node's dealer
	}
	p.realms[realm] = pr
	return pr
}

// onSnapshot mirrors another node's registrations.
func (rt *rpcRouter) onSnapshot(m *nats.Msg) {
	var v any
	if err := rt.n.codec.DeserializeDataItem(m.Data, &v); err != nil {
		rt.n.obs.Lost("undecodable")
		return
	}
	snap, _ := wamp.AsDict(v)
	name, _ := wamp.AsString(snap["node"])
	if name == "" || name == rt.n.name {
		return
	}
	incarnation, _ := wamp.AsID(snap["incarnation"])
	if leaving, _ := snap["leaving"].(bool); leaving {
		rt.log.Info("cluster: a node left; its registrations and relayed calls end", "peer", name)
		rt.forget(name)
		return
	}
	byRealm, _ := wamp.AsDict(snap["realms"])
	rt.peerRealm(name, uint64(incarnation), "", true)
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
		p := rt.peers[name]
		var pr *peerRealm
		if p != nil {
			pr = p.realms[realm]
		}
		rt.mu.Unlock()
		if pr == nil && len(want) == 0 {
			continue
		}
		if pr == nil {
			if pr = rt.peerRealm(name, uint64(incarnation), realm, true); pr == nil {
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
		key := pr.keys[id]
		delete(pr.keys, id)
		delete(pr.regs, key)
		pr.nextReq++
		req := pr.nextReq
		pr.mu.Unlock()
		pr.proxy.Handle(&wamp.Unregister{Request: req, Registration: id})
	}
	for _, key := range missing {
		pr.mu.Lock()
		pr.nextReq++
		req := pr.nextReq
		pr.reply = nil
		pr.mu.Unlock()
		pr.proxy.Handle(&wamp.Register{Request: req, Procedure: wamp.URI(key.uri),
			Options: wamp.Dict{wamp.OptMatch: key.match, wamp.OptInvoke: key.policy}})
		pr.mu.Lock()
		reply := pr.reply
		pr.reply = nil
		switch a := reply.(type) {
		case *wamp.Registered:
			pr.regs[key] = a.Registration
			pr.keys[a.Registration] = key
			delete(pr.refused, key)
		case *wamp.Error:
			_, logged := pr.refused[key]
			pr.refused[key] = struct{}{}
			pr.mu.Unlock()
			if !logged {
				pr.rpc.log.Warn("cluster: a registration of another node conflicts with this node's; calls here go to this node's",
					"peer", pr.peer, "realm", pr.realm, "procedure", key.uri, "match", key.match, "invoke", key.policy,
					"error", string(a.Error))
			}
			continue
		}
		pr.mu.Unlock()
	}
}

// proxyConn is the Conn of a proxy: its REGISTER answers are kept for
// reconcile; INVOCATION and INTERRUPT go to the peer.
type proxyConn struct{ pr *peerRealm }

func (c proxyConn) Send(msg wamp.Message) bool {
	pr := c.pr
	switch m := msg.(type) {
	case *wamp.Registered, *wamp.Unregistered:
		pr.mu.Lock()
		pr.reply = msg
		pr.mu.Unlock()
	case *wamp.Error:
		if m.Type == wamp.REGISTER {
			pr.mu.Lock()
			pr.reply = msg
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
		opts := wamp.Dict{optRealm: pr.realm, optFrom: pr.rpc.n.name, optReg: wamp.List{key.uri, key.match}}
		for _, k := range []string{wamp.OptReceiveProgress, wamp.OptTimeout, wamp.OptPPTScheme, wamp.OptPPTSerializer,
			wamp.OptPPTCipher, wamp.OptPPTKeyId} {
			if v, ok := m.Details[k]; ok {
				opts[k] = v
			}
		}
		if id, ok := m.Details["caller"]; ok {
			opts[optCaller] = wamp.List{id, m.Details["caller_authid"], m.Details["caller_authrole"]}
		}
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
		if err := pr.rpc.send(pr.peer, &wamp.Cancel{Request: m.Request,
			Options: wamp.Dict{optRealm: pr.realm, optFrom: pr.rpc.n.name, wamp.OptMode: mode}}); err != nil {
			pr.rpc.log.Warn("cluster: an INTERRUPT could not reach the callee's node", "peer", pr.peer, "error", err)
		}
	}
	return true
}

// failInvocation answers an INVOCATION of the proxy with an ERROR, later:
// the dealer sends INVOCATIONs under its locks.
func (pr *peerRealm) failInvocation(request wamp.ID, why string) {
	pr.rpc.n.obs.Lost("call_not_sent")
	go pr.proxy.Handle(&wamp.Error{Type: wamp.INVOCATION, Request: request, Details: wamp.Dict{},
		Error: ErrClusterUnavailable, Arguments: wamp.List{why}})
}

// relayConn is the Conn of a relay: the answers to the calls it relayed
// go back to the caller's node.
type relayConn struct{ pr *peerRealm }

func (c relayConn) Send(msg wamp.Message) bool {
	pr := c.pr
	var out wamp.Message
	switch m := msg.(type) {
	case *wamp.Result:
		details := wamp.Dict{optRealm: pr.realm, optFrom: pr.rpc.n.name}
		for k, v := range m.Details {
			details[k] = v
		}
		out = &wamp.Result{Request: m.Request, Details: details, Arguments: m.Arguments, ArgumentsKw: m.ArgumentsKw}
	case *wamp.Error:
		details := wamp.Dict{optRealm: pr.realm, optFrom: pr.rpc.n.name}
		for k, v := range m.Details {
			details[k] = v
		}
		out = &wamp.Error{Type: m.Type, Request: m.Request, Details: details, Error: m.Error,
			Arguments: m.Arguments, ArgumentsKw: m.ArgumentsKw}
	default:
		return true
	}
	if err := pr.rpc.send(pr.peer, out); err != nil {
		pr.rpc.n.obs.Lost("answer_not_sent")
		pr.rpc.log.Error("cluster: the answer to a call from another node could not be sent; the caller waits for its timeout",
			"peer", pr.peer, "realm", pr.realm, "error", err)
	}
	return true
}

// send publishes msg to node's RPC subject.
func (rt *rpcRouter) send(node string, msg wamp.Message) error {
	if !rt.n.nc.IsConnected() {
		return errors.New("not connected to NATS")
	}
	switch m := msg.(type) { // every message says which run of this node sent it
	case *wamp.Call:
		m.Options[optIncarnation] = rt.incarnation
	case *wamp.Cancel:
		m.Options[optIncarnation] = rt.incarnation
	case *wamp.Result:
		m.Details[optIncarnation] = rt.incarnation
	case *wamp.Error:
		m.Details[optIncarnation] = rt.incarnation
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
	msg, err := rt.n.codec.Deserialize(m.Data)
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
	default:
		return
	}
	from, _ := wamp.AsString(opts[optFrom])
	realm, _ := wamp.AsString(opts[optRealm])
	incarnation, _ := wamp.AsID(opts[optIncarnation])
	if from == "" || from == rt.n.name {
		return
	}
	pr := rt.peerRealm(from, uint64(incarnation), realm, false)
	if pr == nil {
		return
	}
	delete(opts, optFrom)
	delete(opts, optRealm)
	delete(opts, optIncarnation)
	switch a := msg.(type) {
	case *wamp.Call:
		reg, _ := wamp.AsList(opts[optReg])
		if len(reg) != 2 {
			return
		}
		rc := dealer.Relayed{}
		rc.URI, _ = wamp.AsString(reg[0])
		rc.Match, _ = wamp.AsString(reg[1])
		if c, ok := wamp.AsList(opts[optCaller]); ok && len(c) == 3 {
			id, _ := wamp.AsID(c[0])
			authID, _ := wamp.AsString(c[1])
			authRole, _ := wamp.AsString(c[2])
			rc.Caller = &dealer.Caller{Session: id, AuthID: authID, AuthRole: authRole}
		}
		delete(opts, optReg)
		delete(opts, optCaller)
		pr.relay.Relay(a, rc)
	case *wamp.Cancel:
		pr.relay.Handle(a)
	case *wamp.Result:
		pr.proxy.Handle(&wamp.Yield{Request: a.Request, Options: opts, Arguments: a.Arguments, ArgumentsKw: a.ArgumentsKw})
	case *wamp.Error:
		if a.Type != wamp.CALL {
			return
		}
		pr.proxy.Handle(&wamp.Error{Type: wamp.INVOCATION, Request: a.Request, Details: opts, Error: a.Error,
			Arguments: a.Arguments, ArgumentsKw: a.ArgumentsKw})
	}
}
