package switchboard_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/golang-jwt/jwt/v5"

	switchboard "github.com/switchboard-wamp/switchboard/clients/go"
	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

func TestMain(m *testing.M) { routertest.Main(m) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReconnectAfterRouterRestart: the router is shut down and started again
// on the same address mid-stream; the client reconnects within its backoff
// bound, its subscription and registration work again, calls during the
// outage fail fast with ErrNotConnected, and no event arrives twice.
// TestReconnectAfterRouterRestart: the Go client reconnects and restores
// its subscriptions and registrations after a router restart, whether the
// router closed its connection as a restart (the default) or said GOODBYE.
func TestReconnectAfterRouterRestart(t *testing.T) {
	for _, mode := range []string{config.ShutdownRestart, config.ShutdownGoodbye} {
		t.Run(mode, func(t *testing.T) { reconnectAfterRestart(t, mode) })
	}
}

func reconnectAfterRestart(t *testing.T, mode string) {
	first := routertest.Start(t, func(c *config.Config) { c.ShutdownMode = mode })
	url := first.URL(0)
	addr := first.Addr(0).String()

	var connects, disconnects atomic.Int32
	c, err := switchboard.Dial(context.Background(), url, switchboard.Options{
		Realm: "realm1", Serializer: "msgpack",
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 400 * time.Millisecond,
		OnConnect:    func(uint64) { connects.Add(1) },
		OnDisconnect: func(error) { disconnects.Add(1) },
	})
	must(t, err)
	defer c.Close()
	var mu sync.Mutex
	seen := map[int64]int{}
	must(t, c.Subscribe("com.restart.news", func(e switchboard.Event) {
		n, _ := wamp.AsInt64(e.Args[0])
		mu.Lock()
		seen[n]++
		mu.Unlock()
	}, nil))
	must(t, c.Register("com.restart.echo", func(_ context.Context, inv switchboard.Invocation) (switchboard.Result, error) {
		return switchboard.Result{Args: inv.Args}, nil
	}, nil))

	publishRange := func(srv *routertest.Server, from, to int) {
		pub := srv.Dial(t, 1, "json", client.Config{})
		for i := from; i <= to; i++ {
			must(t, pub.Publish("com.restart.news", wamp.Dict{"acknowledge": true}, wamp.List{i}, nil))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := pub.Call(ctx, "com.restart.echo", nil, wamp.List{"ping"}, nil, nil)
		must(t, err)
		if res.Arguments[0] != "ping" {
			t.Fatalf("echo %v", res.Arguments)
		}
		_ = pub.Close()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }
	publishRange(first, 1, 3)
	waitFor(t, "events before the restart", 5*time.Second, func() bool { return count() == 3 })

	must(t, first.Shutdown(context.Background()))
	waitFor(t, "disconnect noticed", 5*time.Second, func() bool { return disconnects.Load() == 1 })
	if c.Connected() {
		t.Fatal("client says connected while the router is down")
	}
	// Calls during the outage fail with the typed error, well within their deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	start := time.Now()
	_, err = c.Call(ctx, "com.restart.echo", nil, nil)
	cancel()
	// ErrNotConnected, not the context's deadline: it did not wait.
	if !errors.Is(err, switchboard.ErrNotConnected) {
		t.Fatalf("call during the outage: %v after %v, want ErrNotConnected at once", err, time.Since(start))
	}
	if err := c.PublishAck(context.Background(), "com.restart.news", []any{99}, nil, nil); !errors.Is(err, switchboard.ErrNotConnected) {
		t.Fatalf("publish during the outage: %v", err)
	}

	restarted := time.Now()
	second := routertest.Start(t, func(cfg *config.Config) { cfg.Listeners[0].Address = addr })
	waitFor(t, "reconnection", 15*time.Second, func() bool { return connects.Load() == 2 && c.Connected() })
	t.Logf("reconnected %v after the router came back", time.Since(restarted).Round(time.Millisecond))
	publishRange(second, 4, 6)
	waitFor(t, "events after the restart", 5*time.Second, func() bool { return count() == 6 })
	mu.Lock()
	for i := int64(1); i <= 6; i++ {
		if seen[i] != 1 {
			t.Errorf("event %d delivered %d times", i, seen[i])
		}
	}
	mu.Unlock()
	must(t, c.Close())
	must(t, c.Close()) // idempotent
}

// TestWaitForConnection: with WaitForConnection, a call made during an
// outage waits for the reconnection and succeeds.
func TestWaitForConnection(t *testing.T) {
	first := routertest.Start(t, nil)
	addr := first.Addr(0).String()
	c, err := switchboard.Dial(context.Background(), first.URL(0), switchboard.Options{
		Realm: "realm1", ReconnectMin: 50 * time.Millisecond, ReconnectMax: 200 * time.Millisecond, WaitForConnection: true,
	})
	must(t, err)
	defer c.Close()
	must(t, c.Register("com.wait.echo", func(_ context.Context, inv switchboard.Invocation) (switchboard.Result, error) {
		return switchboard.Result{Args: inv.Args}, nil
	}, nil))
	must(t, first.Shutdown(context.Background()))
	waitFor(t, "disconnect", 5*time.Second, func() bool { return !c.Connected() })
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := c.Call(ctx, "com.wait.echo", []any{"back"}, nil)
		if err == nil && res.Args[0] != "back" {
			err = fmt.Errorf("result %v", res.Args)
		}
		done <- err
	}()
	// While the router is down the call stays pending (observed for 100 ms).
	select {
	case err := <-done:
		t.Fatalf("call returned during the outage: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	routertest.Start(t, func(cfg *config.Config) { cfg.Listeners[0].Address = addr })
	must(t, <-done)
}

func TestTypedErrorsAndDecoding(t *testing.T) {
	srv := routertest.Start(t, nil)
	c, err := switchboard.Dial(context.Background(), srv.URL(1), switchboard.Options{Realm: "realm1", Serializer: "cbor"})
	must(t, err)
	defer c.Close()
	type order struct {
		ID    int    `json:"id"`
		Item  string `json:"item"`
		Count int    `json:"count"`
	}
	must(t, c.Register("com.typed.order", func(_ context.Context, inv switchboard.Invocation) (switchboard.Result, error) {
		var o order
		if err := inv.Decode(&o); err != nil || o.Count <= 0 {
			return switchboard.Result{}, &switchboard.RPCError{URI: "com.typed.error.invalid", Args: []any{"count must be positive"}, Kwargs: map[string]any{"count": o.Count}}
		}
		return switchboard.Result{Kwargs: map[string]any{"id": 7, "item": o.Item, "count": o.Count}}, nil
	}, nil))
	must(t, c.Register("com.typed.slow", func(ctx context.Context, _ switchboard.Invocation) (switchboard.Result, error) {
		<-ctx.Done()
		return switchboard.Result{}, ctx.Err()
	}, nil))
	must(t, c.Register("com.typed.progress", func(ctx context.Context, _ switchboard.Invocation) (switchboard.Result, error) {
		for i := 1; i <= 2; i++ {
			if err := c.SendProgress(ctx, []any{i}, nil); err != nil {
				return switchboard.Result{}, err
			}
		}
		return switchboard.Result{Args: []any{"done"}}, nil
	}, nil))
	ctx := context.Background()
	var progress []any
	res, err := c.Call(ctx, "com.typed.progress", nil, nil, switchboard.WithProgress(func(r switchboard.Result) { progress = append(progress, r.Args[0]) }))
	must(t, err)
	if res.Args[0] != "done" || fmt.Sprint(progress) != "[1 2]" {
		t.Fatalf("progressive call: %v after %v", res.Args, progress)
	}
	res, err = c.Call(ctx, "com.typed.order", nil, map[string]any{"item": "tea", "count": 2})
	must(t, err)
	var o order
	must(t, res.Decode(&o))
	if o != (order{ID: 7, Item: "tea", Count: 2}) {
		t.Fatalf("decoded %+v", o)
	}
	_, err = c.Call(ctx, "com.typed.order", nil, map[string]any{"item": "tea"})
	var rpcErr *switchboard.RPCError
	if !errors.As(err, &rpcErr) || rpcErr.URI != "com.typed.error.invalid" || rpcErr.Args[0] != "count must be positive" {
		t.Fatalf("error %#v", err)
	}
	_, err = c.Call(ctx, "com.typed.missing", nil, nil)
	if !errors.As(err, &rpcErr) || rpcErr.URI != "wamp.error.no_such_procedure" {
		t.Fatalf("missing procedure: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Call(short, "com.typed.slow", nil, nil)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("deadline: %v after %v", err, time.Since(start))
	}
}

func TestAuthMethods(t *testing.T) {
	const jwtSecret = "client-test-jwt-secret-0123456789abcdef"
	signerPub, signerKey, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	// The salted secret as `switchboard hash-secret` derives it.
	derived := base64.StdEncoding.EncodeToString(pbkdf2Key("salted-password", "pepper", 1000, 32))
	srv := routertest.Start(t, func(cfg *config.Config) {
		cfg.Realms[0].Auth.WAMPCRA = &config.WAMPCRAAuth{Users: map[string]config.CRAUser{
			"worker": {Secret: "worker-secret-0123", Role: "anonymous"},
			"salted": {Secret: derived, Role: "anonymous", Salt: "pepper", Iterations: 1000, KeyLen: 32},
		}}
		cfg.Realms[0].Auth.Cryptosign = &config.CryptosignAuth{Principals: map[string]config.CryptosignPrincipal{
			"signer": {AuthorizedKeys: []string{hex.EncodeToString(signerPub)}, Role: "anonymous"},
		}}
		cfg.Realms[0].Auth.Ticket = &config.TicketAuth{Principals: map[string]config.TicketPrincipal{
			"backend": {Ticket: "backend-ticket-0123", Role: "anonymous"}}}
		cfg.Realms[0].Auth.JWT = &config.JWTAuth{Algorithms: []string{"HS256"}, Secret: jwtSecret,
			AuthIDClaim: "sub", RoleClaim: "role", Leeway: time.Second}
	})
	dial := func(o switchboard.Options) (*switchboard.Client, error) {
		o.Realm = "realm1"
		return switchboard.Dial(context.Background(), srv.URL(0), o)
	}
	anon, err := dial(switchboard.Options{})
	must(t, err)
	anon.Close()
	ticket, err := dial(switchboard.Options{AuthID: "backend", Ticket: "backend-ticket-0123"})
	must(t, err)
	ticket.Close()
	if c, err := dial(switchboard.Options{AuthID: "backend", Ticket: "wrong"}); err == nil {
		c.Close()
		t.Fatal("joined with a wrong ticket")
	}
	fresh := func(context.Context) (string, error) {
		return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "svc", "role": "anonymous",
			"exp": time.Now().Add(time.Minute).Unix()}).SignedString([]byte(jwtSecret))
	}
	j, err := dial(switchboard.Options{TicketFunc: fresh})
	must(t, err)
	j.Close()

	// WAMP-CRA, plain and salted; cryptosign.
	cra, err := dial(switchboard.Options{AuthID: "worker", WAMPCRASecret: "worker-secret-0123"})
	must(t, err)
	if cra.SessionID() == 0 {
		t.Fatal("no session")
	}
	cra.Close()
	salted, err := dial(switchboard.Options{AuthID: "salted", WAMPCRASecret: "salted-password"})
	must(t, err)
	salted.Close()
	if c, err := dial(switchboard.Options{AuthID: "worker", WAMPCRASecret: "wrong"}); err == nil {
		c.Close()
		t.Fatal("joined with a wrong WAMP-CRA secret")
	}
	if c, err := dial(switchboard.Options{AuthID: "nobody", WAMPCRASecret: "worker-secret-0123"}); err == nil {
		c.Close()
		t.Fatal("joined as an unknown WAMP-CRA user")
	}
	cs, err := dial(switchboard.Options{AuthID: "signer", CryptosignKey: signerKey})
	must(t, err)
	cs.Close()
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	if c, err := dial(switchboard.Options{AuthID: "signer", CryptosignKey: otherKey}); err == nil {
		c.Close()
		t.Fatal("joined with an unauthorized cryptosign key")
	}
}

func pbkdf2Key(password, salt string, iterations, keylen int) []byte {
	k, err := pbkdf2.Key(sha256.New, password, []byte(salt), iterations, keylen)
	if err != nil {
		panic(err)
	}
	return k
}

// TestHeaderReachesTheAuthWebhook: Options.Header is sent with the upgrade,
// where the router's auth webhook sees it.
func TestHeaderReachesTheAuthWebhook(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Transport struct{ Headers map[string][]string }
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		if fmt.Sprint(req.Transport.Headers["Authorization"]) != "[Bearer service-token]" {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"authid": "svc", "role": "anonymous"})
	}))
	defer app.Close()
	srv := routertest.Start(t, func(cfg *config.Config) {
		cfg.Realms[0].Anonymous = nil
		cfg.Realms[0].Auth.Webhook = &config.WebhookAuth{URL: app.URL, Methods: []string{"anonymous"},
			ForwardHeaders: []string{"Authorization"}, Timeout: time.Second}
	})
	c, err := switchboard.Dial(context.Background(), srv.URL(0), switchboard.Options{
		Realm: "realm1", Serializer: "cbor", Header: http.Header{"Authorization": {"Bearer service-token"}}})
	must(t, err)
	if c.SessionID() == 0 {
		t.Fatal("no session")
	}
	c.Close()
	if c, err := switchboard.Dial(context.Background(), srv.URL(0), switchboard.Options{Realm: "realm1"}); err == nil {
		c.Close()
		t.Fatal("joined without the header")
	}
}

// TestTLS: wss:// and tcps:// with a certificate the client trusts; one it
// does not trust is refused.
func TestTLS(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	must(t, err)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	must(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	must(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	cert, err := x509.ParseCertificate(der)
	must(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	srv := routertest.Start(t, func(c *config.Config) {
		for i := range c.Listeners {
			c.Listeners[i].TLS = config.TLS{CertFile: certFile, KeyFile: keyFile}
		}
	})
	for _, l := range []int{0, 1} {
		c, err := switchboard.Dial(context.Background(), srv.URL(l), switchboard.Options{Realm: "realm1", TLS: &tls.Config{RootCAs: pool}})
		must(t, err)
		c.Close()
		if c, err := switchboard.Dial(context.Background(), srv.URL(l), switchboard.Options{Realm: "realm1", TLS: &tls.Config{}}); err == nil {
			c.Close()
			t.Fatalf("%s: joined without trusting the certificate", srv.URL(l))
		}
	}
}

// TestPublishUnsubscribeAndOptions: fire-and-forget Publish, Event.Decode,
// CALL options with WithOptions, and Unsubscribe (which also keeps the
// subscription from coming back after a reconnection).
func TestPublishUnsubscribeAndOptions(t *testing.T) {
	srv := routertest.Start(t, nil)
	c, err := switchboard.Dial(context.Background(), srv.URL(0), switchboard.Options{Realm: "realm1"})
	must(t, err)
	defer c.Close()
	events := make(chan switchboard.Event, 4)
	must(t, c.SubscribeChan("com.opts.news", events, nil))
	must(t, c.Publish("com.opts.news", nil, map[string]any{"item": "tea", "count": 2}, map[string]any{"exclude_me": false}))
	select {
	case ev := <-events:
		var got struct {
			Item  string
			Count int
		}
		must(t, ev.Decode(&got))
		if got.Item != "tea" || got.Count != 2 {
			t.Fatalf("decoded %+v", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	must(t, c.Register("com.opts.who", func(_ context.Context, inv switchboard.Invocation) (switchboard.Result, error) {
		return switchboard.Result{Args: []any{inv.Details["caller"]}}, nil
	}, nil))
	ctx := context.Background()
	res, err := c.Call(ctx, "com.opts.who", nil, nil, switchboard.WithOptions(map[string]any{"disclose_me": true}))
	must(t, err)
	if id, _ := wamp.AsID(res.Args[0]); uint64(id) != c.SessionID() {
		t.Fatalf("disclosed caller %v, want %d", res.Args[0], c.SessionID())
	}
	// After Unsubscribe nothing arrives: a marker on another topic,
	// published later, comes first.
	markers := make(chan switchboard.Event, 1)
	must(t, c.SubscribeChan("com.opts.marker", markers, nil))
	must(t, c.Unsubscribe("com.opts.news"))
	must(t, c.PublishAck(ctx, "com.opts.news", []any{"after"}, nil, map[string]any{"exclude_me": false}))
	must(t, c.PublishAck(ctx, "com.opts.marker", nil, nil, map[string]any{"exclude_me": false}))
	select {
	case <-markers:
	case <-time.After(5 * time.Second):
		t.Fatal("no marker")
	}
	select {
	case ev := <-events:
		t.Fatalf("event after Unsubscribe: %v", ev.Args)
	default:
	}
}
