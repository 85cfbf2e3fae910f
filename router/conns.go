package router

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// connSet tracks the connections accepted by the server's listeners, so
// that Shutdown can close whatever is still open when its time is up, and
// bounds them: maxTotal over all listeners, maxPerIP from one client
// address (0: no bound).
type connSet struct {
	maxTotal, maxPerIP int
	// refused counts a refusal by the limit named; refusing bounds the
	// refusals being written at once.
	refused  func(limit string)
	refusing chan struct{}

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	perIP map[string]int
}

// listenerConns counts one listener's connections against its own
// max_connections (guarded by the connSet's mu).
type listenerConns struct {
	max, n int
}

// admit registers c unless a limit is reached, and returns the limit that
// refused it ("" when admitted).
func (s *connSet) admit(c *trackedConn) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.maxTotal > 0 && len(s.conns) >= s.maxTotal {
		return "max_connections"
	}
	if c.own != nil && c.own.max > 0 && c.own.n >= c.own.max {
		return "listener_max_connections"
	}
	if c.ip != "" && s.maxPerIP > 0 && s.perIP[c.ip] >= s.maxPerIP {
		return "max_connections_per_ip"
	}
	if c.own != nil {
		c.own.n++
	}
	if s.conns == nil {
		s.conns, s.perIP = map[net.Conn]struct{}{}, map[string]int{}
	}
	s.conns[c] = struct{}{}
	if c.ip != "" {
		s.perIP[c.ip]++
	}
	return ""
}

func (s *connSet) remove(c *trackedConn) {
	s.mu.Lock()
	delete(s.conns, c)
	if c.own != nil {
		c.own.n--
	}
	if c.ip != "" {
		if s.perIP[c.ip]--; s.perIP[c.ip] <= 0 {
			delete(s.perIP, c.ip)
		}
	}
	s.mu.Unlock()
}

// open returns the number of open connections.
func (s *connSet) open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// trackingListener registers every accepted connection in a connSet, and
// refuses those over its limits: refuse tells the client why (in its
// protocol) before the connection is closed.
type trackingListener struct {
	net.Listener
	set    *connSet
	own    *listenerConns // this listener's own bound
	refuse func(net.Conn)
	log    *slog.Logger
}

// refusalWriteTimeout bounds the write of a refusal to a client, and
// maxRefusing how many are written at once.
const (
	refusalWriteTimeout = 500 * time.Millisecond
	maxRefusing         = 64
)

func (l trackingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc := &trackedConn{Conn: c, set: l.set, own: l.own, ip: remoteIP(c.RemoteAddr())}
		limit := l.set.admit(tc)
		if limit == "" {
			return tc, nil
		}
		if l.set.refused != nil {
			l.set.refused(limit)
		}
		l.log.Warn("connection refused", "limit", limit, "remote_addr", c.RemoteAddr().String())
		// A refusal is written in the background, but only a few at a time:
		// in a flood the others are closed at once.
		select {
		case l.set.refusing <- struct{}{}:
			go func() {
				defer func() { <-l.set.refusing }()
				refuseConn(c, l.refuse)
			}()
		default:
			_ = c.Close()
		}
	}
}

// refuseConn tells the client why with refuse (if any), then closes c
// after reading what the client sent meanwhile: closing with unread input
// would reset the connection and could destroy the refusal before the
// client reads it.
func refuseConn(c net.Conn, refuse func(net.Conn)) {
	defer c.Close()
	if refuse == nil {
		return
	}
	_ = c.SetDeadline(time.Now().Add(refusalWriteTimeout))
	refuse(c)
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_, _ = io.CopyN(io.Discard, c, 64<<10)
}

// remoteIP is what a TCP peer's connections are counted under: its IPv4
// address, or the /64 of its IPv6 address (a host is given a whole /64);
// "" for other networks.
func remoteIP(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return ""
	}
	if v4 := tcp.IP.To4(); v4 != nil {
		return v4.String()
	}
	return tcp.IP.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// refuseHTTP answers a refused connection with 503 and a JSON error body.
func refuseHTTP(c net.Conn) {
	body := `{"error":"switchboard.error.too_many_connections","args":["connection limit reached"],"kwargs":{}}`
	_, _ = fmt.Fprintf(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\nRetry-After: 5\r\n\r\n%s", len(body), body)
}

// handshakeGate bounds the sessions being opened at once (0: no bound).
type handshakeGate struct {
	max int64
	n   atomic.Int64
}

// enter counts one more session opening, unless the bound is reached.
func (g *handshakeGate) enter() bool {
	if n := g.n.Add(1); g.max > 0 && n > g.max {
		g.n.Add(-1)
		return false
	}
	return true
}

func (g *handshakeGate) leave() { g.n.Add(-1) }

// inProgress returns the sessions being opened.
func (g *handshakeGate) inProgress() int { return int(g.n.Load()) }

// handshakeRetryAfter is what a client refused over max_handshakes is told
// to wait, in seconds: handshakes finish in milliseconds.
const handshakeRetryAfter = "1"

// gateHandshakes refuses a WebSocket upgrade at once with 503 and
// Retry-After while max_handshakes sessions are being opened; the gate is
// held until the handler returns (the session is welcomed or refused).
func (s *Server) gateHandshakes(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.handshakes.enter() {
			s.handshakeRefused(r.RemoteAddr)
			h := w.Header()
			h.Set("Retry-After", handshakeRetryAfter)
			h.Set("Content-Type", "application/json")
			h.Set("Connection", "close")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write(tooManyHandshakes)
			return
		}
		defer s.handshakes.leave()
		h.ServeHTTP(w, r)
	})
}

// handshakeRefused counts and logs a session refused over max_handshakes.
// In a storm the log says it once a second, with how many since.
func (s *Server) handshakeRefused(remote string) {
	s.limits.ConnectionsRefused.WithLabelValues("max_handshakes").Inc()
	n := s.handshakeRefusals.Add(1)
	now := time.Now().UnixNano()
	last := s.handshakeLogged.Load()
	if now-last < int64(time.Second) || !s.handshakeLogged.CompareAndSwap(last, now) {
		return
	}
	s.handshakeRefusals.Store(0)
	s.log.Warn("connection refused", "limit", "max_handshakes", "max", s.handshakes.max, "remote_addr", remote,
		"refused_since_last_log", n)
}

// tooManyHandshakes is the body of a 503 over max_handshakes, built once.
var tooManyHandshakes, _ = json.Marshal(map[string]any{"error": "switchboard.error.too_many_handshakes",
	"args": []string{"too many sessions are being opened: retry after a second"}, "kwargs": map[string]any{}})

type trackedConn struct {
	net.Conn
	set  *connSet
	own  *listenerConns
	ip   string
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { c.set.remove(c) })
	return c.Conn.Close()
}

// SyscallConn exposes the socket (for the transport's idle-connection
// poller).
func (c *trackedConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.New("router: connection has no file descriptor")
}
