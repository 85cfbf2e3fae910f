package transport

import (
	"io"
	"net"
)

// inBufferSize is a session's read buffer: frame headers and small
// messages are read through it; larger payloads are read straight into
// their own slices.
const inBufferSize = 1024

// inBuffer is a minimal buffered reader for frame parsers. Unlike
// bufio.Reader it lets a payload be read directly into its destination.
type inBuffer struct {
	conn net.Conn
	buf  []byte // allocated on first read
	r, w int    // buffered data is buf[r:w]
}

// fill makes at least n (<= inBufferSize) bytes available to next.
func (b *inBuffer) fill(n int) error {
	if b.w-b.r >= n {
		return nil
	}
	if b.buf == nil {
		b.buf = make([]byte, inBufferSize)
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
