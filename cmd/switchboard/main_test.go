package main

import (
	"bytes"
	"context"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/gammazero/nexus/v3/wamp/crsign"

	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// runMainEnv makes the test binary run main() instead of the tests, so that
// tests can start the real command as a process.
const runMainEnv = "SWITCHBOARD_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	routertest.Main(m)
}

func runCmd(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr, nil)
	return code, stdout.String(), stderr.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := runCmd(t, context.Background(), "version")
	if code != 0 || !strings.HasPrefix(out, "switchboard ") {
		t.Fatalf("version: code %d, output %q", code, out)
	}
}

func TestCheckConfig(t *testing.T) {
	t.Setenv("SWITCHBOARD_BRIDGE_SECRET", "an-example-secret-for-tests")
	t.Setenv("SWITCHBOARD_BACKEND_TICKET", "an-example-ticket-for-tests")
	code, out, errOut := runCmd(t, context.Background(), "check-config", "../../config.yaml")
	if code != 0 || out != "../../config.yaml: OK\n" {
		t.Fatalf("good config: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	bad := "../../config/testdata/bad/bad_log.yaml"
	code, out, errOut = runCmd(t, context.Background(), "check-config", bad)
	if code != 1 || out != "" {
		t.Fatalf("bad config: code %d, stdout %q", code, out)
	}
	for _, want := range []string{bad + `: log.level: want debug|info|warn|error, got "loud"`, bad + `: log.format: want text|json, got "xml"`} {
		if !strings.Contains(errOut, want+"\n") {
			t.Errorf("stderr %q lacks %q", errOut, want)
		}
	}
	if code, _, _ := runCmd(t, context.Background(), "check-config"); code != 2 {
		t.Fatalf("check-config without a file: code %d, want 2", code)
	}
}

func TestBadConfigDoesNotStart(t *testing.T) {
	code, _, errOut := runCmd(t, context.Background(), "--config", "../../config/testdata/bad/undefined_role.yaml")
	if code != 1 || !strings.Contains(errOut, `realms[0].anonymous.role: role "guest" is not defined`) {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
	if code, _, _ := runCmd(t, context.Background(), "-c", "/nonexistent.yaml"); code != 1 {
		t.Fatalf("missing file: code %d, want 1", code)
	}
	if code, _, _ := runCmd(t, context.Background(), "--bogus"); code != 2 {
		t.Fatalf("unknown flag: code %d, want 2", code)
	}
}

// TestServeUntilCancelled runs the command with a config file whose listener
// is a Unix socket, joins a session, and stops the command as a signal would:
// the session gets GOODBYE and the command exits 0.
func TestServeUntilCancelled(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "sb.sock")
	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	cfg := "log: { level: debug, format: json }\nlisteners:\n  - address: \"unix:" + sock + "\"\n    rawsocket: {}\n" +
		"realms:\n  - name: realm1\n    anonymous: { role: anonymous }\n    roles:\n      - name: anonymous\n" +
		"        permissions: [{ uri: \"\", match: prefix, allow: { call: true, register: true, publish: true, subscribe: true } }]\n" +
		"shutdown_timeout: 3s\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		code   int
		stderr string
	}
	done := make(chan result, 1)
	go func() {
		var stdout, stderr bytes.Buffer
		code := run(ctx, []string{"-c", cfgPath}, &stdout, &stderr, nil)
		done <- result{code, stderr.String()}
	}()

	var c *client.Client
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		c, err = client.ConnectNet(context.Background(), "unix://"+sock, client.Config{Realm: "realm1", Logger: log.New(io.Discard, "", 0)})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("router did not come up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer c.Close()
	cancel()
	select {
	case r := <-done:
		if r.code != 0 {
			t.Fatalf("exit code %d, stderr %s", r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, `"msg":"shutdown complete"`) {
			t.Fatalf("stderr lacks the JSON shutdown log line: %s", r.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("command did not exit")
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("client not disconnected")
	}
	// The default shutdown_mode closes connections as a restart, without a
	// GOODBYE, so that clients reconnect.
	if gb := c.RouterGoodbye(); gb != nil {
		t.Fatalf("GOODBYE %v at shutdown, want none (shutdown_mode restart)", gb.Reason)
	}
}

func TestKeygenAndHashSecret(t *testing.T) {
	var out bytes.Buffer
	if code := keygen(&out, io.Discard); code != 0 {
		t.Fatalf("keygen: %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || len(strings.Fields(lines[0])[2]) != 64 || len(strings.Fields(lines[1])[2]) != 64 {
		t.Fatalf("keygen printed %q", out.String())
	}
	out.Reset()
	code := hashSecret([]string{"--salt", "pepper", "--iterations", "1000", "--keylen", "32"}, strings.NewReader("salted-password\n"), &out, io.Discard)
	var secret string
	for _, line := range strings.Split(out.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "secret: "); ok {
			secret = v
		}
	}
	if code != 0 || !strings.HasPrefix(out.String(), "salt: pepper\niterations: 1000\nkeylen: 32\n") || secret == "" {
		t.Fatalf("hash-secret: %d %q", code, out.String())
	}
	// The router signs a challenge with the printed secret exactly as a
	// WAMP-CRA client (nexus's, like autobahn's) does with the password.
	ch := &wamp.Challenge{AuthMethod: "wampcra", Extra: wamp.Dict{"challenge": "c", "salt": "pepper", "iterations": 1000, "keylen": 32}}
	if crsign.SignChallenge("c", []byte(secret)) != crsign.RespondChallenge("salted-password", ch, nil) {
		t.Fatal("the derived secret does not match what WAMP-CRA clients compute")
	}
	if code := hashSecret(nil, strings.NewReader(""), io.Discard, io.Discard); code != 2 {
		t.Fatalf("hash-secret without input: %d", code)
	}
}

// TestSIGHUPReloadsTheFile: the command reloads its file on SIGHUP; a
// broken file is refused with its errors and the old configuration stays.
func TestSIGHUPReloadsTheFile(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "sb.sock")
	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	write := func(ticket string) {
		cfg := "listeners:\n  - address: \"unix:" + sock + "\"\n    rawsocket: {}\n" +
			"realms:\n  - name: realm1\n    auth:\n      ticket:\n        principals:\n          svc: { ticket: \"" + ticket + "\", role: svc }\n" +
			"    roles:\n      - name: svc\n"
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("first-ticket-0123")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hup := make(chan os.Signal, 1)
	var stderr routertest.SyncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"-c", cfgPath}, io.Discard, &stderr, hup) }()

	join := func(ticket string) error {
		c, err := client.ConnectNet(context.Background(), "unix://"+sock, client.Config{Realm: "realm1", Logger: log.New(io.Discard, "", 0),
			HelloDetails: wamp.Dict{"authid": "svc"},
			AuthHandlers: map[string]client.AuthFunc{"ticket": func(*wamp.Challenge) (string, wamp.Dict) { return ticket, wamp.Dict{} }}})
		if err == nil {
			c.Close()
		}
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for join("first-ticket-0123") != nil {
		if time.Now().After(deadline) {
			t.Fatalf("router did not come up:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitLog := func(text string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(stderr.String(), text) {
			if time.Now().After(deadline) {
				t.Fatalf("log lacks %q:\n%s", text, stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	write("second-ticket-0123")
	hup <- syscall.SIGHUP
	waitLog("reload applied")
	if join("second-ticket-0123") != nil || join("first-ticket-0123") == nil {
		t.Fatal("the new ticket does not work, or the old one still does")
	}
	if err := os.WriteFile(cfgPath, []byte("listeners: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hup <- syscall.SIGHUP
	waitLog("reload refused")
	if join("second-ticket-0123") != nil {
		t.Fatal("a broken file changed the running configuration")
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// TestClosedStderrDoesNotKill runs the command as a process whose stdout and
// stderr are a pipe nobody reads (closed read end): every log line fails
// with EPIPE, and the router still serves sessions and exits 0 on SIGTERM
// instead of dying of SIGPIPE at its first log line.
func TestClosedStderrDoesNotKill(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock := filepath.Join(dir, "sb.sock")
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg := "log: { level: debug }\nlisteners:\n  - address: \"unix:" + sock + "\"\n    rawsocket: {}\n" +
		"realms:\n  - name: realm1\n    anonymous: { role: anonymous }\n    roles:\n      - name: anonymous\n" +
		"        permissions: [{ uri: \"\", match: prefix, allow: { call: true, register: true, publish: true, subscribe: true } }]\n" +
		"shutdown_timeout: 3s\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	cmd := exec.Command(os.Args[0], "-c", cfgPath)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	join := func() error {
		c, err := client.ConnectNet(context.Background(), "unix://"+sock, client.Config{Realm: "realm1", Logger: log.New(io.Discard, "", 0)})
		if err != nil {
			return err
		}
		return c.Close()
	}
	deadline := time.Now().Add(20 * time.Second)
	for err := join(); err != nil; err = join() {
		select {
		case err := <-exited:
			t.Fatalf("the router exited with its stderr closed: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("router did not come up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// More sessions, more log lines that cannot be written.
	for range 3 {
		if err := join(); err != nil {
			t.Fatalf("join after the first: %v", err)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v, want code 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the router did not exit after SIGTERM")
	}
}
