package transport

import (
	"errors"
	"net"
	"time"

	"github.com/gorilla/websocket"
)

var errClosed = errors.New("transport: connection closed")

// wsConn frames WAMP messages as WebSocket messages.
type wsConn struct {
	ws        *websocket.Conn
	frameType int
}

// NewWebSocketPeer wraps an upgraded WebSocket connection, whose negotiated
// subprotocol is s, as a WAMP peer. maxMessageSize bounds inbound messages;
// a larger one closes the connection with status 1009.
func NewWebSocketPeer(ws *websocket.Conn, s Serializer, maxMessageSize int, opts PeerOptions) *Peer {
	ws.SetReadLimit(int64(maxMessageSize))
	c := &wsConn{ws: ws, frameType: s.frameType()}
	return newPeer(c, s, opts)
}

func (c *wsConn) reportLiveness(seen func()) {
	c.ws.SetPongHandler(func(string) error { seen(); return nil })
}

func (c *wsConn) ReadFrame() ([]byte, error) {
	for {
		typ, b, err := c.ws.ReadMessage()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
				return nil, errClosed
			}
			return nil, err
		}
		if typ == websocket.TextMessage || typ == websocket.BinaryMessage {
			return b, nil
		}
	}
}

func (c *wsConn) WriteFrame(b []byte) error { return c.ws.WriteMessage(c.frameType, b) }

func (c *wsConn) Flush() error { return nil }

func (c *wsConn) WritePing() error {
	return c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(time.Second))
}

func (c *wsConn) WriteClose(policy bool, reason string) {
	code := websocket.CloseNormalClosure
	if policy {
		code = websocket.ClosePolicyViolation
	}
	msg := websocket.FormatCloseMessage(code, reason)
	_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
}

func (c *wsConn) SetWriteDeadline(t time.Time) error { return c.ws.SetWriteDeadline(t) }

func (c *wsConn) Close() error { return c.ws.Close() }
