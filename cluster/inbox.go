package cluster

import (
	"sync"

	"github.com/nats-io/nats.go"
)

// inboxQueue holds other nodes' publications in arrival order until they
// are delivered, bounded in bytes.
type inboxQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	msgs   []*nats.Msg
	bytes  int
	max    int
	closed bool
}

func newInboxQueue(max int) *inboxQueue {
	q := &inboxQueue{max: max}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// push queues m unless that would exceed the bound (a message larger than
// the bound is queued when the queue is empty) and reports whether it did.
func (q *inboxQueue) push(m *nats.Msg) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || (q.bytes > 0 && q.bytes+len(m.Data) > q.max) {
		return false
	}
	q.msgs = append(q.msgs, m)
	q.bytes += len(m.Data)
	q.cond.Signal()
	return true
}

// pop waits for the next message; false once the queue is closed.
func (q *inboxQueue) pop() (*nats.Msg, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.msgs) == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return nil, false
	}
	m := q.msgs[0]
	q.msgs[0] = nil
	q.msgs = q.msgs[1:]
	q.bytes -= len(m.Data)
	return m, true
}

// size returns the queued bytes.
func (q *inboxQueue) size() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}

func (q *inboxQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}
