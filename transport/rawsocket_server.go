package transport

import (
	"errors"
	"log/slog"
	"net"

	"github.com/gammazero/nexus/v3/wamp"
)

// RawSocketOptions configure ServeRawSocket.
type RawSocketOptions struct {
	// Serializers are the accepted serializers.
	Serializers []Serializer
	// MaxMessageSize bounds inbound messages (rounded by RawSocketLimit).
	MaxMessageSize int
	// Peer configures each session's peer.
	Peer PeerOptions
	// Attach receives each connection after its handshake.
	Attach Attach
	// Logger receives handshake failures.
	Logger *slog.Logger
	// Begin, when set, is called for each accepted connection before its
	// handshake starts; false refuses the connection. End is called when the
	// connection's handshake and attach are over. A server uses them to wait
	// for connections in progress when it shuts down.
	Begin func() bool
	End   func()
}

// ServeRawSocket accepts RawSocket connections on l until l is closed; each
// connection's handshake and attach run on their own goroutine.
func ServeRawSocket(l net.Listener, opts RawSocketOptions) error {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	for {
		conn, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		if opts.Begin != nil && !opts.Begin() {
			_ = conn.Close()
			continue
		}
		go func() {
			if opts.End != nil {
				defer opts.End()
			}
			peer, s, err := AcceptRawSocket(conn, opts.Serializers, opts.MaxMessageSize, opts.Peer)
			if err != nil {
				opts.Logger.Info("rawsocket handshake failed", "remote_addr", conn.RemoteAddr().String(), "error", err)
				_ = conn.Close()
				return
			}
			opts.Attach(peer, wamp.Dict{
				"type":     "rawsocket",
				"protocol": s.Name,
				"peer":     peerAddress(conn.RemoteAddr()),
			})
		}()
	}
}
