package switchboard

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	nexus "github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport"
	"github.com/gammazero/nexus/v3/transport/serialize"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/gammazero/nexus/v3/wamp/crsign"
)

// ErrNotConnected is returned by operations attempted while the client is
// (re)connecting, unless Options.WaitForConnection is set.
var ErrNotConnected = errors.New("switchboard: not connected")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("switchboard: client closed")

// Options configure a Client.
type Options struct {
	// Realm to join. Required.
	Realm string
	// Serializer is json (default), msgpack or cbor.
	Serializer string
	// AuthID is sent in HELLO.
	AuthID string
	// Ticket authenticates with authmethod ticket (a static ticket or a
	// JWT). TicketFunc, when set, is asked for a fresh one at every join.
	Ticket     string
	TicketFunc func(ctx context.Context) (string, error)
	// WAMPCRASecret authenticates with authmethod wampcra (salted or not,
	// as the router's challenge says). Needs AuthID.
	WAMPCRASecret string
	// CryptosignKey authenticates with authmethod cryptosign. Needs AuthID.
	CryptosignKey ed25519.PrivateKey
	// TLS configures wss:// and tcps:// connections.
	TLS *tls.Config
	// Header is sent with the WebSocket upgrade request (ws:// and wss://
	// only), e.g. a Cookie or Authorization for the router's auth webhook.
	Header http.Header
	// ReconnectMin and ReconnectMax bound the backoff between reconnection
	// attempts (defaults 100ms and 10s); each delay doubles, with ±20%
	// jitter.
	ReconnectMin, ReconnectMax time.Duration
	// WaitForConnection makes operations wait (until their context ends)
	// for a reconnection instead of failing with ErrNotConnected.
	WaitForConnection bool
	// OnConnect is called after each (re)join, with the session ID.
	OnConnect func(sessionID uint64)
	// OnDisconnect is called when the session is lost.
	OnDisconnect func(err error)
	// Logger receives reconnection events. Default: discard.
	Logger *slog.Logger
	// ResponseTimeout bounds replies to subscribe, register and
	// acknowledged publish. Default 10s.
	ResponseTimeout time.Duration
}

// Client is a WAMP session that survives router restarts.
type Client struct {
	url  string
	opts Options
	log  *slog.Logger

	mu        sync.Mutex
	cur       *nexus.Client
	connected chan struct{} // closed while connected
	closed    bool
	subs      map[string]*subscription
	regs      map[string]*registration

	stop chan struct{}
	done chan struct{}
}

type subscription struct {
	handler func(Event)
	options wamp.Dict
}

type registration struct {
	handler Handler
	options wamp.Dict
}

// Dial connects and joins; the first join must succeed. Later losses are
// repaired in the background until Close.
func Dial(ctx context.Context, url string, opts Options) (*Client, error) {
	if opts.Realm == "" {
		return nil, errors.New("switchboard: Options.Realm is required")
	}
	if opts.ReconnectMin <= 0 {
		opts.ReconnectMin = 100 * time.Millisecond
	}
	if opts.ReconnectMax < opts.ReconnectMin {
		opts.ReconnectMax = max(10*time.Second, opts.ReconnectMin)
	}
	if opts.ResponseTimeout <= 0 {
		opts.ResponseTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{url: url, opts: opts, log: opts.Logger, connected: make(chan struct{}),
		subs: map[string]*subscription{}, regs: map[string]*registration{}, stop: make(chan struct{}), done: make(chan struct{})}
	nc, err := c.join(ctx)
	if err != nil {
		return nil, err
	}
	c.setConnected(nc)
	go c.supervise(nc)
	return c, nil
}

func (c *Client) join(ctx context.Context) (*nexus.Client, error) {
	cfg := nexus.Config{
		Realm:           c.opts.Realm,
		Serialization:   serialization(c.opts.Serializer),
		TlsCfg:          c.opts.TLS,
		ResponseTimeout: c.opts.ResponseTimeout,
		Logger:          log.New(io.Discard, "", 0),
		HelloDetails:    wamp.Dict{},
	}
	if c.opts.AuthID != "" {
		cfg.HelloDetails["authid"] = c.opts.AuthID
	}
	if c.opts.Ticket != "" || c.opts.TicketFunc != nil {
		ticket := c.opts.Ticket
		if c.opts.TicketFunc != nil {
			t, err := c.opts.TicketFunc(ctx)
			if err != nil {
				return nil, fmt.Errorf("switchboard: ticket: %w", err)
			}
			ticket = t
		}
		cfg.AuthHandlers = map[string]nexus.AuthFunc{"ticket": func(*wamp.Challenge) (string, wamp.Dict) { return ticket, wamp.Dict{} }}
	}
	if c.opts.WAMPCRASecret != "" {
		if cfg.AuthHandlers == nil {
			cfg.AuthHandlers = map[string]nexus.AuthFunc{}
		}
		secret := c.opts.WAMPCRASecret
		cfg.AuthHandlers["wampcra"] = func(ch *wamp.Challenge) (string, wamp.Dict) {
			return crsign.RespondChallenge(secret, ch, nil), wamp.Dict{}
		}
	}
	if key := c.opts.CryptosignKey; key != nil {
		if cfg.AuthHandlers == nil {
			cfg.AuthHandlers = map[string]nexus.AuthFunc{}
		}
		cfg.HelloDetails["authextra"] = wamp.Dict{"pubkey": hex.EncodeToString(key.Public().(ed25519.PublicKey))}
		cfg.AuthHandlers["cryptosign"] = func(ch *wamp.Challenge) (string, wamp.Dict) {
			challenge, _ := wamp.AsString(ch.Extra["challenge"])
			msg, err := hex.DecodeString(challenge)
			if err != nil {
				return "", wamp.Dict{}
			}
			return hex.EncodeToString(append(ed25519.Sign(key, msg), msg...)), wamp.Dict{}
		}
	}
	if c.opts.Header != nil && (strings.HasPrefix(c.url, "ws://") || strings.HasPrefix(c.url, "wss://")) {
		return c.joinWithHeader(ctx, cfg)
	}
	nc, err := nexus.ConnectNet(ctx, c.url, cfg)
	if err != nil {
		return nil, fmt.Errorf("switchboard: join %s: %w", c.url, err)
	}
	return nc, nil
}

// joinWithHeader dials the WebSocket itself, to send Options.Header, and
// joins over a nexus peer.
func (c *Client) joinWithHeader(ctx context.Context, cfg nexus.Config) (*nexus.Client, error) {
	protocols := map[serialize.Serialization]struct {
		sub     string
		ser     serialize.Serializer
		payload int
	}{
		serialize.JSON:    {"wamp.2.json", &serialize.JSONSerializer{}, websocket.TextMessage},
		serialize.MSGPACK: {"wamp.2.msgpack", &serialize.MessagePackSerializer{}, websocket.BinaryMessage},
		serialize.CBOR:    {"wamp.2.cbor", &serialize.CBORSerializer{}, websocket.BinaryMessage},
	}
	p := protocols[cfg.Serialization]
	d := websocket.Dialer{Subprotocols: []string{p.sub}, TLSClientConfig: c.opts.TLS, HandshakeTimeout: c.opts.ResponseTimeout}
	conn, _, err := d.DialContext(ctx, c.url, c.opts.Header)
	if err != nil {
		return nil, fmt.Errorf("switchboard: join %s: %w", c.url, err)
	}
	peer := transport.NewWebsocketPeer(conn, p.ser, p.payload, cfg.Logger, 0, 64)
	nc, err := nexus.NewClient(peer, cfg)
	if err != nil {
		return nil, fmt.Errorf("switchboard: join %s: %w", c.url, err)
	}
	return nc, nil
}

func serialization(name string) serialize.Serialization {
	switch name {
	case "msgpack":
		return serialize.MSGPACK
	case "cbor":
		return serialize.CBOR
	}
	return serialize.JSON
}

func (c *Client) setConnected(nc *nexus.Client) {
	c.mu.Lock()
	c.cur = nc
	close(c.connected)
	c.mu.Unlock()
	if c.opts.OnConnect != nil {
		c.opts.OnConnect(uint64(nc.ID()))
	}
}

// supervise waits for the session to end and joins again, with backoff,
// restoring subscriptions and registrations.
func (c *Client) supervise(nc *nexus.Client) {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			_ = nc.Close()
			return
		case <-nc.Done():
		}
		c.mu.Lock()
		c.cur = nil
		c.connected = make(chan struct{})
		c.mu.Unlock()
		_ = nc.Close()
		lost := ErrNotConnected
		if gb := nc.RouterGoodbye(); gb != nil {
			lost = fmt.Errorf("%w: router said goodbye (%s)", ErrNotConnected, gb.Reason)
		}
		c.log.Info("switchboard session lost", "error", lost)
		if c.opts.OnDisconnect != nil {
			c.opts.OnDisconnect(lost)
		}
		var ok bool
		if nc, ok = c.reconnect(); !ok {
			return
		}
	}
}

func (c *Client) reconnect() (*nexus.Client, bool) {
	delay := c.opts.ReconnectMin
	for attempt := 1; ; attempt++ {
		jittered := time.Duration(float64(delay) * (0.8 + 0.4*rand.Float64()))
		select {
		case <-c.stop:
			return nil, false
		case <-time.After(jittered):
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.ResponseTimeout)
		nc, err := c.join(ctx)
		cancel()
		if err == nil {
			if err = c.restore(nc); err == nil {
				c.setConnected(nc)
				c.log.Info("switchboard session restored", "attempts", attempt)
				return nc, true
			}
			_ = nc.Close()
		}
		c.log.Debug("switchboard reconnect failed", "attempt", attempt, "error", err)
		delay = min(2*delay, c.opts.ReconnectMax)
	}
}

// restore subscribes and registers again what the previous session had.
func (c *Client) restore(nc *nexus.Client) error {
	c.mu.Lock()
	subs := make(map[string]*subscription, len(c.subs))
	for k, v := range c.subs {
		subs[k] = v
	}
	regs := make(map[string]*registration, len(c.regs))
	for k, v := range c.regs {
		regs[k] = v
	}
	c.mu.Unlock()
	for topic, s := range subs {
		if err := nc.Subscribe(topic, eventHandler(s.handler), s.options); err != nil {
			return fmt.Errorf("resubscribe %s: %w", topic, err)
		}
	}
	for proc, r := range regs {
		if err := nc.Register(proc, invocationHandler(r.handler), r.options); err != nil {
			return fmt.Errorf("register %s again: %w", proc, err)
		}
	}
	return nil
}

// session returns the current session, waiting for one if configured.
func (c *Client) session(ctx context.Context) (*nexus.Client, error) {
	for {
		c.mu.Lock()
		nc, closed, connected := c.cur, c.closed, c.connected
		c.mu.Unlock()
		switch {
		case closed:
			return nil, ErrClosed
		case nc != nil:
			return nc, nil
		case !c.opts.WaitForConnection:
			return nil, ErrNotConnected
		}
		select {
		case <-connected:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrNotConnected, ctx.Err())
		}
	}
}

// Connected reports whether a session is joined now.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur != nil
}

// SessionID returns the current session's ID, 0 while disconnected.
func (c *Client) SessionID() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return 0
	}
	return uint64(c.cur.ID())
}

// Close leaves the realm and stops reconnecting. It waits for the
// background goroutine; it is safe to call more than once.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.done
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	close(c.stop)
	<-c.done
	return nil
}
