package transport

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// RawSocket framing (WAMP spec, "RawSocket Transport").
const (
	rawMagic     = 0x7f
	rawFrameWAMP = 0
	rawFramePing = 1
	rawFramePong = 2

	rawErrSerializer = 1
	rawErrLength     = 2
	rawErrReserved   = 3
	rawErrMaxConns   = 4

	// rawMaxPingPayload bounds PING and PONG payloads, as WebSocket bounds
	// control frames.
	rawMaxPingPayload = 125
)

// RefuseRawSocket answers a RawSocket client's handshake with error 4,
// "maximum connection count reached", without reading it (the client
// reads the reply after sending its own).
func RefuseRawSocket(conn net.Conn) {
	_, _ = conn.Write([]byte{rawMagic, rawErrMaxConns << 4, 0, 0})
}

// RawSocketLimit rounds n down to a length the RawSocket handshake can
// express (a power of two from 512 to 16 MiB) and returns it with its code.
func RawSocketLimit(n int) (int, byte) {
	code := byte(0)
	for code < 15 && 1<<(code+10) <= n {
		code++
	}
	return 1 << (code + 9), code
}

// AcceptRawSocket performs the server side of the RawSocket handshake on
// conn, accepting the serializers given, and returns the peer. The client may
// send messages up to maxMessageSize (rounded by RawSocketLimit).
func AcceptRawSocket(conn net.Conn, accepted []Serializer, maxMessageSize int, opts PeerOptions) (*Peer, Serializer, error) {
	var hs [4]byte
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(conn, hs[:]); err != nil {
		return nil, Serializer{}, fmt.Errorf("rawsocket: read handshake: %w", err)
	}
	if hs[0] != rawMagic {
		return nil, Serializer{}, errors.New("rawsocket: not a RawSocket handshake")
	}
	if hs[2] != 0 || hs[3] != 0 {
		_, _ = conn.Write([]byte{rawMagic, rawErrReserved << 4, 0, 0})
		return nil, Serializer{}, errors.New("rawsocket: use of reserved bits")
	}
	var s Serializer
	found := false
	for _, cand := range accepted {
		if cand.RawSocketID == hs[1]&0x0f {
			s, found = cand, true
			break
		}
	}
	if !found {
		_, _ = conn.Write([]byte{rawMagic, rawErrSerializer << 4, 0, 0})
		return nil, Serializer{}, fmt.Errorf("rawsocket: serializer %d not accepted", hs[1]&0x0f)
	}
	recvLimit, code := RawSocketLimit(maxMessageSize)
	if _, err := conn.Write([]byte{rawMagic, code<<4 | s.RawSocketID, 0, 0}); err != nil {
		return nil, Serializer{}, fmt.Errorf("rawsocket: write handshake: %w", err)
	}
	_ = conn.SetDeadline(time.Time{})
	c := &rawConn{
		conn:      conn,
		in:        inBuffer{conn: conn, msgTimeout: opts.MessageReadTimeout},
		w:         batchWriter{conn: conn},
		limit:     readLimit{session: recvLimit},
		sendLimit: 1 << ((hs[1] >> 4) + 9),
	}
	c.writeTimeout = opts.WriteTimeout
	if c.writeTimeout <= 0 {
		c.writeTimeout = defaultWriteTimeout
	}
	return newPeer(c, s, opts), s, nil
}

// rawConn frames WAMP messages as RawSocket frames.
type rawConn struct {
	conn      net.Conn
	in        inBuffer
	w         batchWriter
	limit     readLimit
	sendLimit int
	// writeTimeout bounds a pong written by the reader.
	writeTimeout time.Duration
	seen         func()
}

func (c *rawConn) reportLiveness(seen func()) { c.seen = seen }

// errMessageTooBig reports a frame larger than the agreed limit.
var errMessageTooBig = errors.New("rawsocket: message exceeds the agreed maximum length")

func (c *rawConn) WaitInput(idle time.Duration) error { return rawReadErr(c.in.wait(idle)) }

func (c *rawConn) netConn() net.Conn { return c.conn }

func (c *rawConn) readLimits() *readLimit { return &c.limit }

func rawReadErr(err error) error {
	if err != nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)) {
		return errClosed
	}
	return err
}

func (c *rawConn) ReadFrame() ([]byte, error) {
	for {
		c.in.startMessage()
		if err := c.in.fill(4); err != nil {
			return nil, rawReadErr(err)
		}
		h := c.in.next(4)
		typ, n := h[0]&0x07, int(h[1])<<16|int(h[2])<<8|int(h[3])
		if typ > rawFramePong {
			return nil, fmt.Errorf("rawsocket: reserved frame type %d", typ)
		}
		if typ != rawFrameWAMP && n > rawMaxPingPayload {
			// A ping is echoed from the reader: a large one would make every
			// connection hold a message-sized buffer for its pong.
			return nil, fmt.Errorf("rawsocket: %d-byte ping or pong exceeds %d bytes", n, rawMaxPingPayload)
		}
		if limit := c.limit.get(); n > limit {
			// Over the agreed limit (the length field bounds it at 16 MiB):
			// keep the first bytes to answer the request, drop the rest.
			tb := &tooBigError{size: n, limit: limit}
			if typ != rawFrameWAMP {
				return nil, tb
			}
			if err := c.in.keepPrefix(tb, n, nil); err != nil {
				return nil, rawReadErr(err)
			}
			tb.skipped = true
			return nil, tb
		}
		b, err := c.in.appendPayload(nil, n)
		if err != nil {
			return nil, rawReadErr(err)
		}
		if b == nil {
			b = []byte{}
		}
		switch typ {
		case rawFrameWAMP:
			return b, nil
		case rawFramePing:
			_ = c.conn.SetWriteDeadline(time.Now().Add(c.writeTimeout))
			if err := c.writeFrame(rawFramePong, b, true); err != nil {
				return nil, err
			}
		}
		if c.seen != nil {
			c.seen()
		}
	}
}

func (c *rawConn) writeFrame(typ byte, b []byte, flush bool) error {
	if len(b) > c.sendLimit {
		return fmt.Errorf("rawsocket: %d-byte message exceeds the client's limit of %d: %w", len(b), c.sendLimit, errMessageTooBig)
	}
	n := len(b)
	if err := c.w.writeFrame([]byte{typ, byte(n >> 16), byte(n >> 8), byte(n)}, b); err != nil {
		return err
	}
	if flush {
		return c.w.flush()
	}
	return nil
}

func (c *rawConn) WriteFrame(b []byte) error { return c.writeFrame(rawFrameWAMP, b, false) }

func (c *rawConn) Flush() error { return c.w.flush() }

func (c *rawConn) WritePing() error { return c.writeFrame(rawFramePing, nil, true) }

func (c *rawConn) WriteClose(bool, string) {}

func (c *rawConn) WriteRestart() {}

func (c *rawConn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }

func (c *rawConn) Close() error { return c.conn.Close() }
