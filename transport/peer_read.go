package transport

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/gammazero/nexus/v3/wamp"
)

// socketOf returns the socket under c, or nil. Under TLS it is the TCP
// connection's: parking waits only after a read timed out, when crypto/tls
// holds no decrypted input (a partial record waits for more bytes, which
// wake the poller).
func socketOf(c net.Conn) syscall.RawConn {
	if t, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = t.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// readLoop reads the client's messages. It waits for input in a shallow
// frame of its own, so the stack of an idle session's reader stays small
// (the runtime shrinks stacks to what a parked goroutine uses); with a
// Poller, an idle reader exits instead, and the poller starts another when
// input arrives.
func (p *Peer) readLoop() {
	for {
		err := p.conn.WaitInput(p.parkAfter)
		if errors.Is(err, errIdle) {
			if p.park() {
				return
			}
			continue
		}
		if err != nil {
			p.readFailed(err)
			p.readEnded()
			return
		}
		if !p.readMessage() {
			p.readEnded()
			return
		}
	}
}

// park hands the idle connection to the poller and reports whether the
// reader goroutine is to exit.
func (p *Peer) park() bool {
	p.reader.Store(readerParked)
	if err := p.opts.Poller.arm(p.raw, &p.pollReg, p.unpark); err != nil {
		if p.reader.CompareAndSwap(readerParked, readerRunning) {
			p.log.Debug("transport cannot park idle connection", "error", err)
			p.parkAfter = 0 // read with a goroutine from now on
			return false
		}
		return true // closeConn started a reader meanwhile
	}
	return true
}

// unpark starts a reader for a parked connection.
func (p *Peer) unpark() {
	if p.reader.CompareAndSwap(readerParked, readerRunning) {
		go p.readLoop()
	}
}

// closeConn closes the connection; a parked reader is woken to see it.
func (p *Peer) closeConn() {
	_ = p.conn.Close()
	p.unpark()
}

func (p *Peer) readEnded() {
	if p.pollReg.added {
		p.opts.Poller.forget(p.raw, &p.pollReg)
	}
	close(p.readerGone)
	p.startWriter() // to flush what is queued and wait for Close
	p.leave()
	p.inMu.Lock() // no Deliver is sending any more
	close(p.in)
	p.inMu.Unlock()
	close(p.readerDone)
}

func (p *Peer) readFailed(err error) {
	switch {
	case errors.Is(err, errMessageTimeout):
		p.refused("read_timeout")
		p.log.Info("disconnecting client that sends too slowly", "message_read_timeout", p.opts.MessageReadTimeout.String())
	case !errors.Is(err, errClosed):
		p.log.Debug("transport read ended", "error", err)
	}
}

// readMessage reads one message and routes it: to the session's Route or to
// nexus. It reports whether reading goes on.
func (p *Peer) readMessage() bool {
	b, err := p.conn.ReadFrame()
	var tooBig *tooBigError
	if errors.As(err, &tooBig) {
		p.seen()
		return p.refuseTooBig(tooBig)
	}
	if err != nil {
		p.readFailed(err)
		return false
	}
	p.seen()
	if err := CheckNesting(p.serializer.Name, b, p.opts.MaxNestingDepth, p.opts.MaxMessageItems); err != nil {
		var ie *itemsError
		if errors.As(err, &ie) {
			return p.refuseTooBig(&tooBigError{size: len(b), limit: p.conn.readLimits().get(),
				prefix: b[:min(len(b), tooBigPrefix)], skipped: true, items: ie.limit})
		}
		var ne *nestingError
		if errors.As(err, &ne) {
			p.refused("nesting")
		}
		p.abort(wamp.ErrProtocolViolation, fmt.Sprintf("cannot decode message: %v", err))
		return false
	}
	msg, err := p.serializer.codec.Deserialize(b)
	if err != nil {
		p.abort(wamp.ErrProtocolViolation, fmt.Sprintf("cannot decode message: %v", err))
		return false
	}
	if p.opts.Observer != nil {
		p.opts.Observer.Received(msg.MessageType())
	}
	return p.dispatch(msg)
}

// dispatch routes a client's message: to the session's Route or to nexus.
// It reports whether reading goes on.
func (p *Peer) dispatch(msg wamp.Message) bool {
	dropNullOptions(msg)
	if p.saidGoodbye.Load() {
		// The session ended with the client's GOODBYE: what it sends on the
		// connection afterwards belongs to no session (WAMP: a new session
		// starts with HELLO on a new connection).
		return true
	}
	if _, ok := msg.(*wamp.Goodbye); ok {
		p.saidGoodbye.Store(true)
		// The session is over for the router's own parts now (its
		// registrations and subscriptions go), not when the connection
		// finally closes.
		defer p.leave()
	}
	switch msg.(type) {
	case *wamp.Hello:
		// One HELLO per connection: the session, its realm and its
		// identity are those of the first (WAMP: a second HELLO is a
		// protocol error).
		if p.greeted.Swap(true) {
			p.refused("second_hello")
			p.abort(wamp.ErrProtocolViolation, "HELLO received after the session's HELLO")
			return false
		}
		hello := msg.(*wamp.Hello)
		if p.hooks != nil {
			p.hooks.Hello(hello)
		}
		p.hello.Store(hello)
	case *wamp.Authenticate, *wamp.Abort, *wamp.Goodbye:
		// Part of opening (or ending) the session: straight to nexus.
		if r, ok := p.route.Load().(Route); ok && r.Handle(msg) {
			return true
		}
	default:
		// A client may pipeline messages after its HELLO: they wait until
		// the session is welcomed, so that the Route (broker, limits) sees
		// each of them.
		if p.greeted.Load() && !p.awaitWelcome() {
			return false
		}
		if r, ok := p.route.Load().(Route); ok && r.Handle(msg) {
			return true
		}
	}
	select {
	case p.in <- msg:
		return true
	case <-p.closing:
		return false
	}
}

// refuseTooBig answers a message over the size limit. If its rest was
// dropped and the message is a request, the client gets ERROR
// wamp.error.payload_size_exceeded (a callee's oversized YIELD or ERROR
// becomes that ERROR for the caller) and the session goes on; otherwise
// the session ends with that reason.
func (p *Peer) refuseTooBig(e *tooBigError) bool {
	req, known := readOversized(p.serializer.Name, e.prefix)
	reason := fmt.Sprintf("message of %d bytes exceeds the limit of %d bytes", e.size, e.limit)
	if e.items > 0 {
		p.refused("items")
		reason = e.Error()
		p.log.Info("message over max_message_items refused", "max_message_items", e.items,
			"type", req.typ.String(), "session_kept", known)
	} else {
		p.refused("too_big")
		p.log.Info("message over max_message_size refused", "size", e.size, "max_message_size", e.limit,
			"type", req.typ.String(), "session_kept", e.skipped && known)
	}
	welcomed := false
	select {
	case <-p.welcomed:
		welcomed = true
	default:
	}
	if !e.skipped || !known || !welcomed {
		p.endSession(ErrPayloadSizeExceeded, reason, welcomed)
		return false
	}
	details := wamp.Dict{}
	args := wamp.List{reason}
	switch {
	case req.invocation:
		// The caller is told, through the dealer, as if the callee had
		// answered with the error.
		return p.dispatch(&wamp.Error{Type: wamp.INVOCATION, Request: req.request, Details: details,
			Error: ErrPayloadSizeExceeded, Arguments: args})
	case req.typ == wamp.PUBLISH && !req.acknowledge:
		return true // nobody waits for an answer; logged and counted
	case req.typ == wamp.PUBLISH, req.typ == wamp.CALL, req.typ == wamp.SUBSCRIBE, req.typ == wamp.REGISTER:
		b, err := p.serializer.codec.Serialize(&wamp.Error{Type: req.typ, Request: req.request, Details: details,
			Error: ErrPayloadSizeExceeded, Arguments: args})
		if err != nil {
			p.endSession(ErrPayloadSizeExceeded, reason, welcomed)
			return false
		}
		return p.EnqueueFrame(b)
	}
	p.endSession(ErrPayloadSizeExceeded, reason, welcomed)
	return false
}

// endSession tells the client why its session ends: GOODBYE once it was
// welcomed, ABORT before.
func (p *Peer) endSession(reason wamp.URI, message string, welcomed bool) {
	if !welcomed {
		p.abort(reason, message)
		return
	}
	p.log.Info("session ended by transport", "reason", string(reason), "message", message)
	select {
	case p.out <- &wamp.Goodbye{Reason: reason, Details: wamp.Dict{"message": message}}:
	default:
	}
	p.startWriter()
}

// awaitWelcome waits until WELCOME is written, and reports false if the
// connection closes first.
func (p *Peer) awaitWelcome() bool {
	select {
	case <-p.welcomed:
		return true
	default:
	}
	select {
	case <-p.welcomed:
		return true
	case <-p.closing:
		return false
	}
}

// Deliver hands nexus msg as if the client had sent it, without waiting:
// the router uses it to answer on a client's behalf (an INTERRUPT the
// client never announced it could take). Dropped once the connection ends.
func (p *Peer) Deliver(msg wamp.Message) {
	go func() {
		p.inMu.RLock()
		defer p.inMu.RUnlock()
		select {
		case <-p.readerGone:
			return // p.in closes, or has closed
		default:
		}
		select {
		case p.in <- msg:
		case <-p.readerGone:
		case <-p.closing:
		}
	}()
}

// refused counts a message refused by a limit.
func (p *Peer) refused(reason string) {
	if p.opts.OnRefused != nil {
		p.opts.OnRefused(reason)
	}
}

// abort queues an ABORT for the client; the router then closes the peer.
func (p *Peer) abort(reason wamp.URI, message string) {
	p.log.Info("session aborted by transport", "reason", string(reason), "message", message)
	select {
	case p.out <- &wamp.Abort{Reason: reason, Details: wamp.Dict{"message": message}}:
	default:
	}
	p.startWriter()
}
