package router_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

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
