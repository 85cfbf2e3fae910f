package router_test

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/gorilla/websocket"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// rawTicketJoin joins realm1 with authmethod ticket over a WebSocket dialed
// from the local address ip (any 127.x address works on Linux loopback),
// and returns the router's last answer: WELCOME or ABORT.
func rawTicketJoin(t *testing.T, srv *routertest.Server, ip, authid, ticket string) []any {
	t.Helper()
	msg, err := rawTicketJoinErr(srv, ip, authid, ticket)
	must(t, err)
	return msg
}

func rawTicketJoinErr(srv *routertest.Server, ip, authid, ticket string) ([]any, error) {
	d := websocket.Dialer{Subprotocols: []string{"wamp.2.json"}, HandshakeTimeout: 5 * time.Second,
		NetDialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext}
	ws, _, err := d.Dial(srv.URL(0), nil)
	if err != nil {
		return nil, err
	}
	defer ws.Close()
	send := func(msg ...any) error {
		b, err := json.Marshal(msg)
		if err != nil {
			return err
		}
		return ws.WriteMessage(websocket.TextMessage, b)
	}
	recv := func() ([]any, error) {
		if err := ws.SetReadDeadline(time.Now().Add(15 * time.Second)); err != nil {
			return nil, err
		}
		_, b, err := ws.ReadMessage()
		if err != nil {
			return nil, err
		}
		var msg []any
		if err := json.Unmarshal(b, &msg); err != nil || len(msg) < 3 {
			return nil, fmt.Errorf("not a WAMP message: %q (%v)", b, err)
		}
		return msg, nil
	}
	if err := send(wamp.HELLO, "realm1", map[string]any{"authid": authid, "authmethods": []string{"ticket"}, "roles": map[string]any{"subscriber": map[string]any{}}}); err != nil {
		return nil, err
	}
	msg, err := recv()
	if err == nil && msg[0] == float64(wamp.CHALLENGE) {
		if err := send(wamp.AUTHENTICATE, ticket, map[string]any{}); err != nil {
			return nil, err
		}
		msg, err = recv()
	}
	return msg, err
}

// joinResult says "welcome", "refused" (ABORT authentication_failed after
// the credentials were checked) or "throttled" (ABORT
// authentication_failed, unchecked).
func joinResult(t *testing.T, msg []any) string {
	t.Helper()
	switch {
	case msg[0] == float64(wamp.WELCOME):
		return "welcome"
	case msg[0] != float64(wamp.ABORT) || msg[2] != string(wamp.ErrAuthenticationFailed):
		t.Fatalf("want WELCOME or ABORT %s, got %v", wamp.ErrAuthenticationFailed, msg)
	}
	details, _ := msg[1].(map[string]any)
	if m, _ := details["message"].(string); strings.Contains(m, "too many failed attempts") {
		return "throttled"
	}
	return "refused"
}

// TestAuthFailuresLimitedPerAddress: with max_failures_per_minute 3, the
// 3rd failure of an address is still checked (a right ticket after two
// failures joins), the attempt after it is refused with the same ABORT even
// with the right ticket, counted in switchboard_auth_throttled_total and not
// as a failure; another address is unaffected, and so are anonymous joins,
// which check no credential.
func TestAuthFailuresLimitedPerAddress(t *testing.T) {
	t.Parallel()
	const ticket = "alice-ticket-0123"
	srv := routertest.Start(t, func(c *config.Config) {
		c.AuthLimits = config.AuthLimits{MaxFailuresPerMinute: 3, FailureDelay: 10 * time.Millisecond}
		c.Realms[0].Auth.Ticket = &config.TicketAuth{Principals: map[string]config.TicketPrincipal{"alice": {Ticket: ticket, Role: "anonymous"}}}
	})
	steps := []struct {
		ip, ticket, want string
	}{
		{"127.0.0.1", "wrong-ticket-0001", "refused"},
		{"127.0.0.1", "wrong-ticket-0002", "refused"},
		{"127.0.0.1", ticket, "welcome"}, // successes do not count
		{"127.0.0.1", "wrong-ticket-0003", "refused"},
		{"127.0.0.1", ticket, "throttled"},
		{"127.0.0.1", "wrong-ticket-0004", "throttled"},
		{"127.0.0.2", ticket, "welcome"},
		{"127.0.0.2", "wrong-ticket-0005", "refused"},
	}
	for i, s := range steps {
		if got := joinResult(t, rawTicketJoin(t, srv, s.ip, "alice", s.ticket)); got != s.want {
			t.Fatalf("step %d (%s, ticket %q): %s, want %s", i+1, s.ip, s.ticket, got, s.want)
		}
	}
	// Anonymous joins from the limited address still work.
	srv.Dial(t, 0, "json", client.Config{})

	families, _ := scrape(t, srv)
	if n := value(families, "switchboard_auth_throttled_total", map[string]string{"realm": "realm1", "method": "ticket"}); n != 2 {
		t.Errorf("switchboard_auth_throttled_total = %v, want 2", n)
	}
	if n := value(families, "switchboard_auth_failures_total", map[string]string{"realm": "realm1", "method": "ticket"}); n != 4 {
		t.Errorf("switchboard_auth_failures_total = %v, want 4 (throttled attempts are not checked)", n)
	}
}

// TestAuthFailuresUnlimited: max_failures_per_minute 0 checks every attempt.
func TestAuthFailuresUnlimited(t *testing.T) {
	t.Parallel()
	const ticket = "alice-ticket-0123"
	srv := routertest.Start(t, func(c *config.Config) {
		c.AuthLimits = config.AuthLimits{MaxFailuresPerMinute: 0}
		c.Realms[0].Auth.Ticket = &config.TicketAuth{Principals: map[string]config.TicketPrincipal{"alice": {Ticket: ticket, Role: "anonymous"}}}
	})
	for range 12 {
		if got := joinResult(t, rawTicketJoin(t, srv, "127.0.0.1", "alice", "wrong-ticket-0001")); got != "refused" {
			t.Fatalf("%s, want refused", got)
		}
	}
	if got := joinResult(t, rawTicketJoin(t, srv, "127.0.0.1", "alice", ticket)); got != "welcome" {
		t.Fatalf("%s, want welcome", got)
	}
}

// TestAuthFailureLimitDefault: without auth_limits, an address gets 10
// checked failures per minute.
func TestAuthFailureLimitDefault(t *testing.T) {
	t.Parallel()
	const ticket = "alice-ticket-0123"
	srv := routertest.Start(t, func(c *config.Config) {
		c.AuthLimits.FailureDelay = 10 * time.Millisecond
		c.Realms[0].Auth.Ticket = &config.TicketAuth{Principals: map[string]config.TicketPrincipal{"alice": {Ticket: ticket, Role: "anonymous"}}}
	})
	if n := srv.Config.AuthLimits.MaxFailuresPerMinute; n != 10 {
		t.Fatalf("default max_failures_per_minute = %d", n)
	}
	for i := range 10 {
		if got := joinResult(t, rawTicketJoin(t, srv, "127.0.0.3", "alice", "wrong-ticket-0001")); got != "refused" {
			t.Fatalf("failure %d: %s, want refused", i+1, got)
		}
	}
	if got := joinResult(t, rawTicketJoin(t, srv, "127.0.0.3", "alice", ticket)); got != "throttled" {
		t.Fatalf("after 10 failures: %s, want throttled", got)
	}
}

// TestAuthFailuresLimitedInParallel: 8 wrong tickets sent at once from one
// address with max_failures_per_minute 3 get exactly 3 checks; the others
// are refused unchecked.
func TestAuthFailuresLimitedInParallel(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, func(c *config.Config) {
		c.AuthLimits = config.AuthLimits{MaxFailuresPerMinute: 3, FailureDelay: 10 * time.Millisecond}
		c.Realms[0].Auth.Ticket = &config.TicketAuth{Principals: map[string]config.TicketPrincipal{"alice": {Ticket: "alice-ticket-0123", Role: "anonymous"}}}
	})
	type result struct {
		msg []any
		err error
	}
	results := make(chan result, 8)
	for i := range 8 {
		go func() {
			msg, err := rawTicketJoinErr(srv, "127.0.0.5", "alice", fmt.Sprintf("wrong-ticket-%04d", i))
			results <- result{msg, err}
		}()
	}
	counts := map[string]int{}
	for range 8 {
		r := <-results
		must(t, r.err)
		counts[joinResult(t, r.msg)]++
	}
	if counts["refused"] != 3 || counts["throttled"] != 5 {
		t.Fatalf("8 parallel wrong tickets: %v, want 3 checked (refused) and 5 throttled", counts)
	}
}
