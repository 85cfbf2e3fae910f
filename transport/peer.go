package transport

import (
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
	// WriteDelay lets the writer wait until this long after its previous
	// write before writing frames queued with EnqueueFrame, so that a busy
	// session's events share one write; frames queued with
	// EnqueueFrameNow, messages from nexus, and the first write after an
	// idle period go at once, and so does everything while Activity says
	// the router is not busy. Zero disables it.
	WriteDelay time.Duration
	// Activity, shared by the router's peers, counts the sessions written
	// to lately; WriteDelay applies only while it says the router is busy
	// (nil: always).
	Activity *Activity
	// NewSession, when set, returns the hooks that see this peer's session
	// open (one value per peer, so it may keep what it reads from HELLO).
	NewSession func() SessionHooks
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
	// MaxNestingDepth bounds how deeply containers (and CBOR tags) nest in
	// a client's message; a deeper one ends the session with a protocol
	// violation before it is decoded. Default DefaultMaxNestingDepth.
	MaxNestingDepth int
	// MaxMessageItems bounds how many values a client's message may hold;
	// a request over it is answered like one over the size limit.
	// Default DefaultMaxMessageItems.
	MaxMessageItems int
	// MaxOpeningMessageSize bounds the client's messages until its session
	// is welcomed (HELLO, AUTHENTICATE): a stranger needs little room.
	// Zero: the listener's limit.
	MaxOpeningMessageSize int
	// MessageReadTimeout bounds the time from the first byte of a frame to
	// the end of its message; a slower client is disconnected. Zero: no
	// bound.
	MessageReadTimeout time.Duration
	// OnRefused, when set, counts a message refused by a limit (reason:
	// "nesting", "read_timeout", "second_hello", "too_big").
	OnRefused func(reason string)
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

// SessionHooks see a session open, in order: Hello once, then Welcome if
// the router admits the client.
type SessionHooks interface {
	// Hello sees (and may change) the client's HELLO before nexus does.
	Hello(hello *wamp.Hello)
	// Welcome is called as the router welcomes the session, before WELCOME
	// is written (on the writer goroutine: that is where WELCOME is seen);
	// messages the client sent after its HELLO wait until it returns. The
	// Route it returns sees every later inbound message first.
	Welcome(p *Peer, hello *wamp.Hello, welcome *wamp.Welcome) Route
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
	// WriteRestart tells the other side that the server restarts, so that
	// it reconnects (WebSocket close 1012; RawSocket: nothing, the TCP
	// close says it).
	WriteRestart()
	SetWriteDeadline(time.Time) error
	Close() error
	netConn() net.Conn
	// readLimits is the connection's bound on inbound messages.
	readLimits() *readLimit
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
	// inMu: Deliver sends on in under the read lock; the reader closes in
	// under the write lock.
	inMu sync.RWMutex

	mu          sync.Mutex
	frames      [][]byte // encoded messages from the broker, in order
	queuedBytes int
	slow        bool
	notify      chan struct{} // capacity 1: frames were queued
	urgent      atomic.Bool   // a frame queued must not wait for WriteDelay
	restart     atomic.Bool   // Close ends the connection as a server restart
	saidGoodbye atomic.Bool   // the client sent GOODBYE: later messages are dropped

	hooks   SessionHooks               // nil without opts.NewSession
	hello   atomic.Pointer[wamp.Hello] // until WELCOME
	greeted atomic.Bool                // the client sent its HELLO
	// welcomed is closed once WELCOME is written (and the route is set).
	welcomed    chan struct{}
	welcomeOnce sync.Once
	// opening is openingSession until WELCOME is written, then
	// openingWelcomed; openingRefused once AbortOpening won the race.
	opening atomic.Int32
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
	if opts.MaxNestingDepth <= 0 {
		opts.MaxNestingDepth = DefaultMaxNestingDepth
	}
	if opts.MaxMessageItems <= 0 {
		opts.MaxMessageItems = DefaultMaxMessageItems
	}
	conn.readLimits().open(opts.MaxOpeningMessageSize)
	p := &Peer{
		conn:       conn,
		serializer: s,
		opts:       opts,
		log:        opts.Logger,
		in:         make(chan wamp.Message),
		out:        make(chan wamp.Message, nexusQueueSize),
		notify:     make(chan struct{}, 1),
		welcomed:   make(chan struct{}),
		closing:    make(chan struct{}),
		writerDone: make(chan struct{}),
		readerDone: make(chan struct{}),
		readerGone: make(chan struct{}),
	}
	if opts.NewSession != nil {
		p.hooks = opts.NewSession()
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

// Activity counts the peers whose writer runs: the sessions written to
// within their last IdleAfter (a second). A router with at least
// BusyWriters of them is busy: that is when coalescing writes pays (many
// subscribers, each with a write per event otherwise), and when the wait
// it adds is worth it; a single fast stream on a quiet router is written
// at once.
type Activity struct{ writers atomic.Int64 }

// BusyWriters is how many sessions written to lately make a router busy.
const BusyWriters = 64

// Busy reports whether the router is busy (a nil Activity always is).
func (a *Activity) Busy() bool { return a == nil || a.writers.Load() >= BusyWriters }

// Writers returns the sessions written to lately.
func (a *Activity) Writers() int { return int(a.writers.Load()) }

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
// stays open. A message larger than MaxQueueBytes is queued when the queue
// is empty. The frame may wait up to WriteDelay to share a write.
func (p *Peer) EnqueueFrame(b []byte) bool { return p.enqueue(b, false) }

// EnqueueFrameNow is EnqueueFrame for a reply the client waits for (RESULT,
// INVOCATION, SUBSCRIBED, ...): it is written without waiting for
// WriteDelay, together with whatever else is queued.
func (p *Peer) EnqueueFrameNow(b []byte) bool { return p.enqueue(b, true) }

func (p *Peer) enqueue(b []byte, urgent bool) bool {
	p.mu.Lock()
	if p.slow {
		p.mu.Unlock()
		return false
	}
	// One message larger than the bound still goes to a client that has
	// nothing queued: it is large, not behind.
	if p.queuedBytes > 0 && p.queuedBytes+len(b) > p.opts.MaxQueueBytes {
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
	if urgent {
		p.urgent.Store(true)
	}
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

// CloseForRestart is Close for a router that restarts: what is queued is
// sent, then the connection ends without a GOODBYE (WebSocket close 1012,
// "service restart"), which clients answer by reconnecting (autobahn.js and
// wampy.js stop retrying after a router's GOODBYE). A GOODBYE queued from
// now on is not written.
func (p *Peer) CloseForRestart() {
	p.EndForRestart()
	p.Close()
}

// EndForRestart marks the connection as ending for a restart, as
// CloseForRestart does, without waiting for it: from now on no GOODBYE is
// written, and Close ends the connection as a restart. Safe to call from a
// SessionHooks method, where Close would wait for itself.
func (p *Peer) EndForRestart() { p.restart.Store(true) }

const (
	openingSession int32 = iota
	openingWelcomed
	openingRefused
)

// AbortOpening keeps a session that nexus has not yet welcomed from being
// welcomed: a WELCOME queued from now on is not written, and the client is
// told ABORT wamp.close.system_shutdown, or, for a restart, nothing (the
// connection then ends as a restart's when Close is called, and the client
// comes back). It reports false when WELCOME went out first: the session
// is open, nothing is changed, and it ends as the others do.
func (p *Peer) AbortOpening(restart bool) bool {
	if !p.opening.CompareAndSwap(openingSession, openingRefused) {
		return false
	}
	if restart {
		p.EndForRestart()
		return true
	}
	select {
	case p.out <- &wamp.Abort{Reason: wamp.ErrSystemShutdown, Details: wamp.Dict{"message": "the router is shutting down"}}:
	default: // the queue is full: the connection just ends
	}
	p.startWriter()
	return true
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

// leave ends the session's route once; before the route is set there is
// nothing to leave (writeMessage leaves for a client gone meanwhile).
func (p *Peer) leave() {
	if r, ok := p.route.Load().(Route); ok {
		p.left.Do(r.Leave)
	}
}

func (p *Peer) seen() { p.lastSeen.Store(time.Now().UnixNano()) }

// SerializerName names the session's serializer: json, msgpack or cbor.
func (p *Peer) SerializerName() string { return p.serializer.Name }
