package dealer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/gammazero/nexus/v3/wamp"
)

// Local is an in-process session of the dealer: the HTTP bridge's callers
// and HTTP callees, the router's caller for dynamic authenticators and
// authorizers. It is trusted (see SessionInfo.Trusted): whoever holds it
// decides what it may do.
type Local struct {
	s *Session

	nextRequest atomic.Uint64
	passthrough Passthrough

	mu       sync.Mutex
	closed   bool
	replies  map[wamp.ID]chan wamp.Message // pending CALLs and REGISTERs by request
	handlers map[wamp.ID]Handler           // by registration ID
	// registering holds the handlers of REGISTERs not yet answered, by
	// request: REGISTERED installs them before any INVOCATION can come.
	registering map[wamp.ID]Handler
	running     map[wamp.ID]context.CancelFunc
}

// Passthrough calls a procedure the dealer leaves to nexus (the session
// meta API, wamp.session.*) for an in-process session.
type Passthrough func(ctx context.Context, procedure string, options wamp.Dict, args wamp.List, kwargs wamp.Dict) (*wamp.Result, error)

// Handler answers an invocation of an in-process callee; a non-nil
// *CallError is sent as the invocation's ERROR. ctx ends when the call is
// cancelled or times out.
type Handler func(ctx context.Context, inv *wamp.Invocation) (wamp.List, wamp.Dict, *CallError)

// CallError is a call's ERROR as an in-process session sees it.
type CallError struct {
	URI    wamp.URI
	Args   wamp.List
	Kwargs wamp.Dict
}

func (e *CallError) Error() string {
	if len(e.Args) > 0 {
		return fmt.Sprintf("%s: %v", e.URI, e.Args[0])
	}
	return string(e.URI)
}

// ErrClosed is returned by a Local that has been closed.
var ErrClosed = errors.New("dealer: in-process session closed")

// JoinLocal joins an in-process session to realm; its ID is generated,
// and authID and authRole are what callees see when it discloses itself.
// passthrough (may be nil) answers the procedures nexus keeps. Its
// handlers never get receive_progress and may be interrupted.
func (d *Dealer) JoinLocal(realm, authID, authRole string, passthrough Passthrough) (*Local, error) {
	l := &Local{passthrough: passthrough, replies: map[wamp.ID]chan wamp.Message{}, handlers: map[wamp.ID]Handler{}, registering: map[wamp.ID]Handler{}, running: map[wamp.ID]context.CancelFunc{}}
	s := d.Join(localConn{l}, realm, SessionInfo{
		ID: wamp.GlobalID(), AuthID: authID, AuthRole: authRole, Trusted: true,
		Callee: Features{CallCanceling: true},
	})
	if s == nil {
		return nil, fmt.Errorf("dealer: realm %q is not configured", realm)
	}
	l.s = s
	return l, nil
}

// ID returns the session's ID.
func (l *Local) ID() wamp.ID { return l.s.info.ID }

// Call calls procedure and waits for its result, an ERROR (*CallError) or
// the end of ctx (which cancels the call, mode killnowait, and returns
// ctx's error).
func (l *Local) Call(ctx context.Context, procedure string, options wamp.Dict, args wamp.List, kwargs wamp.Dict) (*wamp.Result, error) {
	req, reply, err := l.expect()
	if err != nil {
		return nil, err
	}
	if options == nil {
		options = wamp.Dict{}
	}
	if !l.s.Handle(&wamp.Call{Request: req, Options: options, Procedure: wamp.URI(procedure), Arguments: args, ArgumentsKw: kwargs}) {
		l.forget(req)
		if l.passthrough == nil {
			return nil, &CallError{URI: wamp.ErrNoSuchProcedure, Args: wamp.List{"no procedure " + procedure}}
		}
		return l.passthrough(ctx, procedure, options, args, kwargs)
	}
	select {
	case msg := <-reply:
		return callAnswer(msg)
	case <-ctx.Done():
		l.forget(req)
		l.s.Handle(&wamp.Cancel{Request: req, Options: wamp.Dict{wamp.OptMode: wamp.CancelModeKillNoWait}})
		return nil, ctx.Err()
	}
}

func callAnswer(msg wamp.Message) (*wamp.Result, error) {
	switch m := msg.(type) {
	case *wamp.Result:
		return m, nil
	case *wamp.Error:
		return nil, &CallError{URI: m.Error, Args: m.Arguments, Kwargs: m.ArgumentsKw}
	case nil:
		return nil, ErrClosed
	}
	return nil, fmt.Errorf("dealer: unexpected answer %s", msg.MessageType())
}

// Register registers procedure (options as in REGISTER: match, invoke,
// disclose_caller) to be answered by h.
func (l *Local) Register(procedure string, options wamp.Dict, h Handler) (wamp.ID, error) {
	req, reply, err := l.expect()
	if err != nil {
		return 0, err
	}
	if options == nil {
		options = wamp.Dict{}
	}
	l.mu.Lock()
	l.registering[req] = h
	l.mu.Unlock()
	l.s.Handle(&wamp.Register{Request: req, Options: options, Procedure: wamp.URI(procedure)})
	l.mu.Lock()
	delete(l.registering, req)
	l.mu.Unlock()
	switch m := (<-reply).(type) { // the dealer answers REGISTER before Handle returns
	case *wamp.Registered:
		return m.Registration, nil
	case *wamp.Error:
		return 0, &CallError{URI: m.Error, Args: m.Arguments, Kwargs: m.ArgumentsKw}
	default:
		return 0, ErrClosed
	}
}

// Unregister removes a registration made by Register.
func (l *Local) Unregister(registration wamp.ID) error {
	req, reply, err := l.expect()
	if err != nil {
		return err
	}
	l.s.Handle(&wamp.Unregister{Request: req, Registration: registration})
	switch m := (<-reply).(type) { // the dealer answers UNREGISTER before Handle returns
	case *wamp.Unregistered:
		l.mu.Lock()
		delete(l.handlers, registration)
		l.mu.Unlock()
		return nil
	case *wamp.Error:
		return &CallError{URI: m.Error, Args: m.Arguments, Kwargs: m.ArgumentsKw}
	default:
		return ErrClosed
	}
}

// Close ends the session: its registrations go, its calls end.
func (l *Local) Close() {
	l.mu.Lock()
	l.closed = true
	for req, ch := range l.replies {
		close(ch)
		delete(l.replies, req)
	}
	for _, cancel := range l.running {
		cancel()
	}
	l.mu.Unlock()
	l.s.Leave()
}

// expect allocates a request ID and the channel its one answer arrives on.
func (l *Local) expect() (wamp.ID, chan wamp.Message, error) {
	req := wamp.ID(l.nextRequest.Add(1))
	ch := make(chan wamp.Message, 1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, nil, ErrClosed
	}
	l.replies[req] = ch
	return req, ch, nil
}

func (l *Local) forget(req wamp.ID) {
	l.mu.Lock()
	delete(l.replies, req)
	l.mu.Unlock()
}

// deliver hands a final answer to the request waiting for it.
func (l *Local) deliver(req wamp.ID, msg wamp.Message) {
	l.mu.Lock()
	ch, ok := l.replies[req]
	delete(l.replies, req)
	l.mu.Unlock()
	if ok {
		ch <- msg // buffered for its one answer
	}
}

// invoke runs the handler of an invocation in its own goroutine.
func (l *Local) invoke(inv *wamp.Invocation) {
	l.mu.Lock()
	h := l.handlers[inv.Registration]
	if l.closed || h == nil {
		l.mu.Unlock()
		go l.s.Handle(&wamp.Error{Type: wamp.INVOCATION, Request: inv.Request, Details: wamp.Dict{}, Error: wamp.ErrNoSuchProcedure})
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.running[inv.Request] = cancel
	l.mu.Unlock()
	go func() {
		args, kwargs, callErr := h(ctx, inv)
		l.mu.Lock()
		delete(l.running, inv.Request)
		l.mu.Unlock()
		cancel()
		if callErr != nil {
			l.s.Handle(&wamp.Error{Type: wamp.INVOCATION, Request: inv.Request, Details: wamp.Dict{}, Error: callErr.URI,
				Arguments: callErr.Args, ArgumentsKw: callErr.Kwargs})
			return
		}
		l.s.Handle(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{}, Arguments: args, ArgumentsKw: kwargs})
	}()
}

func (l *Local) interrupt(request wamp.ID) {
	l.mu.Lock()
	cancel := l.running[request]
	l.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// localConn is what the dealer sends an in-process session; it never
// blocks and never calls back into the dealer on the sending goroutine.
type localConn struct{ l *Local }

func (c localConn) Send(msg wamp.Message) bool {
	switch m := msg.(type) {
	case *wamp.Result:
		if progress, _ := m.Details[wamp.OptProgress].(bool); !progress {
			c.l.deliver(m.Request, m)
		}
	case *wamp.Error:
		c.l.deliver(m.Request, m)
	case *wamp.Unregistered:
		c.l.deliver(m.Request, m)
	case *wamp.Registered:
		c.l.mu.Lock()
		if h := c.l.registering[m.Request]; h != nil {
			c.l.handlers[m.Registration] = h
		}
		c.l.mu.Unlock()
		c.l.deliver(m.Request, m)
	case *wamp.Invocation:
		c.l.invoke(m)
	case *wamp.Interrupt:
		c.l.interrupt(m.Request)
	}
	return true
}
