package router

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/broker"
	"github.com/switchboard-wamp/switchboard/cluster"
	"github.com/switchboard-wamp/switchboard/dealer"
	"github.com/switchboard-wamp/switchboard/realms"
)

// clusterMetaProcedures are the session meta procedures a cluster answers
// for every node's sessions (nexus answers each node's own): count, list,
// get (the kill procedures are not enabled in nexus's realms).
var clusterMetaProcedures = map[wamp.URI]bool{
	wamp.MetaProcSessionCount: true, wamp.MetaProcSessionList: true, wamp.MetaProcSessionGet: true,
}

// limitClusterMetaCalls counts the meta calls refused over
// cluster.max_meta_calls: a node answers that many for the whole cluster
// at once (each waits up to a second for the other nodes); one more is
// answered switchboard.error.limit_exceeded at once.
const limitClusterMetaCalls = "cluster_meta_calls"

// killProcedures are the session meta procedures that close sessions
// (realms[].options.enable_meta_kill); in a cluster they reach every node.
var killProcedures = map[wamp.URI]bool{
	wamp.MetaProcSessionKill: true, wamp.MetaProcSessionKillByAuthid: true, wamp.MetaProcSessionKillByAuthrole: true,
}

// killAcrossNodes answers a kill procedure for the cluster: kill closes the
// session on whichever node has it (never the caller's own); by authid or
// authrole closes the matching sessions of every node but the caller's,
// and answers how many it closed.
func (s *Server) killAcrossNodes(ctx context.Context, rs *realmState, caller realms.Subject, m *wamp.Call) wamp.Message {
	fail := func(uri wamp.URI, args wamp.List) wamp.Message {
		return &wamp.Error{Type: wamp.CALL, Request: m.Request, Details: wamp.Dict{}, Error: uri, Arguments: args}
	}
	result := func(args wamp.List) wamp.Message {
		return &wamp.Result{Request: m.Request, Details: wamp.Dict{}, Arguments: args}
	}
	asCallErr := func(err error) wamp.Message {
		var ce *dealer.CallError
		if errors.As(err, &ce) {
			return fail(ce.URI, ce.Args)
		}
		return fail("wamp.error.runtime_error", wamp.List{err.Error()})
	}
	proc := string(m.Procedure)
	if m.Procedure == wamp.MetaProcSessionKill {
		sid, ok := wamp.AsID(first(m.Arguments))
		if !ok || sid == caller.SessionID {
			return fail(wamp.ErrNoSuchSession, wamp.List{"no such session (a session cannot kill itself)"})
		}
		if _, err := rs.callNexus(ctx, string(wamp.MetaProcSessionGet), nil, wamp.List{sid}, nil); err == nil {
			if _, err := rs.callNexus(ctx, proc, nil, m.Arguments, m.ArgumentsKw); err != nil {
				return asCallErr(err)
			}
			return result(nil)
		}
		remote, _, err := s.cluster.Gather(ctx, rs.name, proc, m.Arguments, m.ArgumentsKw)
		if err != nil {
			return fail("switchboard.error.cluster_unavailable", wamp.List{err.Error()})
		}
		if len(remote) == 0 {
			return fail(wamp.ErrNoSuchSession, wamp.List{"no such session on any node"})
		}
		return result(nil)
	}
	// By authid or authrole: this node's sessions but the caller's, then
	// every other node's (the caller is not there).
	value, _ := wamp.AsString(first(m.Arguments))
	local, err := s.killLocalBy(ctx, rs, caller, m, value)
	if err != nil {
		return asCallErr(err)
	}
	remote, _, err := s.cluster.Gather(ctx, rs.name, proc, m.Arguments, m.ArgumentsKw)
	if err != nil {
		return fail("switchboard.error.cluster_unavailable", wamp.List{err.Error()})
	}
	total := int64(local)
	for _, args := range remote {
		n, _ := wamp.AsInt64(first(args))
		total += n
	}
	return result(wamp.List{total})
}

// killLocalBy closes this node's sessions whose authid (or authrole) is
// value, except the caller's, and returns how many. nexus's own procedure
// spares only the session that calls it (here the router's in-process
// one), so a caller whose own authid or authrole matches is handled
// session by session.
func (s *Server) killLocalBy(ctx context.Context, rs *realmState, caller realms.Subject, m *wamp.Call, value string) (int, error) {
	mine := caller.AuthID
	key := "authid"
	if m.Procedure == wamp.MetaProcSessionKillByAuthrole {
		mine, key = caller.Role, "authrole"
	}
	if mine != value {
		res, err := rs.callNexus(ctx, string(m.Procedure), nil, m.Arguments, m.ArgumentsKw)
		if err != nil {
			return 0, err
		}
		n, _ := wamp.AsInt64(first(res.Arguments))
		return int(n), nil
	}
	list, err := rs.callNexus(ctx, string(wamp.MetaProcSessionList), nil, nil, nil)
	if err != nil {
		return 0, err
	}
	ids, _ := wamp.AsList(first(list.Arguments))
	killed := 0
	for _, v := range ids {
		sid, _ := wamp.AsID(v)
		if sid == caller.SessionID {
			continue
		}
		got, err := rs.callNexus(ctx, string(wamp.MetaProcSessionGet), nil, wamp.List{sid}, nil)
		if err != nil {
			continue // gone meanwhile
		}
		d, _ := wamp.AsDict(first(got.Arguments))
		if v, _ := wamp.AsString(d[key]); v != value {
			continue
		}
		if _, err := rs.callNexus(ctx, string(wamp.MetaProcSessionKill), nil, wamp.List{sid}, m.ArgumentsKw); err == nil {
			killed++
		}
	}
	return killed, nil
}

// clusterCalleeMeta are the registration meta procedures a cluster
// answers for every node's callees (the others answer alike on every node
// already: each node mirrors the others' registrations, with the same IDs).
var clusterCalleeMeta = map[wamp.URI]bool{wamp.MetaProcRegListCallees: true, wamp.MetaProcRegCountCallees: true}

// gatherCallees answers list_callees and count_callees with the callees of
// every node (each node's own, not its mirrors of the others').
func (s *Server) gatherCallees(ctx context.Context, rs *realmState, m *wamp.Call,
	result func(wamp.List) wamp.Message, fail func(wamp.URI, wamp.List) wamp.Message) wamp.Message {
	id, ok := wamp.AsID(first(m.Arguments))
	if !ok {
		return fail(wamp.ErrInvalidArgument, wamp.List{"want a registration ID argument"})
	}
	local, found := s.dealer.LocalCallees(rs.name, id)
	remote, _, err := s.cluster.Gather(ctx, rs.name, string(wamp.MetaProcRegListCallees), wamp.List{id}, nil)
	if err != nil {
		return fail("switchboard.error.cluster_unavailable", wamp.List{err.Error()})
	}
	all := append([]wamp.ID{}, local...)
	for _, args := range remote {
		found = true
		all = append(all, idsOf(first(args))...)
	}
	if !found {
		return fail(wamp.ErrNoSuchRegistration, wamp.List{fmt.Sprintf("no registration %d on any node", id)})
	}
	if m.Procedure == wamp.MetaProcRegCountCallees {
		return result(wamp.List{len(all)})
	}
	return result(wamp.List{all})
}

// serveClusterMeta answers other nodes' session meta requests from this
// node's nexus.
func (s *Server) serveClusterMeta(node *cluster.Node) error {
	return node.ServeMeta(func(ctx context.Context, realm, procedure string, args wamp.List, kwargs wamp.Dict) (wamp.List, error) {
		rs := s.realmByName[realm]
		if rs != nil && clusterCalleeMeta[wamp.URI(procedure)] {
			id, _ := wamp.AsID(first(args))
			callees, ok := s.dealer.LocalCallees(realm, id)
			if !ok {
				return nil, &cluster.MetaError{URI: wamp.ErrNoSuchRegistration, Args: wamp.List{"no such registration here"}}
			}
			return wamp.List{callees}, nil
		}
		if rs != nil && broker.ClusterSubscriptionMeta[procedure] {
			args, uri, msg := s.broker.SubscriptionMeta(realm, procedure, args)
			if uri != "" {
				return nil, &cluster.MetaError{URI: uri, Args: wamp.List{msg}}
			}
			return args, nil
		}
		if rs == nil || !clusterMetaProcedures[wamp.URI(procedure)] && !(killProcedures[wamp.URI(procedure)] && rs.def.EnableMetaKill) {
			return nil, &cluster.MetaError{URI: wamp.ErrNoSuchProcedure, Args: wamp.List{"not a cluster meta procedure"}}
		}
		res, err := rs.callNexus(ctx, procedure, nil, args, kwargs)
		var ce *dealer.CallError
		if errors.As(err, &ce) {
			return nil, &cluster.MetaError{URI: ce.URI, Args: ce.Args}
		}
		if err != nil {
			return nil, err
		}
		return res.Arguments, nil
	})
}

// clusterMeta returns the route's handler of wamp.session.count, list and
// get in a cluster: this node's answer (from nexus) and the other nodes',
// combined; nil on a single node.
func (s *Server) clusterMeta(rs *realmState, sub realms.Subject, conn dealer.Conn) func(*wamp.Call) bool {
	node := s.cluster
	if node == nil {
		return nil
	}
	return func(m *wamp.Call) bool {
		if !clusterMetaProcedures[m.Procedure] && !broker.ClusterSubscriptionMeta[string(m.Procedure)] && !clusterCalleeMeta[m.Procedure] &&
			!(killProcedures[m.Procedure] && rs.def.EnableMetaKill) {
			return false
		}
		if _, ok := rs.authz.Permission(sub, string(m.Procedure), realms.ActionCall); !ok {
			conn.Send(&wamp.Error{Type: wamp.CALL, Request: m.Request, Details: wamp.Dict{}, Error: wamp.ErrNotAuthorized,
				Arguments: wamp.List{fmt.Sprintf("role %q may not call %q", sub.Role, m.Procedure)}})
			return true
		}
		// Each answer gathers the other nodes' in a goroutine of its own: at
		// most cluster.max_meta_calls at once per node.
		select {
		case s.metaCalls <- struct{}{}:
		default:
			s.observer.LimitExceeded(rs.name, limitClusterMetaCalls)
			s.log.Warn("cluster meta call refused", "realm", rs.name, "session_id", uint64(sub.SessionID),
				"limit", limitClusterMetaCalls, "max", cap(s.metaCalls))
			conn.Send(&wamp.Error{Type: wamp.CALL, Request: m.Request, Details: wamp.Dict{}, Error: dealer.LimitExceededURI,
				Arguments: wamp.List{fmt.Sprintf("%s limit of %d reached: try again", limitClusterMetaCalls, cap(s.metaCalls))}})
			return true
		}
		go func() {
			defer func() { <-s.metaCalls }()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if killProcedures[m.Procedure] {
				conn.Send(s.killAcrossNodes(ctx, rs, sub, m))
				return
			}
			conn.Send(s.gatherMeta(ctx, rs, m))
		}()
		return true
	}
}

// gatherMeta computes a cluster meta procedure's answer to m: this
// node's, and the others' (get: the node that has the session; count and
// list: all of them together).
func (s *Server) gatherMeta(ctx context.Context, rs *realmState, m *wamp.Call) wamp.Message {
	fail := func(uri wamp.URI, args wamp.List) wamp.Message {
		return &wamp.Error{Type: wamp.CALL, Request: m.Request, Details: wamp.Dict{}, Error: uri, Arguments: args}
	}
	result := func(args wamp.List) wamp.Message {
		return &wamp.Result{Request: m.Request, Details: wamp.Dict{}, Arguments: args}
	}
	if broker.ClusterSubscriptionMeta[string(m.Procedure)] {
		return s.gatherSubscriptionMeta(ctx, rs, m, result, fail)
	}
	if clusterCalleeMeta[m.Procedure] {
		return s.gatherCallees(ctx, rs, m, result, fail)
	}
	oneSession := m.Procedure == wamp.MetaProcSessionGet
	local, err := rs.callNexus(ctx, string(m.Procedure), nil, m.Arguments, m.ArgumentsKw)
	var ce *dealer.CallError
	if err != nil && !(errors.As(err, &ce) && oneSession && ce.URI == wamp.ErrNoSuchSession) {
		if ce != nil {
			return fail(ce.URI, ce.Args)
		}
		return fail("wamp.error.runtime_error", wamp.List{err.Error()})
	}
	if oneSession && local != nil {
		return result(local.Arguments)
	}
	remote, _, err := s.cluster.Gather(ctx, rs.name, string(m.Procedure), m.Arguments, m.ArgumentsKw)
	if err != nil {
		return fail("switchboard.error.cluster_unavailable", wamp.List{err.Error()})
	}
	switch m.Procedure {
	case wamp.MetaProcSessionGet:
		for _, args := range remote {
			return result(args)
		}
		return fail(wamp.ErrNoSuchSession, wamp.List{"no such session on any node"})
	case wamp.MetaProcSessionList:
		ids, _ := wamp.AsList(first(local.Arguments))
		all := append(wamp.List{}, ids...)
		for _, args := range remote {
			more, _ := wamp.AsList(first(args))
			all = append(all, more...)
		}
		return result(wamp.List{all})
	default: // count
		total, _ := wamp.AsInt64(first(local.Arguments))
		for _, args := range remote {
			n, _ := wamp.AsInt64(first(args))
			total += n
		}
		return result(wamp.List{total})
	}
}

// idsOf reads a list of IDs from a node's answer.
func idsOf(v any) []wamp.ID {
	l, _ := wamp.AsList(v)
	out := make([]wamp.ID, 0, len(l))
	for _, x := range l {
		if id, ok := wamp.AsID(x); ok {
			out = append(out, id)
		}
	}
	return out
}

// unionOf joins ID lists, each ID once, in order of first appearance.
func unionOf(lists ...[]wamp.ID) []wamp.ID {
	seen := map[wamp.ID]bool{}
	out := []wamp.ID{}
	for _, l := range lists {
		for _, id := range l {
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	return out
}

func first(l wamp.List) any {
	if len(l) == 0 {
		return nil
	}
	return l[0]
}

// gatherSubscriptionMeta combines the subscription meta answers of every
// node. A subscription has the same ID on every node (broker: stable IDs
// in a cluster), so answers merge by ID: list and match are the union,
// lookup and get the first node that has it, list_subscribers the union
// and count_subscribers the sum over the nodes that have it.
func (s *Server) gatherSubscriptionMeta(ctx context.Context, rs *realmState, m *wamp.Call,
	result func(wamp.List) wamp.Message, fail func(wamp.URI, wamp.List) wamp.Message) wamp.Message {
	proc := string(m.Procedure)
	var answers []wamp.List
	var lastErr *cluster.MetaError
	if args, uri, msg := s.broker.SubscriptionMeta(rs.name, proc, m.Arguments); uri == "" {
		answers = append(answers, args)
	} else {
		lastErr = &cluster.MetaError{URI: uri, Args: wamp.List{msg}}
	}
	if lastErr != nil && lastErr.URI != wamp.ErrNoSuchSubscription {
		return fail(lastErr.URI, lastErr.Args) // a bad argument: every node would say so
	}
	remote, errs, err := s.cluster.Gather(ctx, rs.name, proc, m.Arguments, m.ArgumentsKw)
	if err != nil {
		return fail("switchboard.error.cluster_unavailable", wamp.List{err.Error()})
	}
	answers = append(answers, remote...)
	if len(answers) == 0 {
		if len(errs) > 0 {
			lastErr = errs[0]
		}
		return fail(lastErr.URI, lastErr.Args)
	}
	switch proc { // nexus's constant for count_subscribers is misspelt
	case "wamp.subscription.list":
		all := map[string][]wamp.ID{}
		for _, args := range answers {
			d, _ := wamp.AsDict(first(args))
			for _, kind := range []string{"exact", "prefix", "wildcard"} {
				all[kind] = unionOf(all[kind], idsOf(d[kind]))
			}
		}
		return result(wamp.List{wamp.Dict{"exact": all["exact"], "prefix": all["prefix"], "wildcard": all["wildcard"]}})
	case "wamp.subscription.match":
		var all []wamp.ID
		for _, args := range answers {
			all = unionOf(all, idsOf(first(args)))
		}
		if len(all) == 0 {
			return result(wamp.List{nil})
		}
		return result(wamp.List{all})
	case "wamp.subscription.list_subscribers":
		var all []wamp.ID
		for _, args := range answers {
			all = unionOf(all, idsOf(first(args)))
		}
		return result(wamp.List{all})
	case "wamp.subscription.count_subscribers":
		var total int64
		for _, args := range answers {
			n, _ := wamp.AsInt64(first(args))
			total += n
		}
		return result(wamp.List{total})
	default: // lookup, get: the first node that has it
		for _, args := range answers {
			if first(args) != nil {
				return result(args)
			}
		}
		return result(answers[0])
	}
}
