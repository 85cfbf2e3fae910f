package router_test

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// TestPythonAutobahn runs Debian's python3-autobahn (make deps installs
// it) against the router: pub/sub, prefix subscriptions and RPC with errors
// over WebSocket with JSON, MessagePack and CBOR.
func TestPythonAutobahn(t *testing.T) {
	t.Parallel()
	if exec.Command("/usr/bin/python3", "-c", "import autobahn, cbor2").Run() != nil {
		t.Fatal("python3-autobahn and python3-cbor2 are not installed: run make deps")
	}
	srv := routertest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/bin/python3", "../test/python/interop.py", srv.URL(0)).CombinedOutput()
	if err != nil {
		t.Fatalf("python autobahn: %v\n%s", err, out)
	}
	for _, c := range []string{"websocket-json", "websocket-msgpack", "websocket-cbor"} {
		if !strings.Contains(string(out), "ok "+c+"\n") {
			t.Errorf("case %s did not pass:\n%s", c, out)
		}
	}
}

// TestPythonAutobahnReconnects: a Python autobahn Component (its own retry
// options) joins again after the router restarts, whether the router closed
// its connection as a restart (the default) or said GOODBYE.
func TestPythonAutobahnReconnects(t *testing.T) {
	if exec.Command("/usr/bin/python3", "-c", "import autobahn").Run() != nil {
		t.Fatal("python3-autobahn is not installed: run make deps")
	}
	for _, mode := range []string{config.ShutdownRestart, config.ShutdownGoodbye} {
		t.Run(mode, func(t *testing.T) {
			first := routertest.Start(t, func(c *config.Config) { c.ShutdownMode = mode })
			addr := first.Addr(0).String()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "/usr/bin/python3", "../test/python/reconnect.py", first.URL(0), "2")
			out := &syncBuffer{}
			cmd.Stdout, cmd.Stderr = out, out
			must(t, cmd.Start())
			waitFor(t, "the first join", func() bool { return strings.Contains(out.String(), "joined 1") })
			must(t, first.Shutdown(ctx))
			routertest.Start(t, func(c *config.Config) { c.Listeners[0].Address = addr })
			if err := cmd.Wait(); err != nil || !strings.Contains(out.String(), "joined 2") {
				t.Fatalf("python autobahn did not join again after a %s shutdown: %v\n%s", mode, err, out.String())
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for a process's writes and the test's reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
