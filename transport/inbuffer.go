package transport

import (
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"time"
)

// inBufferSize is a session's read buffer: frame headers and small
// messages are read through it; larger payloads are read straight into
// their own slices.
const inBufferSize = 1024

// inBuffer is a minimal buffered reader for frame parsers. Unlike
// bufio.Reader it lets a payload be read directly into its destination.
type inBuffer struct {
	conn   net.Conn
	buf    []byte // from inBufferPool while in use
	pooled *[]byte
	r, w   int // buffered data is buf[r:w]

	// deadline is the read deadline that tells an idle client (zero: none).
	// wait renews it only when less than half of idle is left, so that a
	// busy session does not pay for it per message; a read in the middle
	// of a frame that meets it extends it (the client is sending, slowly).
	deadline time.Time
	idle     time.Duration

	// msgTimeout bounds the reading of one message (or control frame) from
	// its first byte, msgStart (zero: no bound). A client that trickles a
	// message is cut off when it is up, whatever the idle deadline says.
	msgTimeout time.Duration
	msgStart   time.Time
	// msgDeadline: the connection's read deadline was set for msgTimeout
	// alone (no idle deadline was in force), so wait clears it.
	msgDeadline bool
}

// errMessageTimeout reports a message that took longer than msgTimeout to
// arrive.
var errMessageTimeout = errors.New("transport: message not received within the message read timeout")

// firstAlloc is the most a payload buffer is given before its bytes
// arrive: a frame's declared length is a promise, not memory to hold.
const firstAlloc = 16 << 10

var inBufferPool = sync.Pool{New: func() any { b := make([]byte, inBufferSize); return &b }}

// errIdle reports that the client sent nothing for the idle time given to
// wait.
var errIdle = errors.New("transport: no input")

// wait returns once input is buffered. With idle > 0 it gives up after
// between idle/2 and idle without input, returns errIdle and gives its
// buffer back to the pool (the session is idle: it holds no buffer).
func (b *inBuffer) wait(idle time.Duration) error {
	if b.r < b.w {
		return nil
	}
	if idle <= 0 {
		if !b.deadline.IsZero() {
			b.deadline = time.Time{}
			b.msgDeadline = false
			_ = b.conn.SetReadDeadline(b.deadline)
		}
		return b.fillFrom(1, false)
	}
	if b.msgDeadline {
		b.deadline, b.msgDeadline = time.Time{}, false
	}
	b.idle = idle
	if now := time.Now(); b.deadline.Sub(now) < idle/2 {
		b.deadline = now.Add(idle)
		_ = b.conn.SetReadDeadline(b.deadline)
	}
	err := b.fillFrom(1, false)
	if err != nil && b.r == b.w && errors.Is(err, os.ErrDeadlineExceeded) {
		inBufferPool.Put(b.pooled)
		b.buf, b.pooled = nil, nil
		return errIdle
	}
	return err
}

// fill makes at least n (<= inBufferSize) bytes of a frame available to
// next.
func (b *inBuffer) fill(n int) error { return b.fillFrom(n, true) }

func (b *inBuffer) fillFrom(n int, midFrame bool) error {
	if b.w-b.r >= n {
		return nil
	}
	if b.buf == nil {
		b.pooled = inBufferPool.Get().(*[]byte)
		b.buf = *b.pooled
	}
	if b.r > 0 {
		b.w = copy(b.buf, b.buf[b.r:b.w])
		b.r = 0
	}
	for b.w < n {
		m, err := b.read(b.buf[b.w:], midFrame)
		b.w += m
		if err != nil && b.w < n {
			if err == io.EOF && b.w > 0 {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// startMessage starts the clock of msgTimeout for the message (or control
// frame) whose first byte is next.
func (b *inBuffer) startMessage() {
	if b.msgTimeout <= 0 {
		return
	}
	b.msgStart = time.Now()
	if b.deadline.IsZero() {
		b.deadline, b.msgDeadline = b.msgStart.Add(b.msgTimeout), true
		_ = b.conn.SetReadDeadline(b.deadline)
	}
}

// read reads from the connection; in the middle of a frame, a read that
// meets the idle deadline extends it (up to the message's deadline) and
// reads on.
func (b *inBuffer) read(p []byte, midFrame bool) (int, error) {
	for {
		n, err := b.conn.Read(p)
		if n == 0 && midFrame && !b.deadline.IsZero() && errors.Is(err, os.ErrDeadlineExceeded) {
			now := time.Now()
			next := now.Add(b.idle)
			if b.msgTimeout > 0 {
				limit := b.msgStart.Add(b.msgTimeout)
				if !now.Before(limit) {
					return 0, errMessageTimeout
				}
				if b.idle <= 0 || next.After(limit) {
					next = limit
				}
			}
			if b.idle <= 0 && b.msgTimeout <= 0 {
				return n, err
			}
			b.deadline = next
			_ = b.conn.SetReadDeadline(b.deadline)
			continue
		}
		return n, err
	}
}

// appendPayload reads n more bytes of a payload onto dst. The buffer grows
// with the bytes that arrive (from at most firstAlloc), so that a client
// announcing a large frame and sending nothing holds no memory for it.
func (b *inBuffer) appendPayload(dst []byte, n int) ([]byte, error) {
	for n > 0 {
		step := n
		if room := cap(dst) - len(dst); step > room {
			grow := max(len(dst), firstAlloc)
			step = min(n, max(room, grow))
			if step > room {
				dst = slices.Grow(dst, step)
			}
		}
		start := len(dst)
		dst = dst[:start+step]
		if err := b.readInto(dst[start:]); err != nil {
			return nil, err
		}
		n -= step
	}
	return dst, nil
}

// next consumes n bytes made available by fill.
func (b *inBuffer) next(n int) []byte {
	p := b.buf[b.r : b.r+n]
	b.r += n
	if b.r == b.w {
		b.r, b.w = 0, 0
	}
	return p
}

// readInto fills p from the buffer, then from the connection.
func (b *inBuffer) readInto(p []byte) error {
	n := copy(p, b.buf[b.r:b.w])
	b.r += n
	if b.r == b.w {
		b.r, b.w = 0, 0
	}
	for n < len(p) {
		m, err := b.read(p[n:], true)
		n += m
		if err != nil && n < len(p) {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}
