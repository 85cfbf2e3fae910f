package transport

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"time"

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
	// Admit, when set, is asked before a connection's handshake whether a
	// session may be opened now (remote is the client's address); false
	// answers the handshake with error 4 (maximum connection count
	// reached) and closes. Admitted is called once an admitted
	// connection's handshake and attach are over.
	Admit    func(remote string) bool
	Admitted func()
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
			if opts.Admit != nil {
				if !opts.Admit(conn.RemoteAddr().String()) {
					refuseAndClose(conn)
					return
				}
				if opts.Admitted != nil {
					defer opts.Admitted()
				}
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

// refuseAndClose answers a RawSocket handshake with error 4 (maximum
// connection count reached), then closes after reading the client's
// handshake: closing with unread input would reset the connection and
// could destroy the answer.
func refuseAndClose(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(500 * time.Millisecond))
	RefuseRawSocket(conn)
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_, _ = io.CopyN(io.Discard, conn, 4)
}
