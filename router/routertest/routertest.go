// Package routertest starts real switchboard routers on 127.0.0.1:0 for
// tests and dials them with the nexus client, like net/http/httptest.
package routertest

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport/serialize"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router"
)

// Realm is the realm of Config.
const Realm = "realm1"

// Config returns a test configuration: a WebSocket listener (index 0) and a
// RawSocket listener (index 1) on 127.0.0.1:0, and realm1 where anonymous
// sessions may do everything.
func Config() *config.Config {
	cfg, err := config.Parse("routertest", []byte(`
log: { level: debug }
listeners:
  - address: "127.0.0.1:0"
    websocket: { path: /ws, ping_interval: 0s }
  - address: "127.0.0.1:0"
    rawsocket: {}
realms:
  - name: realm1
    anonymous: { role: anonymous }
    roles:
      - name: anonymous
        permissions:
          - uri: ""
            match: prefix
            allow: { call: true, register: true, publish: true, subscribe: true }
shutdown_timeout: 5s
`), nil)
	if err != nil {
		panic(err) // the literal above is valid; a failure is a bug in this package
	}
	return cfg
}

// Server is a running router with its configuration.
type Server struct {
	*router.Server
	Config *config.Config
}

// Start starts a router from Config, changed by edit (may be nil), and shuts
// it down when the test ends. Logs go to the test log when -v is given.
func Start(t testing.TB, edit func(*config.Config)) *Server {
	t.Helper()
	cfg := Config()
	if edit != nil {
		edit(cfg)
	}
	srv, err := router.New(cfg, router.Options{Logger: TestLogger(t)})
	if err != nil {
		t.Fatalf("routertest: new: %v", err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatalf("routertest: start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("routertest: shutdown: %v", err)
		}
	})
	return &Server{Server: srv, Config: cfg}
}

// StartServer starts a router from Config, changed by edit (may be nil),
// outside a test (for Example functions); stop shuts it down.
func StartServer(edit func(*config.Config)) (srv *Server, stop func(), err error) {
	cfg := Config()
	if edit != nil {
		edit(cfg)
	}
	rs, err := router.New(cfg, router.Options{})
	if err != nil {
		return nil, nil, err
	}
	if err := rs.Start(context.Background()); err != nil {
		return nil, nil, err
	}
	stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rs.Shutdown(ctx)
	}
	return &Server{Server: rs, Config: cfg}, stop, nil
}

// TestLogger logs to t.Log when testing.Verbose(), else discards.
func TestLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() || os.Getenv("SWITCHBOARD_TEST_QUIET") != "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// URL returns the client URL of listener i: ws://host:port/path for
// WebSocket, tcp://host:port/ for RawSocket, unix://path for Unix sockets.
func (s *Server) URL(i int) string {
	addr := s.Addrs()[i]
	l := s.Config.Listeners[i]
	if addr.Network() == "unix" {
		return "unix://" + addr.String()
	}
	if l.WebSocket != nil {
		scheme := "ws"
		if l.TLS.Enabled() {
			scheme = "wss"
		}
		return fmt.Sprintf("%s://%s%s", scheme, addr, l.WebSocket.Path)
	}
	scheme := "tcp"
	if l.TLS.Enabled() {
		scheme = "tcps"
	}
	return fmt.Sprintf("%s://%s/", scheme, addr)
}

// Addr returns the bound TCP address of listener i.
func (s *Server) Addr(i int) *net.TCPAddr {
	return s.Addrs()[i].(*net.TCPAddr)
}

// Serialization maps a serializer name to nexus's constant.
func Serialization(name string) serialize.Serialization {
	switch name {
	case "msgpack":
		return serialize.MSGPACK
	case "cbor":
		return serialize.CBOR
	}
	return serialize.JSON
}

// Dial connects a nexus client to listener i with the serializer named and
// closes it when the test ends. cfg may set realm (default realm1), auth and
// hello details.
func (s *Server) Dial(t testing.TB, i int, serializer string, cfg client.Config) *client.Client {
	t.Helper()
	c, err := s.DialErr(i, serializer, cfg)
	if err != nil {
		t.Fatalf("routertest: dial %s (%s): %v", s.URL(i), serializer, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// DialErr is Dial without the test: it returns the join error.
func (s *Server) DialErr(i int, serializer string, cfg client.Config) (*client.Client, error) {
	if cfg.Realm == "" {
		cfg.Realm = Realm
	}
	cfg.Serialization = Serialization(serializer)
	if cfg.Logger == nil {
		cfg.Logger = log.New(io.Discard, "", 0)
	}
	if cfg.ResponseTimeout == 0 {
		cfg.ResponseTimeout = 15 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return client.ConnectNet(ctx, s.URL(i), cfg)
}
