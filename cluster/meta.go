package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
	"github.com/nats-io/nats.go"
)

// Subjects of the nodes' own traffic.
const (
	nodesSubject = subjectPrefix + ".nodes" // heartbeats: a node's name
	metaSubject  = subjectPrefix + ".meta"  // meta procedure requests to every node
)

// heartbeatEvery is how often a node announces itself; a node not heard
// from for nodeExpiry is no longer counted (the bound within which a dead
// node stops being waited for).
const (
	heartbeatEvery = time.Second
	nodeExpiry     = 3 * heartbeatEvery
)

// MetaHandler answers a meta procedure for this node's own sessions.
type MetaHandler func(ctx context.Context, realm, procedure string, args wamp.List, kwargs wamp.Dict) (wamp.List, error)

// membership tracks the other nodes by their heartbeats.
type membership struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func (m *membership) heard(name string) {
	m.mu.Lock()
	m.seen[name] = time.Now()
	m.mu.Unlock()
}

// heardWithin reports whether name's heartbeat came within d.
func (m *membership) heardWithin(name string, d time.Duration) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	at, ok := m.seen[name]
	return ok && time.Since(at) <= d
}

// others returns how many other nodes were heard from recently.
func (m *membership) others() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for name, at := range m.seen {
		if time.Since(at) > nodeExpiry {
			delete(m.seen, name)
			continue
		}
		n++
	}
	return n
}

// startMembership announces this node and listens to the others.
func (n *Node) startMembership() error {
	n.members = &membership{seen: map[string]time.Time{}}
	if _, err := n.nc.Subscribe(nodesSubject, func(m *nats.Msg) {
		if name := string(m.Data); name != "" && name != n.name {
			n.members.heard(name)
			n.reportNodes()
		}
	}); err != nil {
		return fmt.Errorf("cluster: subscribe to heartbeats: %w", err)
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		t := time.NewTicker(heartbeatEvery)
		defer t.Stop()
		for {
			_ = n.nc.Publish(nodesSubject, []byte(n.name))
			n.reportNodes() // also when a node is no longer heard
			select {
			case <-n.done:
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

// Nodes returns how many other nodes this node hears from.
func (n *Node) Nodes() int { return n.members.others() }

// NodesObserver is told how many other nodes a node hears from (the
// Node's Observer implements it if it can).
type NodesObserver interface {
	Nodes(n int)
}

func (n *Node) reportNodes() {
	if o, ok := n.obs.(NodesObserver); ok {
		o.Nodes(n.members.others())
	}
}

// ServeMeta answers other nodes' meta procedure requests with h.
func (n *Node) ServeMeta(h MetaHandler) error {
	_, err := n.nc.Subscribe(metaSubject, func(m *nats.Msg) {
		msg, err := n.decodeMessage(m.Data)
		call, ok := msg.(*wamp.Call)
		if err != nil || !ok || m.Reply == "" {
			n.log.Warn("cluster: undecodable meta request", "error", err)
			return
		}
		realm, _ := wamp.AsString(call.Options[optRealm])
		ctx, cancel := context.WithTimeout(context.Background(), metaTimeout)
		defer cancel()
		var answer wamp.Message
		args, err := h(ctx, realm, string(call.Procedure), call.Arguments, call.ArgumentsKw)
		var ce *MetaError
		switch {
		case errors.As(err, &ce):
			answer = &wamp.Error{Type: wamp.CALL, Details: wamp.Dict{}, Error: ce.URI, Arguments: ce.Args}
		case err != nil:
			answer = &wamp.Error{Type: wamp.CALL, Details: wamp.Dict{}, Error: "wamp.error.runtime_error", Arguments: wamp.List{err.Error()}}
		default:
			answer = &wamp.Result{Details: wamp.Dict{optNode: n.name}, Arguments: args}
		}
		data, err := n.codec.Serialize(answer)
		if err == nil {
			err = m.Respond(data)
		}
		if err != nil {
			n.log.Warn("cluster: meta answer not sent", "error", err)
		}
	})
	if err != nil {
		return fmt.Errorf("cluster: serve meta requests: %w", err)
	}
	return nil
}

// MetaError is a meta procedure's ERROR as a node answers it.
type MetaError struct {
	URI  wamp.URI
	Args wamp.List
}

func (e *MetaError) Error() string { return fmt.Sprintf("%s %v", e.URI, e.Args) }

// metaTimeout bounds a gathering of the other nodes' answers.
const metaTimeout = time.Second

const optNode = "_sb_node"

// Gather asks every other node to answer procedure in realm for its own
// sessions, and returns the answers (RESULT arguments) and errors that
// arrived from the nodes it hears from, within metaTimeout.
func (n *Node) Gather(ctx context.Context, realm, procedure string, args wamp.List, kwargs wamp.Dict) ([]wamp.List, []*MetaError, error) {
	want := n.members.others()
	if want == 0 {
		return nil, nil, nil
	}
	data, err := n.codec.Serialize(&wamp.Call{Request: 1, Options: wamp.Dict{optRealm: realm}, Procedure: wamp.URI(procedure),
		Arguments: args, ArgumentsKw: kwargs})
	if err != nil {
		return nil, nil, err
	}
	inbox := n.nc.NewRespInbox()
	replies := make(chan *nats.Msg, want+8)
	sub, err := n.nc.ChanSubscribe(inbox, replies)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: gather: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := n.nc.PublishRequest(metaSubject, inbox, data); err != nil {
		return nil, nil, fmt.Errorf("cluster: gather: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, metaTimeout)
	defer cancel()
	var results []wamp.List
	var errs []*MetaError
	for len(results)+len(errs) < want {
		select {
		case m := <-replies:
			msg, err := n.decodeMessage(m.Data)
			if err != nil {
				continue
			}
			switch a := msg.(type) {
			case *wamp.Result:
				results = append(results, a.Arguments)
			case *wamp.Error:
				errs = append(errs, &MetaError{URI: a.Error, Args: a.Arguments})
			}
		case <-ctx.Done():
			n.log.Warn("cluster: a node did not answer a meta request in time", "procedure", procedure, "answers", len(results)+len(errs), "nodes", want)
			return results, errs, nil
		}
	}
	return results, errs, nil
}
