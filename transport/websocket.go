package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

var errClosed = errors.New("transport: connection closed")

// WebSocket opcodes and close codes (RFC 6455 5.2, 7.4.1).
const (
	wsContinuation = 0x0
	wsText         = 0x1
	wsBinary       = 0x2
	wsClose        = 0x8
	wsPing         = 0x9
	wsPong         = 0xa

	wsCloseNormal        = 1000
	wsCloseProtocolError = 1002
	wsCloseInvalidData   = 1007
	wsClosePolicy        = 1008
	wsCloseRestart       = 1012 // service restart: the client should reconnect
	wsCloseTooBig        = 1009

	// wsMaxControlPayload is the largest payload a control frame may carry.
	wsMaxControlPayload = 125
)

// wsConn frames WAMP messages as WebSocket messages on an upgraded
// connection. It reads client frames itself (unmasking, fragments, control
// frames, limits) so that a session holds no more than a small read buffer,
// and writes whole server frames, coalesced per batch, straight to the
// connection.
type wsConn struct {
	conn         net.Conn
	opcode       byte // of the data frames written: text or binary
	in           inBuffer
	w            batchWriter
	limit        readLimit
	writeTimeout time.Duration
	seen         func()
	closeSent    atomic.Bool
	// closeCode, when set, is the code of the close frame WriteClose sends.
	closeCode atomic.Int32
}

// wsProtocolError is a client frame the router refuses; the connection is
// closed with code.
type wsProtocolError struct {
	code   int
	reason string
}

func (e *wsProtocolError) Error() string {
	return fmt.Sprintf("websocket: %s (close %d)", e.reason, e.code)
}

// NewWebSocketPeer wraps a connection on which the WebSocket handshake is
// complete, and whose negotiated subprotocol is s, as a WAMP peer.
// maxMessageSize bounds inbound messages; a larger one closes the
// connection with status 1009.
func NewWebSocketPeer(conn net.Conn, s Serializer, maxMessageSize int, opts PeerOptions) *Peer {
	opcode := byte(wsText)
	if s.Binary {
		opcode = wsBinary
	}
	writeTimeout := opts.WriteTimeout
	if writeTimeout <= 0 {
		writeTimeout = defaultWriteTimeout
	}
	c := &wsConn{
		conn:         conn,
		opcode:       opcode,
		in:           inBuffer{conn: conn, msgTimeout: opts.MessageReadTimeout},
		w:            batchWriter{conn: conn},
		limit:        readLimit{session: maxMessageSize},
		writeTimeout: writeTimeout,
	}
	return newPeer(c, s, opts)
}

func (c *wsConn) reportLiveness(seen func()) { c.seen = seen }

// frameHeader is a parsed client frame header.
type frameHeader struct {
	fin    bool
	opcode byte
	length int
	mask   [4]byte
}

func (c *wsConn) WaitInput(idle time.Duration) error { return c.readFailed(c.in.wait(idle)) }

func (c *wsConn) netConn() net.Conn { return c.conn }

func (c *wsConn) readLimits() *readLimit { return &c.limit }

// ReadFrame returns the next WAMP message, answering pings and a close
// frame on the way.
func (c *wsConn) ReadFrame() ([]byte, error) {
	b, err := c.readMessage()
	if err == nil {
		return b, nil
	}
	return nil, c.readFailed(err)
}

// readFailed closes the connection with the code a protocol error calls
// for, and maps the ends of the connection to errClosed.
func (c *wsConn) readFailed(err error) error {
	if err == nil {
		return nil
	}
	var pe *wsProtocolError
	var tb *tooBigError
	switch {
	case errors.As(err, &pe):
		c.writeClose(pe.code, pe.reason)
	case errors.As(err, &tb) && !tb.skipped:
		// The session ends: the peer says why (ABORT or GOODBYE) first,
		// then the close frame carries 1009.
		c.closeCode.Store(wsCloseTooBig)
	case errors.Is(err, errMessageTimeout):
		c.writeClose(wsClosePolicy, "message read timeout")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return errClosed
	}
	return err
}

func (c *wsConn) readMessage() ([]byte, error) {
	var msg []byte
	var text, started bool
	var tooBig *tooBigError
	limit := c.limit.get()
	c.in.startMessage()
	for {
		h, err := c.readHeader()
		if err != nil {
			return nil, err
		}
		if h.opcode >= wsClose {
			if err := c.handleControl(h); err != nil {
				return nil, err
			}
			if !started {
				// A control frame between messages is complete: the
				// next message has its own time. Between fragments, the
				// message's clock runs on.
				c.in.startMessage()
			}
			continue
		}
		switch h.opcode {
		case wsContinuation:
			if !started {
				return nil, &wsProtocolError{wsCloseProtocolError, "continuation frame outside a fragmented message"}
			}
		case wsText, wsBinary:
			if started {
				return nil, &wsProtocolError{wsCloseProtocolError, "new message before the last fragment of the previous one"}
			}
			started, text = true, h.opcode == wsText
		default:
			return nil, &wsProtocolError{wsCloseProtocolError, fmt.Sprintf("reserved opcode %#x", h.opcode)}
		}
		if tooBig == nil && len(msg)+h.length > limit {
			// Over the limit: keep the first bytes (to answer the request
			// with an ERROR) and drop the rest, up to a bound.
			tooBig = &tooBigError{limit: limit, size: len(msg),
				prefix: append([]byte(nil), msg[:min(len(msg), tooBigPrefix)]...)}
			msg = nil
		}
		if tooBig != nil {
			tooBig.size += h.length
			if tooBig.size > discardLimit(limit) {
				return nil, tooBig
			}
			if err := c.in.keepPrefix(tooBig, h.length, &h.mask); err != nil {
				return nil, err
			}
			if h.fin {
				tooBig.skipped = true
				return nil, tooBig
			}
			continue
		}
		start := len(msg)
		if msg, err = c.in.appendPayload(msg, h.length); err != nil {
			return nil, err
		}
		unmask(h.mask, msg[start:])
		if h.fin {
			if text && !utf8.Valid(msg) {
				return nil, &wsProtocolError{wsCloseInvalidData, "text message is not valid UTF-8"}
			}
			return msg, nil
		}
	}
}

func (c *wsConn) readHeader() (frameHeader, error) {
	var h frameHeader
	if err := c.in.fill(2); err != nil {
		return h, err
	}
	b := c.in.next(2)
	if b[0]&0x70 != 0 {
		return h, &wsProtocolError{wsCloseProtocolError, "reserved bits set (no extension was negotiated)"}
	}
	if b[1]&0x80 == 0 {
		return h, &wsProtocolError{wsCloseProtocolError, "client frame is not masked"}
	}
	h.fin, h.opcode = b[0]&0x80 != 0, b[0]&0x0f
	n := uint64(b[1] & 0x7f)
	switch n {
	case 126:
		if err := c.in.fill(2); err != nil {
			return h, err
		}
		n = uint64(binary.BigEndian.Uint16(c.in.next(2)))
	case 127:
		if err := c.in.fill(8); err != nil {
			return h, err
		}
		n = binary.BigEndian.Uint64(c.in.next(8))
		if n>>63 != 0 {
			return h, &wsProtocolError{wsCloseProtocolError, "frame length has its most significant bit set"}
		}
	}
	if h.opcode >= wsClose && (!h.fin || n > wsMaxControlPayload) {
		return h, &wsProtocolError{wsCloseProtocolError, "control frame fragmented or over 125 bytes"}
	}
	if limit := c.limit.get(); n > uint64(discardLimit(limit)) {
		return h, &tooBigError{limit: limit, size: int(min(n, 1<<62))}
	}
	h.length = int(n)
	if err := c.in.fill(4); err != nil {
		return h, err
	}
	copy(h.mask[:], c.in.next(4))
	return h, nil
}

// handleControl answers a ping, notes a pong, and answers a close frame by
// ending the read side.
func (c *wsConn) handleControl(h frameHeader) error {
	var buf [wsMaxControlPayload]byte
	payload := buf[:h.length]
	if err := c.in.readInto(payload); err != nil {
		return err
	}
	unmask(h.mask, payload)
	if c.seen != nil {
		c.seen()
	}
	switch h.opcode {
	case wsPing:
		return c.writeControl(wsPong, payload)
	case wsPong:
		return nil
	case wsClose:
		code, reason := closeReply(payload)
		c.writeClose(code, reason)
		return errClosed
	default:
		return &wsProtocolError{wsCloseProtocolError, fmt.Sprintf("reserved control opcode %#x", h.opcode)}
	}
}

// closeReply checks a client's close frame and returns the code to answer
// with: the client's own, or 1002 if the frame is malformed.
func closeReply(payload []byte) (int, string) {
	switch {
	case len(payload) == 0:
		return wsCloseNormal, ""
	case len(payload) == 1:
		return wsCloseProtocolError, "close frame with a 1-byte payload"
	case !utf8.Valid(payload[2:]):
		return wsCloseProtocolError, "close reason is not valid UTF-8"
	}
	code := int(binary.BigEndian.Uint16(payload))
	valid := (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)
	if !valid {
		return wsCloseProtocolError, fmt.Sprintf("invalid close code %d", code)
	}
	return code, ""
}

// unmask XORs b with the masking key (RFC 6455 5.3), eight bytes at a time.
func unmask(key [4]byte, b []byte) {
	k := uint64(binary.LittleEndian.Uint32(key[:]))
	k |= k << 32
	i := 0
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^k)
	}
	for ; i < len(b); i++ {
		b[i] ^= key[i&3]
	}
}

// appendFrameHeader appends an unmasked, unfragmented server frame header
// (RFC 6455 5.2) for a payload of n bytes.
func appendFrameHeader(h []byte, opcode byte, n int) []byte {
	h = append(h, 0x80|opcode) // FIN
	switch {
	case n < 126:
		return append(h, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(h, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(h, 127), uint64(n))
	}
}

// WriteFrame adds a data frame to the write batch.
func (c *wsConn) WriteFrame(b []byte) error {
	if c.closeSent.Load() {
		return errClosed
	}
	var h [10]byte
	return c.w.writeFrame(appendFrameHeader(h[:0], c.opcode, len(b)), b)
}

func (c *wsConn) Flush() error { return c.w.flush() }

// writeControl writes a control frame at once (with whatever the batch
// holds before it).
func (c *wsConn) writeControl(opcode byte, payload []byte) error {
	var h [10]byte
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	if err := c.w.writeFrame(appendFrameHeader(h[:0], opcode, len(payload)), payload); err != nil {
		return err
	}
	return c.w.flush()
}

func (c *wsConn) WritePing() error { return c.writeControl(wsPing, nil) }

// writeClose sends a close frame, once.
func (c *wsConn) writeClose(code int, reason string) {
	if !c.closeSent.CompareAndSwap(false, true) {
		return
	}
	if len(reason) > wsMaxControlPayload-2 {
		reason = reason[:wsMaxControlPayload-2]
	}
	payload := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), uint16(code))
	_ = c.writeControl(wsClose, append(payload, reason...))
}

func (c *wsConn) WriteClose(policy bool, reason string) {
	code := wsCloseNormal
	switch {
	case policy:
		code = wsClosePolicy
	case c.closeCode.Load() != 0:
		code, reason = int(c.closeCode.Load()), fmt.Sprintf("message exceeds %d bytes", c.limit.get())
	}
	c.writeClose(code, reason)
}

func (c *wsConn) WriteRestart() { c.writeClose(wsCloseRestart, "service restart") }

func (c *wsConn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }

func (c *wsConn) Close() error { return c.conn.Close() }
