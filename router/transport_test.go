package router_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/gorilla/websocket"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
	"github.com/switchboard-wamp/switchboard/transport"
)

// selfSigned writes a certificate for 127.0.0.1 and returns the file paths
// and a pool that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "switchboard test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	must(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	must(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	must(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	cert, err := x509.ParseCertificate(der)
	must(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSigned(t)
	srv := routertest.Start(t, func(c *config.Config) {
		for i := range c.Listeners {
			c.Listeners[i].TLS = config.TLS{CertFile: certFile, KeyFile: keyFile}
		}
	})
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			url := srv.URL(tr.listener)
			if !strings.HasPrefix(url, "wss://") && !strings.HasPrefix(url, "tcps://") {
				t.Fatalf("URL %s is not TLS", url)
			}
			c := srv.Dial(t, tr.listener, "json", client.Config{TlsCfg: &tls.Config{RootCAs: pool}})
			events := make(chan *wamp.Event, 1)
			must(t, c.SubscribeChan("com.tls."+tr.name, events, nil))
			must(t, c.Publish("com.tls."+tr.name, wamp.Dict{"exclude_me": false, "acknowledge": true}, wamp.List{"secure"}, nil))
			if ev := recv(t, events); ev.Arguments[0] != "secure" {
				t.Fatalf("event = %v", ev.Arguments)
			}
			// Idle TLS sessions are parked too, and wake for the next message.
			if runtime.GOOS == "linux" {
				waitFor(t, "the TLS connection to park", func() bool { return srv.Stats().ParkedConnections >= 1 })
				must(t, c.Publish("com.tls."+tr.name, wamp.Dict{"exclude_me": false, "acknowledge": true}, wamp.List{"parked"}, nil))
				if ev := recv(t, events); ev.Arguments[0] != "parked" {
					t.Fatalf("event = %v", ev.Arguments)
				}
			}
			// A client that does not trust the certificate cannot join.
			if c, err := srv.DialErr(tr.listener, "json", client.Config{TlsCfg: &tls.Config{}}); err == nil {
				c.Close()
				t.Fatal("joined without trusting the certificate")
			}
		})
	}
}

// upgrade attempts a WebSocket upgrade with the given origin and
// subprotocols and returns the HTTP status and body.
func upgrade(t *testing.T, url, origin string, protocols []string) (int, string, *websocket.Conn) {
	t.Helper()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	d := websocket.Dialer{Subprotocols: protocols, HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial(url, h)
	if err == nil {
		t.Cleanup(func() { ws.Close() })
		return resp.StatusCode, "", ws
	}
	if resp == nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(body), nil
}

func TestOriginsAndSubprotocols(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, func(c *config.Config) {
		c.Listeners[0].WebSocket.AllowedOrigins = []string{"https://*.example.com", "http://localhost:*"}
	})
	url := srv.URL(0)
	json1 := []string{"wamp.2.json"}
	for _, tc := range []struct {
		origin string
		status int
	}{
		{"", http.StatusSwitchingProtocols},
		{"https://app.example.com", http.StatusSwitchingProtocols},
		{"http://localhost:3000", http.StatusSwitchingProtocols},
		// Same host without TLS: a DNS-rebinding page looks like this.
		{"http://" + srv.Addr(0).String(), http.StatusForbidden},
		{"https://evil.example.org", http.StatusForbidden},
		{"http://app.example.com", http.StatusForbidden}, // wrong scheme
		{"null", http.StatusForbidden},
	} {
		status, body, _ := upgrade(t, url, tc.origin, json1)
		if status != tc.status {
			t.Errorf("origin %q: status %d, want %d (%s)", tc.origin, status, tc.status, body)
		}
		if status == http.StatusForbidden {
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error != "switchboard.error.origin_not_allowed" {
				t.Errorf("origin %q: body %q, want a JSON error", tc.origin, body)
			}
		}
	}
	status, body, _ := upgrade(t, url, "", []string{"mqtt"})
	if status != http.StatusBadRequest || !strings.Contains(body, "wamp.2.json") {
		t.Errorf("unsupported subprotocol: status %d body %q", status, body)
	}
	resp, err := http.Get("http://" + srv.Addr(0).String() + "/ws")
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("plain GET: status %d, want 426", resp.StatusCode)
	}
}

// rawJoin opens a WAMP session by hand over WebSocket with JSON.
func rawJoin(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	status, body, ws := upgrade(t, url, "", []string{"wamp.2.json"})
	if ws == nil {
		t.Fatalf("upgrade: %d %s", status, body)
	}
	must(t, ws.WriteMessage(websocket.TextMessage, []byte(`[1,"realm1",{"roles":{"subscriber":{},"publisher":{}}}]`)))
	_, msg, err := ws.ReadMessage()
	must(t, err)
	if !strings.HasPrefix(string(msg), "[2,") {
		t.Fatalf("expected WELCOME, got %s", msg)
	}
	return ws
}

func TestProtocolViolationGetsAbort(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	ws := rawJoin(t, srv.URL(0))
	must(t, ws.WriteMessage(websocket.TextMessage, []byte(`this is not json`)))
	must(t, ws.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, msg, err := ws.ReadMessage()
	must(t, err)
	var abort []any
	must(t, json.Unmarshal(msg, &abort))
	if len(abort) < 3 || abort[0] != float64(wamp.ABORT) || abort[2] != string(wamp.ErrProtocolViolation) {
		t.Fatalf("got %s, want ABORT wamp.error.protocol_violation", msg)
	}
	if _, _, err := ws.ReadMessage(); err == nil {
		t.Fatal("connection still open after ABORT")
	}
}

// TestMaxMessageSize: requests over max_message_size are answered with
// ERROR wamp.error.payload_size_exceeded and the session goes on; a
// callee's oversized YIELD reaches the caller as that error; a message past
// the discard bound (16 x the limit) ends the session with GOODBYE.
func TestMaxMessageSize(t *testing.T) {
	t.Parallel()
	const limit = 2048
	srv := routertest.Start(t, func(c *config.Config) {
		c.Listeners[0].WebSocket.MaxMessageSize = limit
		c.Listeners[1].RawSocket.MaxMessageSize = limit
	})
	big := strings.Repeat("x", 2*limit)
	t.Run("websocket", func(t *testing.T) {
		for _, ser := range serializers {
			c := srv.Dial(t, 0, ser, client.Config{})
			// Under the limit: fine.
			must(t, c.Publish("com.size", wamp.Dict{"acknowledge": true}, wamp.List{strings.Repeat("x", 1000)}, nil))
			// Over it: an ERROR for each kind of request, the session stays.
			if err := c.Publish("com.size", wamp.Dict{"acknowledge": true}, wamp.List{big}, nil); !errorIs(err, transport.ErrPayloadSizeExceeded) {
				t.Fatalf("%s: oversized publish: %v, want %s", ser, err, transport.ErrPayloadSizeExceeded)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := c.Call(ctx, "com.size.proc", nil, wamp.List{big}, nil, nil)
			cancel()
			if !errorIs(err, transport.ErrPayloadSizeExceeded) {
				t.Fatalf("%s: oversized call: %v", ser, err)
			}
			if err := c.Subscribe("com.size."+big, func(*wamp.Event) {}, nil); !errorIs(err, transport.ErrPayloadSizeExceeded) {
				t.Fatalf("%s: oversized subscribe: %v", ser, err)
			}
			must(t, c.Publish("com.size", wamp.Dict{"acknowledge": true}, wamp.List{"still here"}, nil))
			// Past the discard bound: GOODBYE, the session ends.
			_ = c.Publish("com.size", nil, wamp.List{strings.Repeat("x", 17*limit)}, nil)
			select {
			case <-c.Done():
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: session still open after a message past the discard bound", ser)
			}
		}
	})
	t.Run("oversized yield", func(t *testing.T) {
		callee := srv.Dial(t, 0, "json", client.Config{})
		must(t, callee.Register("com.size.big", func(context.Context, *wamp.Invocation) client.InvokeResult {
			return client.InvokeResult{Args: wamp.List{big}}
		}, nil))
		caller := srv.Dial(t, 1, "cbor", client.Config{})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := caller.Call(ctx, "com.size.big", nil, nil, nil, nil); !errorIs(err, transport.ErrPayloadSizeExceeded) {
			t.Fatalf("call of a callee answering too much: %v, want %s", err, transport.ErrPayloadSizeExceeded)
		}
		// Both sessions go on.
		must(t, callee.Publish("com.size", wamp.Dict{"acknowledge": true}, nil, nil))
		must(t, caller.Publish("com.size", wamp.Dict{"acknowledge": true}, nil, nil))
	})
	t.Run("rawsocket", func(t *testing.T) {
		// nexus's client refuses to send over the announced limit, so this
		// speaks RawSocket by hand.
		conn, err := net.Dial("tcp", srv.Addr(1).String())
		must(t, err)
		defer conn.Close()
		must(t, conn.SetDeadline(time.Now().Add(5*time.Second)))
		_, err = conn.Write([]byte{0x7f, 0xf1, 0, 0}) // JSON, client accepts 16 MiB
		must(t, err)
		var hs [4]byte
		_, err = io.ReadFull(conn, hs[:])
		must(t, err)
		if hs[0] != 0x7f || hs[1] != 2<<4|1 {
			t.Fatalf("handshake reply % x, want 7f 21 (2048 bytes, JSON)", hs)
		}
		frame := func(payload []byte) []byte {
			n := len(payload)
			return append([]byte{0, byte(n >> 16), byte(n >> 8), byte(n)}, payload...)
		}
		read := func() string {
			var h [4]byte
			_, err := io.ReadFull(conn, h[:])
			must(t, err)
			b := make([]byte, int(h[1])<<16|int(h[2])<<8|int(h[3]))
			_, err = io.ReadFull(conn, b)
			must(t, err)
			return string(b)
		}
		_, err = conn.Write(frame([]byte(`[1,"realm1",{"roles":{"publisher":{}}}]`)))
		must(t, err)
		if welcome := read(); !strings.HasPrefix(welcome, "[2,") {
			t.Fatalf("expected WELCOME, got %s", welcome)
		}
		_, err = conn.Write(frame([]byte(`[16,1,{"acknowledge":true},"com.size",["` + big + `"]]`)))
		must(t, err)
		if reply := read(); !strings.HasPrefix(reply, `[8,16,1,{},"wamp.error.payload_size_exceeded"`) {
			t.Fatalf("oversized publish answered %s", reply)
		}
		_, err = conn.Write(frame([]byte(`[16,2,{"acknowledge":true},"com.size",["small"]]`)))
		must(t, err)
		if reply := read(); !strings.HasPrefix(reply, "[17,2,") {
			t.Fatalf("publish after the oversized one answered %s", reply)
		}
	})
	families, _ := scrape(t, srv)
	if got := value(families, "switchboard_messages_refused_total", map[string]string{"reason": "too_big"}); got < 14 {
		t.Fatalf("too_big refusals counted: %v, want >= 14", got)
	}
}

// TestLargeEventToIdleSubscriber: an event larger than max_queue_bytes
// reaches a subscriber with nothing queued (it is large, not behind).
func TestLargeEventToIdleSubscriber(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, func(c *config.Config) {
		c.Listeners[0].WebSocket.MaxQueueBytes = 64 << 10
		c.Listeners[1].RawSocket.MaxQueueBytes = 64 << 10
	})
	payload := strings.Repeat("y", 1<<20)
	for _, tr := range transports {
		sub := srv.Dial(t, tr.listener, "msgpack", client.Config{})
		events := make(chan *wamp.Event, 1)
		must(t, sub.Subscribe("com.large", func(ev *wamp.Event) { events <- ev }, nil))
		pub := srv.Dial(t, 0, "json", client.Config{})
		must(t, pub.Publish("com.large", wamp.Dict{"acknowledge": true}, wamp.List{payload}, nil))
		if ev := recv(t, events); ev.Arguments[0] != payload {
			t.Fatalf("%s: event of %d bytes changed on the way", tr.name, len(payload))
		}
		must(t, sub.Unsubscribe("com.large"))
	}
	if n := srv.Stats().SlowConsumers; n != 0 {
		t.Fatalf("%d slow consumers, want 0", n)
	}
}

// TestKeepaliveDropsSilentClient is not parallel: it depends on clients
// answering pings within 2 intervals, which a loaded machine may delay.
func TestKeepaliveDropsSilentClient(t *testing.T) {
	srv := routertest.Start(t, func(c *config.Config) {
		c.Listeners[0].WebSocket.PingInterval = 200 * time.Millisecond
	})
	// A client that answers pings (gorilla does by default) stays.
	alive := rawJoin(t, srv.URL(0))
	aliveErr := make(chan error, 1)
	go func() {
		_ = alive.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, _, err := alive.ReadMessage()
		aliveErr <- err
	}()
	// A client that ignores pings is disconnected after two intervals.
	silent := rawJoin(t, srv.URL(0))
	silent.SetPingHandler(func(string) error { return nil })
	expectDisconnected(t, silent, 5*time.Second)
	// The answering client was not: its read only timed out.
	if err := <-aliveErr; err == nil || !isTimeout(err) {
		t.Fatalf("answering client: read error %v, want a timeout (still connected)", err)
	}
}

// rawSubscribe subscribes a session opened by rawJoin to topic (request 1).
func rawSubscribe(t *testing.T, ws *websocket.Conn, topic string) {
	t.Helper()
	must(t, ws.WriteMessage(websocket.TextMessage, []byte(`[32,1,{},"`+topic+`"]`)))
	_, msg, err := ws.ReadMessage()
	must(t, err)
	if !strings.HasPrefix(string(msg), "[33,1,") {
		t.Fatalf("expected SUBSCRIBED, got %s", msg)
	}
}

// expectDisconnected waits up to within for the router to end the
// connection of ws, which must not receive a message meanwhile.
func expectDisconnected(t *testing.T, ws *websocket.Conn, within time.Duration) {
	t.Helper()
	must(t, ws.SetReadDeadline(time.Now().Add(within)))
	start := time.Now()
	_, msg, err := ws.ReadMessage()
	if err == nil {
		t.Fatalf("got %s instead of being disconnected", msg)
	}
	if isTimeout(err) {
		t.Fatalf("not disconnected within %v (%v)", within, err)
	}
	t.Logf("disconnected after %v", time.Since(start).Round(time.Millisecond))
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
