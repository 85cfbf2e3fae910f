package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

// wampConn is a minimal WAMP-over-WebSocket JSON client: just enough to
// drive a router hard without the load generator becoming the bottleneck.
type wampConn struct {
	ws *websocket.Conn
	id int64
}

func dialWAMP(url string, roles string) (*wampConn, error) {
	d := websocket.Dialer{Subprotocols: []string{"wamp.2.json"}, HandshakeTimeout: 10 * time.Second}
	ws, _, err := d.Dial(url, nil)
	if err != nil {
		return nil, err
	}
	c := &wampConn{ws: ws}
	hello := `[1,"realm1",{"roles":{` + roles + `}}]`
	if err := ws.WriteMessage(websocket.TextMessage, []byte(hello)); err != nil {
		ws.Close()
		return nil, err
	}
	msg, err := c.read(10 * time.Second)
	if err != nil {
		ws.Close()
		return nil, err
	}
	var welcome []json.RawMessage
	if err := json.Unmarshal(msg, &welcome); err != nil || len(welcome) < 2 || string(welcome[0]) != "2" {
		ws.Close()
		return nil, fmt.Errorf("expected WELCOME, got %s", msg)
	}
	c.id, _ = strconv.ParseInt(string(welcome[1]), 10, 64)
	return c, nil
}

func (c *wampConn) send(msg string) error {
	return c.ws.WriteMessage(websocket.TextMessage, []byte(msg))
}

func (c *wampConn) read(timeout time.Duration) ([]byte, error) {
	if timeout > 0 {
		_ = c.ws.SetReadDeadline(time.Now().Add(timeout))
	} else {
		_ = c.ws.SetReadDeadline(time.Time{})
	}
	_, msg, err := c.ws.ReadMessage()
	return msg, err
}

// expect reads one message and checks its WAMP type code.
func (c *wampConn) expect(code int) ([]byte, error) {
	msg, err := c.read(30 * time.Second)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(msg, []byte("["+strconv.Itoa(code)+",")) {
		return msg, fmt.Errorf("expected message type %d, got %.200s", code, msg)
	}
	return msg, nil
}

func (c *wampConn) close() { _ = c.ws.Close() }

// eventArgs extracts seq and the send timestamp from an EVENT whose
// arguments are [seq, unix_nanos, payload] (and payload holds no '['),
// whatever its details (a pattern subscription's carry the topic).
func eventArgs(msg []byte) (seq, sentNanos int64, ok bool) {
	if !bytes.HasPrefix(msg, []byte("[36,")) {
		return 0, 0, false
	}
	i := bytes.LastIndex(msg, []byte(",["))
	if i < 0 {
		return 0, 0, false
	}
	rest := msg[i+2:]
	j := bytes.IndexByte(rest, ',')
	if j < 0 {
		return 0, 0, false
	}
	seq, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	if err != nil {
		return 0, 0, false
	}
	rest = rest[j+1:]
	k := bytes.IndexAny(rest, ",]")
	if k < 0 {
		return 0, 0, false
	}
	ts, err := strconv.ParseInt(string(rest[:k]), 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return seq, ts, true
}
