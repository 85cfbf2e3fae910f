package transport

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gammazero/nexus/v3/transport/serialize"
	"github.com/gammazero/nexus/v3/wamp"
)

// PeerOptions configure a peer.
type PeerOptions struct {
	// MaxQueueBytes bounds the encoded messages waiting to be written to the
	// client. A client that falls further behind is disconnected as a slow
	// consumer. Default 1 MiB.
	MaxQueueBytes int
	// PingInterval sends a keepalive ping this often; a peer silent for two
	// intervals is disconnected. Zero disables pings.
	PingInterval time.Duration
	// WriteTimeout bounds every write. Default 10s.
	WriteTimeout time.Duration
	// OnHello, when set, sees (and may change) the client's HELLO before
	// nexus does; what it returns is handed to OnWelcome.
	OnHello func(hello *wamp.Hello) any
	// OnWelcome, when set, is called as the router welcomes the session, before
	// WELCOME is written. The Route it returns sees every later inbound
	// message first.
	OnWelcome func(p *Peer, hello *wamp.Hello, helloState any, welcome *wamp.Welcome) Route
	// OnSlowConsumer, when set, is called when the peer is disconnected for
	// falling behind.
	OnSlowConsumer func()
	// Observer, when set, counts the peer's traffic.
	Observer Observer
	// Logger receives transport events. Default: discard.
	Logger *slog.Logger
	// Poller, when set, takes over the connection of a client silent for
	// IdleAfter, so that an idle session has no reader goroutine.
	Poller *Poller
	// IdleAfter is how long the reader waits for input before it parks the
	// connection in Poller, and how long the writer waits for something to
	// write before it exits. Default 1s.
	IdleAfter time.Duration
}

// Observer counts what peers see (for metrics). Methods must be cheap.
type Observer interface {
	// Received counts a message from the client.
	Received(t wamp.MessageType)
	// Sent counts a message from nexus written to the client (the broker
	// counts its own).
	Sent(t wamp.MessageType)
	// QueuedBytes reports the outbound queue's size as a write batch starts.
	QueuedBytes(n int)
}

// Route takes the messages of an established session that the router
// handles outside nexus (publish and subscribe).
type Route interface {
	// Handle processes msg and reports whether it consumed it; messages not
	// consumed go to nexus.
	Handle(msg wamp.Message) bool
	// Leave is called once when the session ends.
	Leave()
}

// OutboundRewriter is a Route that may change or drop (by returning nil) the
// messages nexus sends to its session, before they are encoded.
type OutboundRewriter interface {
	Outbound(msg wamp.Message) wamp.Message
}

// SlowConsumerReason is the GOODBYE reason sent to a client disconnected
// because its outbound queue exceeded MaxQueueBytes.
const SlowConsumerReason = "switchboard.error.slow_consumer"

const (
	defaultMaxQueueBytes = 1 << 20
	defaultWriteTimeout  = 10 * time.Second
	// nexusQueueSize is the capacity of the channel nexus sends on (RPC and
	// session messages); the writer drains it continuously.
	nexusQueueSize = 64
	// closeFlushTimeout bounds how long Close spends sending what is queued.
	closeFlushTimeout = 2 * time.Second
	// defaultIdleAfter: a writer with nothing to write for this long exits,
	// and a reader without input for this long parks its connection.
	defaultIdleAfter = time.Second
)

// Reader states: with a Poller, an idle session's reader is parked.
const (
	readerRunning int32 = iota
	readerParked
)

// Writer states: a peer's writer goroutine runs only while there is
// something to write.
const (
	writerIdle int32 = iota
	writerRunning
	writerFinished // the connection is over; no writer starts again
)

// frameConn is one framed connection: WebSocket or RawSocket.
type frameConn interface {
	// WaitInput blocks until the client has sent something; with idle > 0,
	// for at most that long (then it returns errIdle).
	WaitInput(idle time.Duration) error
	// ReadFrame returns the next WAMP message payload.
	ReadFrame() ([]byte, error)
	// WriteFrame writes one WAMP message, possibly buffered until Flush.
	WriteFrame([]byte) error
	Flush() error
	WritePing() error
	// WriteClose tells the other side that the connection ends (best effort);
	// policy reports a policy violation such as a slow consumer.
	WriteClose(policy bool, reason string)
	SetWriteDeadline(time.Time) error
	Close() error
	netConn() net.Conn
}

// livenessReporter is a frameConn that sees control frames (pongs) the peer
// does not, and reports them as signs of life.
type livenessReporter interface {
	reportLiveness(func())
}

// Peer is a remote WAMP client. nexus sees it as a wamp.Peer; the broker
// writes already-encoded messages to it with EnqueueFrame.
type Peer struct {
	conn       frameConn
	serializer Serializer
	opts       PeerOptions
	log        *slog.Logger

	in  chan wamp.Message // to nexus
	out chan wamp.Message // from nexus

	mu          sync.Mutex
	frames      [][]byte // encoded messages from the broker, in order
	queuedBytes int
	slow        bool
	notify      chan struct{} // capacity 1: frames were queued

	hello   atomic.Pointer[helloRecord] // until WELCOME
	headers atomic.Pointer[http.Header] // upgrade request headers, until WELCOME
	route   atomic.Value                // Route, set when the session is welcomed
	left    sync.Once

	lastSeen atomic.Int64 // unix nanoseconds of the last inbound frame or pong

	// writer is the writer goroutine's state; sendCalls counts calls of
	// Send, so that the writer does not exit between nexus's call of Send
	// and its send on the channel returned.
	writer    atomic.Int32
	sendCalls atomic.Uint64
	// recheck restarts the writer if a message reached out after it exited
	// (see stopIdle); pinger sends keepalive pings.
	recheck *time.Timer
	pinger  *time.Timer

	// reader is the reader goroutine's state; raw, parkAfter and pollReg
	// are set when the connection can be parked in opts.Poller.
	reader    atomic.Int32
	raw       syscall.RawConn
	parkAfter time.Duration
	pollReg   pollRegistration

	closing    chan struct{}
	closeOnce  sync.Once
	writerDone chan struct{}
	readerDone chan struct{}
	readerGone chan struct{} // closed when the reader stops for any reason
}

var _ wamp.Peer = (*Peer)(nil)

func newPeer(conn frameConn, s Serializer, opts PeerOptions) *Peer {
	if opts.MaxQueueBytes <= 0 {
		opts.MaxQueueBytes = defaultMaxQueueBytes
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = defaultWriteTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.IdleAfter <= 0 {
		opts.IdleAfter = defaultIdleAfter
	}
	p := &Peer{
		conn:       conn,
		serializer: s,
		opts:       opts,
		log:        opts.Logger,
		in:         make(chan wamp.Message),
		out:        make(chan wamp.Message, nexusQueueSize),
		notify:     make(chan struct{}, 1),
		closing:    make(chan struct{}),
		writerDone: make(chan struct{}),
		readerDone: make(chan struct{}),
		readerGone: make(chan struct{}),
	}
	p.seen()
	if l, ok := conn.(livenessReporter); ok {
		l.reportLiveness(p.seen)
	}
	p.recheck = time.AfterFunc(time.Hour, p.restartIfPending)
	p.recheck.Stop()
	if opts.PingInterval > 0 {
		p.pinger = time.AfterFunc(opts.PingInterval, p.ping)
	}
	if opts.Poller != nil {
		if rc := socketOf(conn.netConn()); rc != nil {
			p.raw, p.parkAfter = rc, opts.IdleAfter
		}
	}
	go p.readLoop()
	return p
}

// helloRecord is a client's HELLO with what OnHello returned for it.
type helloRecord struct {
	hello *wamp.Hello
	state any
}

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

// Recv returns the channel of messages from the client.
func (p *Peer) Recv() <-chan wamp.Message { return p.in }

// Send returns the channel of messages to the client.
func (p *Peer) Send() chan<- wamp.Message {
	p.sendCalls.Add(1)
	p.startWriter()
	return p.out
}

// startWriter starts the writer goroutine unless it runs (or the connection
// is over). Whoever makes something writable calls it afterwards.
func (p *Peer) startWriter() {
	if p.writer.Load() == writerIdle && p.writer.CompareAndSwap(writerIdle, writerRunning) {
		go p.writeLoop()
	}
}

// restartIfPending starts the writer if a message waits for it.
func (p *Peer) restartIfPending() {
	if len(p.out) > 0 {
		p.startWriter()
	}
}

// IsLocal reports false: the client is remote.
func (p *Peer) IsLocal() bool { return false }

// RequestHeaders returns the WebSocket upgrade request's headers while the
// session is being opened (for authenticators), nil afterwards and for
// RawSocket.
func (p *Peer) RequestHeaders() http.Header {
	if h := p.headers.Load(); h != nil {
		return *h
	}
	return nil
}

// Codec returns the session's message codec.
func (p *Peer) Codec() serialize.Serializer { return p.serializer.codec }

// EnqueueFrame queues an encoded message for the client. If the queue would
// exceed MaxQueueBytes, the client is disconnected as a slow consumer and
// EnqueueFrame returns false: a message is never dropped from a session that
// stays open.
func (p *Peer) EnqueueFrame(b []byte) bool {
	p.mu.Lock()
	if p.slow {
		p.mu.Unlock()
		return false
	}
	if p.queuedBytes+len(b) > p.opts.MaxQueueBytes {
		p.slow = true
		queued := p.queuedBytes
		p.frames = nil
		p.queuedBytes = 0
		p.mu.Unlock()
		p.log.Warn("disconnecting slow consumer", "queued_bytes", queued, "max_queue_bytes", p.opts.MaxQueueBytes)
		if p.opts.OnSlowConsumer != nil {
			p.opts.OnSlowConsumer()
		}
		p.wake()
		return false
	}
	p.frames = append(p.frames, b)
	p.queuedBytes += len(b)
	p.mu.Unlock()
	p.wake()
	return true
}

func (p *Peer) wake() {
	select {
	case p.notify <- struct{}{}:
	default:
	}
	p.startWriter()
}

// Close sends what is queued (for at most a couple of seconds), ends the
// connection and waits for the peer's goroutines to exit. Safe to call more
// than once.
func (p *Peer) Close() {
	p.closeOnce.Do(func() {
		close(p.closing)
		if p.pinger != nil {
			p.pinger.Stop()
		}
		p.recheck.Stop()
		p.startWriter()
		<-p.writerDone
		p.closeConn()
		<-p.readerDone
		p.leave()
	})
}

func (p *Peer) leave() {
	p.left.Do(func() {
		if r, ok := p.route.Load().(Route); ok {
			r.Leave()
		}
	})
}

func (p *Peer) seen() { p.lastSeen.Store(time.Now().UnixNano()) }

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
	close(p.in)
	close(p.readerDone)
}

func (p *Peer) readFailed(err error) {
	if !errors.Is(err, errClosed) {
		p.log.Debug("transport read ended", "error", err)
	}
}

// readMessage reads one message and routes it: to the session's Route or to
// nexus. It reports whether reading goes on.
func (p *Peer) readMessage() bool {
	b, err := p.conn.ReadFrame()
	if err != nil {
		p.readFailed(err)
		return false
	}
	p.seen()
	msg, err := p.serializer.codec.Deserialize(b)
	if err != nil {
		p.abort(wamp.ErrProtocolViolation, fmt.Sprintf("cannot decode message: %v", err))
		return false
	}
	if p.opts.Observer != nil {
		p.opts.Observer.Received(msg.MessageType())
	}
	if hello, ok := msg.(*wamp.Hello); ok {
		rec := &helloRecord{hello: hello}
		if p.opts.OnHello != nil {
			rec.state = p.opts.OnHello(hello)
		}
		p.hello.Store(rec)
	} else if r, ok := p.route.Load().(Route); ok && r.Handle(msg) {
		return true
	}
	select {
	case p.in <- msg:
		return true
	case <-p.closing:
		return false
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

// writeLoop writes what nexus and the broker queue for the client. It
// exits once idle for opts.IdleAfter, and for good when the connection
// ends.
func (p *Peer) writeLoop() {
	idle := time.NewTimer(p.opts.IdleAfter)
	defer idle.Stop()
	calls := p.sendCalls.Load()
	for {
		var err error
		select {
		case msg := <-p.out:
			err = p.writeBatch(msg, time.Now().Add(p.opts.WriteTimeout))
		case <-p.notify:
			err = p.writeBatch(nil, time.Now().Add(p.opts.WriteTimeout))
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
	if silent := time.Since(time.Unix(0, p.lastSeen.Load())); silent > 2*p.opts.PingInterval {
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
	if w, ok := msg.(*wamp.Welcome); ok {
		p.headers.Store(nil) // authentication is over: hold no cookies
		// nor the HELLO (nexus keeps its own copy of what it needs).
		if rec := p.hello.Swap(nil); rec != nil && p.opts.OnWelcome != nil {
			if r := p.opts.OnWelcome(p, rec.hello, rec.state, w); r != nil {
				p.route.Store(r)
			}
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

// sayGoodbyeSlow tells a slow consumer why it is disconnected and closes the
// connection; nexus then ends the session.
func (p *Peer) sayGoodbyeSlow() {
	_ = p.conn.SetWriteDeadline(time.Now().Add(time.Second))
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

// SerializerName names the session's serializer: json, msgpack or cbor.
func (p *Peer) SerializerName() string { return p.serializer.Name }
