package transport

import (
	"errors"
	"io"
	"net"
	"os"
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
}

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
			_ = b.conn.SetReadDeadline(b.deadline)
		}
		return b.fillFrom(1, false)
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

// read reads from the connection; in the middle of a frame, a read that
// meets the idle deadline extends it and reads on.
func (b *inBuffer) read(p []byte, midFrame bool) (int, error) {
	for {
		n, err := b.conn.Read(p)
		if n == 0 && midFrame && !b.deadline.IsZero() && errors.Is(err, os.ErrDeadlineExceeded) {
			b.deadline = time.Now().Add(b.idle)
			_ = b.conn.SetReadDeadline(b.deadline)
			continue
		}
		return n, err
	}
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
