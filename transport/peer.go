package transport

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gammazero/nexus/v3/transport/serialize"
	"github.com/gammazero/nexus/v3/wamp"
)

// PeerOptions configure a peer.
type PeerOptions struct {
	// QueueSize is the capacity of the outbound queue in messages. Default 256.
	QueueSize int
	// PingInterval sends a keepalive ping this often; a peer silent for two
	// intervals is disconnected. Zero disables pings.
	PingInterval time.Duration
	// WriteTimeout bounds every write. Default 10s.
	WriteTimeout time.Duration
	// Logger receives transport events. Default: discard.
	Logger *slog.Logger
}

const (
	defaultQueueSize    = 256
	defaultWriteTimeout = 10 * time.Second
	// closeFlushTimeout bounds how long Close spends sending what is queued.
	closeFlushTimeout = 2 * time.Second
)

// frameConn is one framed connection: WebSocket or RawSocket.
type frameConn interface {
	// ReadFrame returns the next WAMP message payload.
	ReadFrame() ([]byte, error)
	// WriteFrame writes one WAMP message, possibly buffered until Flush.
	WriteFrame([]byte) error
	Flush() error
	WritePing() error
	// WriteClose tells the other side that the connection ends (best effort).
	WriteClose()
	SetWriteDeadline(time.Time) error
	Close() error
}

// livenessReporter is a frameConn that sees control frames (pongs) the peer
// does not, and reports them as signs of life.
type livenessReporter interface {
	reportLiveness(func())
}

// Peer is a remote WAMP client as nexus sees it (a wamp.Peer).
type Peer struct {
	conn       frameConn
	serializer serialize.Serializer
	opts       PeerOptions
	log        *slog.Logger

	in  chan wamp.Message // to the router
	out chan wamp.Message // from the router

	lastSeen atomic.Int64 // unix nanoseconds of the last inbound frame or pong

	closing    chan struct{}
	closeOnce  sync.Once
	writerDone chan struct{}
	readerDone chan struct{}
	readerGone chan struct{} // closed when the reader stops for any reason
}

var _ wamp.Peer = (*Peer)(nil)

func newPeer(conn frameConn, s serialize.Serializer, opts PeerOptions) *Peer {
	if opts.QueueSize <= 0 {
		opts.QueueSize = defaultQueueSize
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = defaultWriteTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Peer{
		conn:       conn,
		serializer: s,
		opts:       opts,
		log:        opts.Logger,
		in:         make(chan wamp.Message),
		out:        make(chan wamp.Message, opts.QueueSize),
		closing:    make(chan struct{}),
		writerDone: make(chan struct{}),
		readerDone: make(chan struct{}),
		readerGone: make(chan struct{}),
	}
	p.seen()
	if l, ok := conn.(livenessReporter); ok {
		l.reportLiveness(p.seen)
	}
	go p.readLoop()
	go p.writeLoop()
	return p
}

// Recv returns the channel of messages from the client.
func (p *Peer) Recv() <-chan wamp.Message { return p.in }

// Send returns the channel of messages to the client.
func (p *Peer) Send() chan<- wamp.Message { return p.out }

// IsLocal reports false: the client is remote.
func (p *Peer) IsLocal() bool { return false }

// Close sends what is queued (for at most a couple of seconds), ends the
// connection and waits for the peer's goroutines to exit. Safe to call more
// than once.
func (p *Peer) Close() {
	p.closeOnce.Do(func() {
		close(p.closing)
		<-p.writerDone
		_ = p.conn.Close()
		<-p.readerDone
	})
}

func (p *Peer) seen() { p.lastSeen.Store(time.Now().UnixNano()) }

func (p *Peer) readLoop() {
	defer close(p.readerDone)
	defer close(p.in)
	defer close(p.readerGone)
	for {
		b, err := p.conn.ReadFrame()
		if err != nil {
			if !errors.Is(err, errClosed) {
				p.log.Debug("transport read ended", "error", err)
			}
			return
		}
		p.seen()
		msg, err := p.serializer.Deserialize(b)
		if err != nil {
			p.abort(wamp.ErrProtocolViolation, fmt.Sprintf("cannot decode message: %v", err))
			return
		}
		select {
		case p.in <- msg:
		case <-p.closing:
			return
		}
	}
}

// abort queues an ABORT for the client; the router then closes the peer.
func (p *Peer) abort(reason wamp.URI, message string) {
	p.log.Info("session aborted by transport", "reason", string(reason), "message", message)
	select {
	case p.out <- &wamp.Abort{Reason: reason, Details: wamp.Dict{"message": message}}:
	default:
	}
}

func (p *Peer) writeLoop() {
	defer close(p.writerDone)
	var tick <-chan time.Time
	if p.opts.PingInterval > 0 {
		t := time.NewTicker(p.opts.PingInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case msg := <-p.out:
			if err := p.writeBatch(msg, time.Now().Add(p.opts.WriteTimeout)); err != nil {
				p.log.Debug("transport write failed", "error", err)
				p.discardUntilClosed()
				return
			}
		case <-tick:
			silent := time.Since(time.Unix(0, p.lastSeen.Load()))
			if silent > 2*p.opts.PingInterval {
				p.log.Info("closing unresponsive connection", "silent_for", silent.Round(time.Millisecond).String())
				_ = p.conn.Close()
				p.discardUntilClosed()
				return
			}
			_ = p.conn.SetWriteDeadline(time.Now().Add(p.opts.WriteTimeout))
			if err := p.conn.WritePing(); err != nil {
				p.discardUntilClosed()
				return
			}
		case <-p.readerGone:
			// The client is gone or broke the protocol: send what is queued
			// (such as an ABORT) while the socket may still take it.
			p.flushOnClose()
			p.discardUntilClosed()
			return
		case <-p.closing:
			p.flushOnClose()
			return
		}
	}
}

// writeBatch writes msg and whatever else is already queued, then flushes
// once: several pending messages cost one write on RawSocket.
func (p *Peer) writeBatch(msg wamp.Message, deadline time.Time) error {
	if err := p.conn.SetWriteDeadline(deadline); err != nil {
		return err
	}
	for {
		b, err := p.serializer.Serialize(msg)
		if err != nil {
			// A message the router built that cannot be encoded is a bug in
			// its arguments (e.g. a value the codec does not know): drop that
			// message loudly rather than the session.
			p.log.Error("cannot encode message", "type", msg.MessageType().String(), "error", err)
		} else if err := p.conn.WriteFrame(b); err != nil {
			return err
		}
		select {
		case msg = <-p.out:
			continue
		default:
		}
		return p.conn.Flush()
	}
}

// flushOnClose sends what is queued, then a closing frame.
func (p *Peer) flushOnClose() {
	deadline := time.Now().Add(closeFlushTimeout)
	for {
		select {
		case msg := <-p.out:
			if err := p.writeBatch(msg, deadline); err != nil {
				return
			}
			continue
		default:
		}
		break
	}
	_ = p.conn.SetWriteDeadline(deadline)
	p.conn.WriteClose()
}

// discardUntilClosed keeps the router's sends from blocking once the
// connection is gone, until Close.
func (p *Peer) discardUntilClosed() {
	for {
		select {
		case <-p.out:
		case <-p.closing:
			return
		}
	}
}
