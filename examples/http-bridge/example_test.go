// Package httpbridge_test runs the HTTP bridge examples of docs/http-bridge.md
// (the Python client and the curl commands) against a real router.
package httpbridge_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

const (
	secret = "example-signing-secret-0123456789"
	token  = "example-bearer-token-0123456789"
)

// python finds an interpreter with requests (make deps installs one).
func python(t *testing.T) string {
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import requests").Run() == nil {
			return p
		}
	}
	t.Fatal("no python3 with the requests package: run make deps")
	return ""
}

func start(t *testing.T) (*routertest.Server, string) {
	srv := routertest.Start(t, func(c *config.Config) {
		c.Listeners[0].Bridge = &config.Bridge{
			Realm: "realm1", PublishPath: "/publish", CallPath: "/call", PositionPath: "/position", MaxBodySize: 65536,
			TimestampDeltaLimit: time.Minute, CallTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
			Keys: []config.BridgeKey{
				{Key: "django", Secret: secret, AuthID: "django", Role: "anonymous"},
				{Key: "worker", BearerToken: token, AuthID: "worker", Role: "anonymous"},
			},
		}
	})
	return srv, "http://" + srv.Addr(0).String()
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is not installed: run make deps", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestPythonAndCurlExamples(t *testing.T) {
	srv, url := start(t)
	sub := srv.Dial(t, 0, "json", client.Config{})
	events := make(chan *wamp.Event, 4)
	if err := sub.SubscribeChan("app.news", events, nil); err != nil {
		t.Fatal(err)
	}
	if err := sub.Register("app.add", func(_ context.Context, inv *wamp.Invocation) client.InvokeResult {
		a, _ := wamp.AsInt64(inv.Arguments[0])
		b, _ := wamp.AsInt64(inv.Arguments[1])
		return client.InvokeResult{Args: wamp.List{a + b}}
	}, nil); err != nil {
		t.Fatal(err)
	}
	expectEvent := func(want string) {
		t.Helper()
		select {
		case ev := <-events:
			if ev.Arguments[0] != want {
				t.Fatalf("event %v, want %s", ev.Arguments, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no event %q", want)
		}
	}

	py := python(t)
	out := run(t, py, "switchboard_bridge.py", "publish", "--url", url, "--key", "django", "--secret", secret,
		"--topic", "app.news", "--args", `["from python"]`)
	var pub struct{ ID uint64 }
	if err := json.Unmarshal([]byte(out), &pub); err != nil || pub.ID == 0 {
		t.Fatalf("python publish printed %q", out)
	}
	expectEvent("from python")
	out = run(t, py, "switchboard_bridge.py", "call", "--url", url, "--token", token, "--procedure", "app.add", "--args", "[2, 3]")
	if strings.TrimSpace(out) != `{"args": [5]}` {
		t.Fatalf("python call printed %q", out)
	}

	// The curl commands of docs/http-bridge.md.
	out = run(t, "curl", "-sS", "-X", "POST", url+"/publish", "-H", "Authorization: Bearer "+token,
		"-H", "Content-Type: application/json", "-d", `{"topic": "app.news", "args": ["from curl"]}`)
	if !strings.HasPrefix(out, `{"id":`) {
		t.Fatalf("curl publish printed %q", out)
	}
	expectEvent("from curl")
	out = run(t, "curl", "-sS", "-X", "POST", url+"/call", "-H", "Authorization: Bearer "+token,
		"-H", "Content-Type: application/json", "-d", `{"procedure": "app.add", "args": [40, 2]}`)
	if strings.TrimSpace(out) != `{"args":[42]}` {
		t.Fatalf("curl call printed %q", out)
	}
}
