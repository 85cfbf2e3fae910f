package transport

import (
	"net"
	"sync"
)

// batchSize is the size of the pooled buffer that coalesces the frames of one
// write batch into a single write.
const batchSize = 64 << 10

var batchPool = sync.Pool{New: func() any { b := make([]byte, 0, batchSize); return &b }}

// batchWriter coalesces whole frames into one conn.Write per flush. It holds
// a buffer only while a batch is being written, so idle sessions cost
// nothing. Every Write carries whole frames, so writes made directly on the
// connection by other code (WebSocket control frames) never split a frame.
type batchWriter struct {
	conn net.Conn
	mu   sync.Mutex
	buf  *[]byte
}

// writeFrame appends a frame (header then payload) to the batch.
func (w *batchWriter) writeFrame(header, payload []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(header) + len(payload)
	if w.buf != nil && len(*w.buf)+n > cap(*w.buf) {
		if err := w.flushLocked(); err != nil {
			return err
		}
	}
	if n > batchSize {
		// Too big to coalesce: send it on its own, without copying.
		bufs := net.Buffers{header, payload}
		_, err := bufs.WriteTo(w.conn)
		return err
	}
	if w.buf == nil {
		w.buf = batchPool.Get().(*[]byte)
	}
	*w.buf = append(append(*w.buf, header...), payload...)
	return nil
}

// flush writes the batch and returns its buffer to the pool.
func (w *batchWriter) flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *batchWriter) flushLocked() error {
	if w.buf == nil {
		return nil
	}
	_, err := w.conn.Write(*w.buf)
	*w.buf = (*w.buf)[:0]
	batchPool.Put(w.buf)
	w.buf = nil
	return err
}
