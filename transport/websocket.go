package transport

import (
	"encoding/binary"
	"errors"
	"net"
	"time"

	"github.com/gorilla/websocket"
)

var errClosed = errors.New("transport: connection closed")

// wsConn frames WAMP messages as WebSocket messages. gorilla/websocket reads
// (unmasking, control frames, limits); data frames are written here, as
// whole frames coalesced per batch, straight to the connection.
type wsConn struct {
	ws     *websocket.Conn
	opcode byte
	w      batchWriter
}

// NewWebSocketPeer wraps an upgraded WebSocket connection, whose negotiated
// subprotocol is s, as a WAMP peer. maxMessageSize bounds inbound messages;
// a larger one closes the connection with status 1009.
func NewWebSocketPeer(ws *websocket.Conn, s Serializer, maxMessageSize int, opts PeerOptions) *Peer {
	ws.SetReadLimit(int64(maxMessageSize))
	opcode := byte(websocket.TextMessage)
	if s.Binary {
		opcode = websocket.BinaryMessage
	}
	c := &wsConn{ws: ws, opcode: opcode, w: batchWriter{conn: ws.NetConn()}}
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

// WriteFrame adds an unmasked, unfragmented server frame (RFC 6455 5.2).
func (c *wsConn) WriteFrame(b []byte) error {
	var h [10]byte
	h[0] = 0x80 | c.opcode // FIN
	n := len(b)
	var hl int
	switch {
	case n < 126:
		h[1], hl = byte(n), 2
	case n <= 0xffff:
		h[1] = 126
		binary.BigEndian.PutUint16(h[2:], uint16(n))
		hl = 4
	default:
		h[1] = 127
		binary.BigEndian.PutUint64(h[2:], uint64(n))
		hl = 10
	}
	return c.w.writeFrame(h[:hl], b)
}

func (c *wsConn) Flush() error { return c.w.flush() }

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

func (c *wsConn) SetWriteDeadline(t time.Time) error { return c.ws.NetConn().SetWriteDeadline(t) }

func (c *wsConn) Close() error { return c.ws.Close() }
