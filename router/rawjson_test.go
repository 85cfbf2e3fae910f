package router_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
	"github.com/gorilla/websocket"

	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// jsonSession is a WAMP session spoken by hand in JSON over WebSocket, for
// tests that need every message in order (the nexus client drops EVENTs
// that arrive right after SUBSCRIBED, and hides request IDs).
type jsonSession struct {
	t  *testing.T
	ws *websocket.Conn
	id wamp.ID
}

// joinJSON opens a session on listener 0 of srv; with a ticket, as authid
// by ticket authentication, else anonymously.
func joinJSON(t *testing.T, srv *routertest.Server, authid, ticket string) *jsonSession {
	t.Helper()
	details := map[string]any{"roles": map[string]any{"subscriber": map[string]any{}, "publisher": map[string]any{},
		"caller": map[string]any{}, "callee": map[string]any{}}}
	if ticket != "" {
		details["authid"] = authid
		details["authmethods"] = []string{"ticket"}
	}
	return openJSON(t, srv, details, ticket)
}

// openJSON opens a session on listener 0 of srv with the HELLO details
// given, answering a ticket CHALLENGE with ticket.
func openJSON(t *testing.T, srv *routertest.Server, details map[string]any, ticket string) *jsonSession {
	t.Helper()
	status, body, ws := upgrade(t, srv.URL(0), "", []string{"wamp.2.json"})
	if ws == nil {
		t.Fatalf("upgrade: %d %s", status, body)
	}
	t.Cleanup(func() { _ = ws.Close() })
	s := &jsonSession{t: t, ws: ws}
	s.send(wamp.HELLO, "realm1", details)
	m := s.read()
	if ticket != "" {
		if m[0] != float64(wamp.CHALLENGE) {
			t.Fatalf("want CHALLENGE, got %v", m)
		}
		s.send(wamp.AUTHENTICATE, ticket, map[string]any{})
		m = s.read()
	}
	if m[0] != float64(wamp.WELCOME) {
		t.Fatalf("want WELCOME, got %v", m)
	}
	id, _ := wamp.AsID(m[1])
	s.id = id
	return s
}

// send writes the message [type, fields...].
func (s *jsonSession) send(typ wamp.MessageType, fields ...any) {
	s.t.Helper()
	b, err := json.Marshal(append([]any{int(typ)}, fields...))
	must(s.t, err)
	must(s.t, s.ws.WriteMessage(websocket.TextMessage, b))
}

// read returns the next message, failing the test after 5 s.
func (s *jsonSession) read() []any {
	s.t.Helper()
	must(s.t, s.ws.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, b, err := s.ws.ReadMessage()
	must(s.t, err)
	var m []any
	must(s.t, json.Unmarshal(b, &m))
	if len(m) == 0 {
		s.t.Fatalf("empty message %s", b)
	}
	return m
}

// reply reads messages up to the answer of request (of any type but EVENT)
// and returns it with the EVENTs read before it.
func (s *jsonSession) reply(request int) (m []any, events [][]any) {
	s.t.Helper()
	for {
		m = s.read()
		if m[0] == float64(wamp.EVENT) {
			events = append(events, m)
			continue
		}
		// [type, request, ...], or ERROR [8, type, request, ...].
		at := 1
		if m[0] == float64(wamp.ERROR) {
			at = 2
		}
		if len(m) > at && m[at] == float64(request) {
			return m, events
		}
		s.t.Fatalf("waiting for the answer to request %d, got %v", request, m)
	}
}

// subscribe subscribes to topic with options and returns the subscription
// ID, or fails.
func (s *jsonSession) subscribe(request int, topic string, options map[string]any) wamp.ID {
	s.t.Helper()
	if options == nil {
		options = map[string]any{}
	}
	s.send(wamp.SUBSCRIBE, request, options, topic)
	m, _ := s.reply(request)
	if m[0] != float64(wamp.SUBSCRIBED) {
		s.t.Fatalf("subscribe %q %v: got %v", topic, options, m)
	}
	id, _ := wamp.AsID(m[2])
	return id
}

// expectError checks that m is ERROR for a request of type typ with uri.
func expectError(t *testing.T, m []any, typ wamp.MessageType, uri wamp.URI, what string) {
	t.Helper()
	if len(m) < 5 || m[0] != float64(wamp.ERROR) || m[1] != float64(typ) || m[4] != string(uri) {
		t.Fatalf("%s: got %v, want ERROR %s for %s", what, m, uri, typ)
	}
}

// eventTopic returns the topic of EVENT m of a subscription to topic
// (details.topic for patterns).
func eventTopic(m []any, subscribed string) string {
	if d, ok := m[3].(map[string]any); ok {
		if topic, ok := d["topic"].(string); ok {
			return topic
		}
	}
	return subscribed
}

func argsOf(m []any) string {
	if len(m) > 4 {
		return fmt.Sprint(m[4])
	}
	return "[]"
}
