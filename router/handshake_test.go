package router_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// TestHandshakeLimit: while max_handshakes sessions are being opened (here:
// upgraded, HELLO not yet sent), one more WebSocket upgrade gets 503 with
// Retry-After at once, and a RawSocket handshake error 4; once a session
// is welcomed its slot is free again.
func TestHandshakeLimit(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, func(c *config.Config) { c.Limits.MaxHandshakes = 2 })
	var holders []*websocket.Conn
	for range 2 {
		status, body, ws := upgrade(t, srv.URL(0), "", []string{"wamp.2.json"})
		if ws == nil {
			t.Fatalf("upgrade within the bound: %d %s", status, body)
		}
		holders = append(holders, ws)
	}
	// The third upgrade is refused at once, with Retry-After.
	resp := upgradeRequest(t, srv.Addr(0))
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(string(body), `"switchboard.error.too_many_handshakes"`) {
		t.Fatalf("upgrade past max_handshakes: %d, Retry-After %q, %s; want 503 with Retry-After and too_many_handshakes",
			resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	// RawSocket shares the bound: handshake error 4.
	if reply := rawSocketHandshake(t, nil, srv.Addr(1)); reply != [4]byte{0x7f, 0x40, 0, 0} {
		t.Fatalf("rawsocket handshake past max_handshakes: % x, want 7f 40 00 00", reply)
	}
	// A holder's session is welcomed: its slot is free (the gate is left
	// as the upgrade's attach returns, just after WELCOME), and a new
	// session opens.
	must(t, holders[0].WriteMessage(websocket.TextMessage, []byte(`[1,"realm1",{"roles":{"subscriber":{}}}]`)))
	_, msg, err := holders[0].ReadMessage()
	must(t, err)
	if !strings.HasPrefix(string(msg), "[2,") {
		t.Fatalf("holder's HELLO: %s, want WELCOME", msg)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, _, ws := upgrade(t, srv.URL(0), "", []string{"wamp.2.json"})
		if ws != nil {
			break
		}
		if status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("upgrade after a session was welcomed: %d, want 101", status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	families := waitForScrape(t, srv)
	if got := value(families, "switchboard_connections_refused_total", map[string]string{"reason": "max_handshakes"}); got < 2 {
		t.Errorf("max_handshakes refusals counted: %v, want >= 2", got)
	}
}

// TestListenerMaxConnections: a listener's own max_connections refuses its
// connections past it with 503, and leaves other listeners alone.
func TestListenerMaxConnections(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, func(c *config.Config) { c.Listeners[0].MaxConnections = 2 })
	for range 2 {
		dialRawWebSocket(t, srv.Addr(0), nil, "wamp.2.json")
	}
	if c, status := tryRawWebSocket(t, srv.Addr(0), nil, "wamp.2.json"); c != nil ||
		!strings.Contains(status, "503") || !strings.Contains(status, `"switchboard.error.too_many_connections"`) {
		t.Fatalf("3rd connection to a listener with max_connections 2: %s, want 503 too_many_connections", status)
	}
	// The RawSocket listener has no bound of its own.
	if reply := rawSocketHandshake(t, nil, srv.Addr(1)); reply[1]&0x0f != 1 {
		t.Fatalf("rawsocket on another listener: % x, want accepted (json)", reply)
	}
}

// upgradeRequest sends a WebSocket upgrade request and returns the response.
func upgradeRequest(t *testing.T, addr net.Addr) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr.String()+"/ws", nil)
	must(t, err)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Protocol", "wamp.2.json")
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	must(t, err)
	return resp
}

// rawSocketHandshake sends a RawSocket handshake (JSON), from the local
// address from when it is not nil, and returns the router's answer.
func rawSocketHandshake(t *testing.T, from *net.TCPAddr, addr net.Addr) [4]byte {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != nil {
		d.LocalAddr = from
	}
	rc, err := d.Dial("tcp", addr.String())
	must(t, err)
	defer rc.Close()
	must(t, rc.SetDeadline(time.Now().Add(5*time.Second)))
	_, err = rc.Write([]byte{0x7f, 0xf1, 0, 0})
	must(t, err)
	var reply [4]byte
	_, err = io.ReadFull(rc, reply[:])
	must(t, err)
	return reply
}
