package router_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"reflect"
	"sync"
	"testing"
	"time"

	nxtransport "github.com/gammazero/nexus/v3/transport"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// wire is a WAMP session spoken message by message over a real socket,
// framed and encoded by nexus's client transport peers, for the dealer
// tests that need what a client library hides: request IDs, pipelined
// CALLs, a callee that does not announce a feature, a late YIELD, every
// message in order. A wire is used by one goroutine at a time.
type wire struct {
	t       testing.TB
	peer    wamp.Peer
	id      wamp.ID
	details wamp.Dict // WELCOME.Details
	nextReq wamp.ID
	// inbox has the messages read from the socket, in order; it is closed
	// when the connection ends.
	inbox chan wamp.Message
	close func()
}

// wireHello is what a wire announces in its HELLO.
type wireHello struct {
	realm          string   // default routertest.Realm
	authid, ticket string   // ticket authentication when ticket is set
	caller, callee []string // the features announced for each role
}

// features is a role's features dict announcing each of names.
func features(names ...string) wamp.Dict {
	f := wamp.Dict{}
	for _, n := range names {
		f[n] = true
	}
	return f
}

// dialWire joins a session on listener l of srv with serializer ser and
// closes it when the test ends.
func dialWire(t testing.TB, srv *routertest.Server, l int, ser string, h wireHello) *wire {
	t.Helper()
	w, err := dialWireErr(srv, l, ser, h)
	if err != nil {
		t.Fatalf("wire %s (%s): %v", srv.URL(l), ser, err)
	}
	w.t = t
	t.Cleanup(w.close)
	return w
}

// dialWireErr is dialWire without the test (for goroutines): the caller
// closes the wire.
func dialWireErr(srv *routertest.Server, l int, ser string, h wireHello) (*wire, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	logger := log.New(io.Discard, "", 0)
	var peer wamp.Peer
	var err error
	if srv.Config.Listeners[l].WebSocket != nil {
		peer, err = nxtransport.ConnectWebsocketPeer(ctx, srv.URL(l), routertest.Serialization(ser), nil, logger, nil)
	} else {
		peer, err = nxtransport.ConnectRawSocketPeer(ctx, "tcp", srv.Addr(l).String(), routertest.Serialization(ser), nil, logger, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	var once sync.Once
	done := make(chan struct{})
	w := &wire{peer: peer, inbox: make(chan wamp.Message, 256), close: func() {
		once.Do(func() {
			close(done)
			peer.Close()
		})
	}}
	go func() {
		defer close(w.inbox)
		for msg := range peer.Recv() {
			select {
			case w.inbox <- msg:
			case <-done:
				return
			}
		}
	}()
	realm := h.realm
	if realm == "" {
		realm = routertest.Realm
	}
	details := wamp.Dict{"roles": wamp.Dict{
		"caller":     wamp.Dict{"features": features(h.caller...)},
		"callee":     wamp.Dict{"features": features(h.callee...)},
		"publisher":  wamp.Dict{},
		"subscriber": wamp.Dict{},
	}}
	if h.ticket != "" {
		details["authid"] = h.authid
		details["authmethods"] = wamp.List{"ticket"}
	}
	if err := w.sendErr(&wamp.Hello{Realm: wamp.URI(realm), Details: details}); err != nil {
		w.close()
		return nil, err
	}
	msg, err := w.recvWithin(5 * time.Second)
	if err == nil && h.ticket != "" {
		if _, ok := msg.(*wamp.Challenge); !ok {
			err = fmt.Errorf("got %s, want CHALLENGE", msg.MessageType())
		} else if err = w.sendErr(&wamp.Authenticate{Signature: h.ticket, Extra: wamp.Dict{}}); err == nil {
			msg, err = w.recvWithin(5 * time.Second)
		}
	}
	if err == nil {
		if welcome, ok := msg.(*wamp.Welcome); ok {
			w.id, w.details = welcome.ID, welcome.Details
			return w, nil
		}
		err = fmt.Errorf("got %v, want WELCOME", msg)
	}
	w.close()
	return nil, fmt.Errorf("join: %w", err)
}

var errWireClosed = errors.New("the router closed the connection")

// sendErr queues msg for the socket.
func (w *wire) sendErr(msg wamp.Message) error {
	select {
	case w.peer.Send() <- msg:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("cannot send %s within 5s", msg.MessageType())
	}
}

// recvWithin returns the next message, or an error after d or when the
// connection ends.
func (w *wire) recvWithin(d time.Duration) (wamp.Message, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case msg, ok := <-w.inbox:
		if !ok {
			return nil, errWireClosed
		}
		return msg, nil
	case <-timer.C:
		return nil, fmt.Errorf("no message within %v", d)
	}
}

func (w *wire) send(msg wamp.Message) {
	w.t.Helper()
	if err := w.sendErr(msg); err != nil {
		w.t.Fatal(err)
	}
}

// recv returns the next message, failing the test after 5 s.
func (w *wire) recv(what string) wamp.Message {
	w.t.Helper()
	msg, err := w.recvWithin(5 * time.Second)
	if err != nil {
		w.t.Fatalf("%s: %v", what, err)
	}
	return msg
}

// req returns a new request ID of the session.
func (w *wire) req() wamp.ID {
	w.nextReq++
	return w.nextReq
}

// expectMsg reads the next message and fails unless it is a T.
func expectMsg[T wamp.Message](w *wire, what string) T {
	w.t.Helper()
	msg := w.recv(what)
	m, ok := msg.(T)
	if !ok {
		w.t.Fatalf("%s: got %s %v, want %T", what, msg.MessageType(), msg, m)
	}
	return m
}

// expectResult reads the next message and fails unless it is a RESULT of
// request.
func (w *wire) expectResult(request wamp.ID, what string) *wamp.Result {
	w.t.Helper()
	r := expectMsg[*wamp.Result](w, what)
	if r.Request != request {
		w.t.Fatalf("%s: RESULT of request %d, want %d (%v)", what, r.Request, request, r)
	}
	return r
}

// expectError reads the next message and fails unless it is an ERROR of
// request (of type typ) with uri.
func (w *wire) expectError(typ wamp.MessageType, request wamp.ID, uri wamp.URI, what string) *wamp.Error {
	w.t.Helper()
	e := expectMsg[*wamp.Error](w, what)
	if e.Type != typ || e.Request != request || e.Error != uri {
		w.t.Fatalf("%s: got ERROR %s %d %s %v, want ERROR %s %d %s", what, e.Type, e.Request, e.Error, e.Arguments, typ, request, uri)
	}
	return e
}

// register registers proc with options and returns the registration ID.
func (w *wire) register(proc string, options wamp.Dict) wamp.ID {
	w.t.Helper()
	if options == nil {
		options = wamp.Dict{}
	}
	req := w.req()
	w.send(&wamp.Register{Request: req, Options: options, Procedure: wamp.URI(proc)})
	msg := w.recv("register " + proc)
	r, ok := msg.(*wamp.Registered)
	if !ok || r.Request != req {
		w.t.Fatalf("register %s %v: got %v, want REGISTERED %d", proc, options, msg, req)
	}
	return r.Registration
}

// registerErr sends REGISTER and expects ERROR uri.
func (w *wire) registerErr(proc string, options wamp.Dict, uri wamp.URI, what string) {
	w.t.Helper()
	if options == nil {
		options = wamp.Dict{}
	}
	req := w.req()
	w.send(&wamp.Register{Request: req, Options: options, Procedure: wamp.URI(proc)})
	w.expectError(wamp.REGISTER, req, uri, what)
}

// unregister unregisters reg and expects UNREGISTERED.
func (w *wire) unregister(reg wamp.ID) {
	w.t.Helper()
	req := w.req()
	w.send(&wamp.Unregister{Request: req, Registration: reg})
	if u := expectMsg[*wamp.Unregistered](w, "unregister"); u.Request != req {
		w.t.Fatalf("UNREGISTERED %d, want %d", u.Request, req)
	}
}

// call sends a CALL and returns its request ID.
func (w *wire) call(proc string, options wamp.Dict, args wamp.List, kwargs wamp.Dict) wamp.ID {
	w.t.Helper()
	if options == nil {
		options = wamp.Dict{}
	}
	req := w.req()
	w.send(&wamp.Call{Request: req, Options: options, Procedure: wamp.URI(proc), Arguments: args, ArgumentsKw: kwargs})
	return req
}

// callResult calls proc and returns its RESULT, failing on anything else.
func (w *wire) callResult(proc string, options wamp.Dict, args wamp.List, kwargs wamp.Dict) *wamp.Result {
	w.t.Helper()
	return w.expectResult(w.call(proc, options, args, kwargs), "call "+proc)
}

// callError calls proc and expects ERROR uri.
func (w *wire) callError(proc string, options wamp.Dict, args wamp.List, uri wamp.URI, what string) *wamp.Error {
	w.t.Helper()
	return w.expectError(wamp.CALL, w.call(proc, options, args, nil), uri, what)
}

// yield answers an invocation.
func (w *wire) yield(request wamp.ID, options wamp.Dict, args wamp.List, kwargs wamp.Dict) {
	w.t.Helper()
	if options == nil {
		options = wamp.Dict{}
	}
	w.send(&wamp.Yield{Request: request, Options: options, Arguments: args, ArgumentsKw: kwargs})
}

// sync is a barrier: it sends an UNREGISTER the dealer refuses on the
// session's own read loop and expects that ERROR as the next message, so
// whatever the router queued for the session before (an INTERRUPT caused
// by another session's message that has been answered, a stray RESULT)
// has been read, and failed the test.
func (w *wire) sync(what string) {
	w.t.Helper()
	req := w.req()
	w.send(&wamp.Unregister{Request: req, Registration: 1})
	msg := w.recv(what)
	if e, ok := msg.(*wamp.Error); !ok || e.Type != wamp.UNREGISTER || e.Request != req || e.Error != wamp.ErrNoSuchRegistration {
		w.t.Fatalf("%s: got %s %v, want nothing before the barrier's ERROR", what, msg.MessageType(), msg)
	}
}

// untilSync sends the barrier of sync and returns the messages that came
// before its answer.
func (w *wire) untilSync(what string) []wamp.Message {
	w.t.Helper()
	req := w.req()
	w.send(&wamp.Unregister{Request: req, Registration: 1})
	var before []wamp.Message
	for {
		msg := w.recv(what)
		if e, ok := msg.(*wamp.Error); ok && e.Type == wamp.UNREGISTER && e.Request == req {
			return before
		}
		before = append(before, msg)
	}
}

// subscribe subscribes to topic and returns the subscription ID.
func (w *wire) subscribe(topic string, options wamp.Dict) wamp.ID {
	w.t.Helper()
	if options == nil {
		options = wamp.Dict{}
	}
	req := w.req()
	w.send(&wamp.Subscribe{Request: req, Options: options, Topic: wamp.URI(topic)})
	s := expectMsg[*wamp.Subscribed](w, "subscribe "+topic)
	if s.Request != req {
		w.t.Fatalf("SUBSCRIBED %d, want %d", s.Request, req)
	}
	return s.Subscription
}

// firstOf waits for the first message to reach any of ws and returns the
// index of the wire it reached and the message.
func firstOf(t testing.TB, what string, ws ...*wire) (int, wamp.Message) {
	t.Helper()
	cases := make([]reflect.SelectCase, len(ws)+1)
	for i, w := range ws {
		cases[i] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(w.inbox)}
	}
	timer := time.NewTimer(5 * time.Second)
	defer timer.Stop()
	cases[len(ws)] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)}
	i, v, ok := reflect.Select(cases)
	switch {
	case i == len(ws):
		t.Fatalf("%s: no message within 5s", what)
	case !ok:
		t.Fatalf("%s: wire %d: %v", what, i, errWireClosed)
	}
	return i, v.Interface().(wamp.Message)
}

// combo is one {transport} x {serializer} pair.
type combo struct {
	name     string
	listener int
	ser      string
}

// combos returns the six pairs of routertest.Config.
func combos() []combo {
	var cs []combo
	for _, tr := range transports {
		for _, ser := range serializers {
			cs = append(cs, combo{tr.name + "/" + ser, tr.listener, ser})
		}
	}
	return cs
}

// comboAt spreads tests that do not depend on the wire over the pairs.
func comboAt(i int) combo {
	cs := combos()
	return cs[i%len(cs)]
}

func asInt(v any) int64 {
	n, _ := wamp.AsInt64(v)
	return n
}

func asID(v any) wamp.ID {
	id, _ := wamp.AsID(v)
	return id
}
