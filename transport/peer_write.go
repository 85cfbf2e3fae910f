package transport

import (
	"errors"
	"fmt"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
)

// writeLoop writes what nexus and the broker queue for the client. It
// exits once idle for opts.IdleAfter, and for good when the connection
// ends.
func (p *Peer) writeLoop() {
	if a := p.opts.Activity; a != nil {
		a.writers.Add(1)
		defer a.writers.Add(-1)
	}
	idle := time.NewTimer(p.opts.IdleAfter)
	defer idle.Stop()
	calls := p.sendCalls.Load()
	var lastWrite time.Time
	for {
		var err error
		select {
		case msg := <-p.out:
			err = p.writeBatch(msg, time.Now().Add(p.opts.WriteTimeout))
			lastWrite = time.Now()
		case <-p.notify:
			msg := p.coalesce(lastWrite)
			err = p.writeBatch(msg, time.Now().Add(p.opts.WriteTimeout))
			lastWrite = time.Now()
		case <-idle.C:
			if n := p.sendCalls.Load(); n != calls {
				calls = n
			} else if p.stopIdle() {
				return
			}
		case <-p.readerGone:
			// The client is gone or broke the protocol: send what is queued
			// (such as an ABORT) while the socket may still take it.
			p.finish(func() { p.flushOnClose() })
			return
		case <-p.closing:
			p.finish(func() { p.flushOnClose() })
			return
		}
		if errors.Is(err, errSlowConsumer) {
			p.finish(p.sayGoodbyeSlow)
			return
		}
		if err != nil {
			p.log.Debug("transport write failed", "error", err)
			p.finish(p.closeConn)
			return
		}
		idle.Reset(p.opts.IdleAfter)
	}
}

// coalesce waits, if WriteDelay is set, the router is busy and the
// previous write was less than WriteDelay ago, until WriteDelay after it,
// so that frames queued meanwhile share the next write. It returns early for a frame queued
// with EnqueueFrameNow, a message from nexus (which it returns, to be
// written first), or the end of the connection.
func (p *Peer) coalesce(lastWrite time.Time) wamp.Message {
	d := p.opts.WriteDelay
	if d <= 0 || p.urgent.Swap(false) || !p.opts.Activity.Busy() {
		return nil
	}
	wait := d - time.Since(lastWrite)
	if wait <= 0 {
		return nil // idle for a while: write at once
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return nil
		case msg := <-p.out:
			return msg
		case <-p.notify:
			if p.urgent.Swap(false) {
				return nil
			}
		case <-p.closing:
			return nil
		case <-p.readerGone:
			return nil
		}
	}
}

// stopIdle ends an idle writer and reports whether it did: if something
// became writable meanwhile, the writer carries on (or a new one has).
func (p *Peer) stopIdle() bool {
	p.writer.Store(writerIdle)
	if p.hasWork() && p.writer.CompareAndSwap(writerIdle, writerRunning) {
		return false
	}
	// A nexus goroutine preempted for over a second between Send() and
	// its send on the channel would leave a message behind: look again.
	p.recheck.Reset(p.opts.IdleAfter)
	return true
}

func (p *Peer) hasWork() bool {
	if len(p.out) > 0 || len(p.notify) > 0 {
		return true
	}
	select {
	case <-p.closing:
		return true
	case <-p.readerGone:
		return true
	default:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.frames) > 0 || p.slow
}

// finish ends the writer for good: it runs last (a final flush or close),
// then keeps nexus's sends from blocking until Close.
func (p *Peer) finish(last func()) {
	p.writer.Store(writerFinished)
	last()
	p.discardUntilClosed()
	close(p.writerDone)
}

// ping sends a keepalive ping, or closes a connection silent for two
// intervals (its reader then ends the session).
func (p *Peer) ping() {
	select {
	case <-p.closing:
		return
	case <-p.readerGone:
		return
	default:
	}
	if silent := time.Since(time.Unix(0, p.lastSeen.Load())); unresponsive(silent, p.opts.PingInterval) {
		p.log.Info("closing unresponsive connection", "silent_for", silent.Round(time.Millisecond).String())
		p.closeConn()
		return
	}
	p.restartIfPending()
	_ = p.conn.SetWriteDeadline(time.Now().Add(p.opts.WriteTimeout))
	if err := p.conn.WritePing(); err != nil {
		p.log.Debug("transport ping failed", "error", err)
		p.closeConn()
		return
	}
	p.pinger.Reset(p.opts.PingInterval)
}

// keepaliveIntervals is how many ping intervals a client may stay silent
// (no frame, no pong) before it is disconnected.
const keepaliveIntervals = 2

// unresponsive reports whether a client silent for silent has missed the
// keepalive of interval.
func unresponsive(silent, interval time.Duration) bool {
	return silent > keepaliveIntervals*interval
}

var errSlowConsumer = errors.New("transport: slow consumer")

// writeBatch writes msg (if any), the frames queued by the broker and
// whatever else nexus has queued, then flushes once: several pending
// messages cost one write on RawSocket.
func (p *Peer) writeBatch(msg wamp.Message, deadline time.Time) error {
	if err := p.conn.SetWriteDeadline(deadline); err != nil {
		return err
	}
	for {
		if msg != nil {
			if err := p.writeMessage(msg); err != nil {
				return err
			}
		}
		p.mu.Lock()
		frames, slow, queued := p.frames, p.slow, p.queuedBytes
		p.frames, p.queuedBytes = nil, 0
		p.mu.Unlock()
		if p.opts.Observer != nil && queued > 0 {
			p.opts.Observer.QueuedBytes(queued)
		}
		if slow {
			return errSlowConsumer
		}
		for _, b := range frames {
			if err := p.conn.WriteFrame(b); err != nil {
				return err
			}
		}
		select {
		case msg = <-p.out:
			continue
		default:
		}
		if len(frames) > 0 {
			// More may have been queued while these were written.
			p.mu.Lock()
			more := len(p.frames) > 0 || p.slow
			p.mu.Unlock()
			if more {
				msg = nil
				continue
			}
		}
		return p.conn.Flush()
	}
}

func (p *Peer) writeMessage(msg wamp.Message) error {
	switch m := msg.(type) {
	case *wamp.Welcome:
		if !p.opening.CompareAndSwap(openingSession, openingWelcomed) {
			return nil // AbortOpening came first: no session
		}
		p.welcome(m)
	case *wamp.Goodbye:
		if p.restart.Load() {
			return nil // a restart ends without GOODBYE, or clients stay away
		}
	}
	if r, ok := p.route.Load().(OutboundRewriter); ok {
		if msg = r.Outbound(msg); msg == nil {
			return nil
		}
	}
	b, err := p.serializer.codec.Serialize(msg)
	if err != nil {
		// A message nexus built that cannot be encoded is a bug in its
		// arguments: drop that message loudly rather than the session.
		p.log.Error("cannot encode message", "type", msg.MessageType().String(), "error", err)
		return nil
	}
	if p.opts.Observer != nil {
		p.opts.Observer.Sent(msg.MessageType())
	}
	return p.conn.WriteFrame(b)
}

// welcome sees the session welcomed, as WELCOME is written: the route is
// set and the opening's limits and state are dropped.
func (p *Peer) welcome(w *wamp.Welcome) {
	p.conn.readLimits().welcome()
	p.headers.Store(nil) // authentication is over: hold no cookies
	// nor the HELLO (nexus keeps its own copy of what it needs).
	if hello := p.hello.Swap(nil); hello != nil && p.hooks != nil {
		if r := p.hooks.Welcome(p, hello, w); r != nil {
			p.route.Store(r)
			select {
			case <-p.readerGone:
				p.leave() // the client left during the hook, before there was a route to leave
			default:
			}
		}
	}
	p.welcomeOnce.Do(func() { close(p.welcomed) })
}

// sayGoodbyeSlow tells a slow consumer why it is disconnected and closes the
// connection; nexus then ends the session.
func (p *Peer) sayGoodbyeSlow() {
	_ = p.conn.SetWriteDeadline(time.Now().Add(time.Second))
	if p.restart.Load() {
		p.conn.WriteRestart() // no GOODBYE in a restart: the client comes back
		p.closeConn()
		return
	}
	gb := &wamp.Goodbye{Reason: SlowConsumerReason, Details: wamp.Dict{
		"message": fmt.Sprintf("outbound queue exceeded %d bytes", p.opts.MaxQueueBytes),
	}}
	if b, err := p.serializer.codec.Serialize(gb); err == nil {
		_ = p.conn.WriteFrame(b)
		_ = p.conn.Flush()
	}
	p.conn.WriteClose(true, SlowConsumerReason)
	p.closeConn()
}

// flushOnClose sends what is queued, then a closing frame.
func (p *Peer) flushOnClose() {
	deadline := time.Now().Add(closeFlushTimeout)
	for {
		var msg wamp.Message
		select {
		case msg = <-p.out:
		default:
		}
		p.mu.Lock()
		pending := len(p.frames) > 0
		p.mu.Unlock()
		if msg == nil && !pending {
			break
		}
		if err := p.writeBatch(msg, deadline); err != nil {
			return
		}
	}
	_ = p.conn.SetWriteDeadline(deadline)
	if p.restart.Load() {
		p.conn.WriteRestart()
		return
	}
	p.conn.WriteClose(false, "")
}

// discardUntilClosed keeps nexus's sends from blocking once the connection
// is gone, until Close.
func (p *Peer) discardUntilClosed() {
	for {
		select {
		case <-p.out:
		case <-p.closing:
			return
		}
	}
}
