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
}

var inBufferPool = sync.Pool{New: func() any { b := make([]byte, inBufferSize); return &b }}

// errIdle reports that the client sent nothing for the idle time given to
// wait.
var errIdle = errors.New("transport: no input")

// wait returns once input is buffered. With idle > 0 it gives up after that
// long without input, returns errIdle and gives its buffer back to the
// pool (the session is idle: it holds no buffer).
func (b *inBuffer) wait(idle time.Duration) error {
	if b.r < b.w {
		return nil
	}
	if idle <= 0 {
		return b.fill(1)
	}
	_ = b.conn.SetReadDeadline(time.Now().Add(idle))
	err := b.fill(1)
	_ = b.conn.SetReadDeadline(time.Time{})
	if err != nil && b.r == b.w && errors.Is(err, os.ErrDeadlineExceeded) {
		inBufferPool.Put(b.pooled)
		b.buf, b.pooled = nil, nil
		return errIdle
	}
	return err
}

// fill makes at least n (<= inBufferSize) bytes available to next.
func (b *inBuffer) fill(n int) error {
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
		m, err := b.conn.Read(b.buf[b.w:])
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
	if n == len(p) {
		return nil
	}
	if _, err := io.ReadFull(b.conn, p[n:]); err != nil {
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}
