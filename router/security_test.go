package router_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport/serialize"
	"github.com/gammazero/nexus/v3/wamp"
	dto "github.com/prometheus/client_model/go"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
	"github.com/switchboard-wamp/switchboard/transport"
)

// dialRawWebSocket performs a WebSocket handshake by hand over TCP from
// local (nil: any address) and returns the connection, ready for frames.
func dialRawWebSocket(t *testing.T, addr net.Addr, local net.Addr, subprotocol string) net.Conn {
	t.Helper()
	conn, status := tryRawWebSocket(t, addr, local, subprotocol)
	if conn == nil {
		t.Fatalf("websocket handshake: %s", status)
	}
	return conn
}

// tryRawWebSocket is dialRawWebSocket that returns the HTTP status line and
// body instead of failing when the upgrade is refused.
func tryRawWebSocket(t *testing.T, addr net.Addr, local net.Addr, subprotocol string) (net.Conn, string) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if local != nil {
		d.LocalAddr = local
	}
	conn, err := d.Dial("tcp", addr.String())
	must(t, err)
	t.Cleanup(func() { conn.Close() })
	must(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
		addr, subprotocol)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, "no HTTP response: " + err.Error()
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		conn.Close()
		return nil, fmt.Sprintf("%s %s", resp.Status, body)
	}
	if br.Buffered() > 0 {
		t.Fatal("router wrote before the client's first message")
	}
	must(t, conn.SetDeadline(time.Time{}))
	return conn, resp.Status
}

// wsFrameHeader is a masked client frame header (zero mask) announcing n
// payload bytes.
func wsFrameHeader(fin bool, opcode byte, n int) []byte {
	b0 := opcode
	if fin {
		b0 |= 0x80
	}
	h := []byte{b0}
	switch {
	case n < 126:
		h = append(h, 0x80|byte(n))
	case n <= 0xffff:
		h = binary.BigEndian.AppendUint16(append(h, 0x80|126), uint16(n))
	default:
		h = binary.BigEndian.AppendUint64(append(h, 0x80|127), uint64(n))
	}
	return append(h, 0, 0, 0, 0) // a zero mask leaves the payload as is
}

// readServerFrame reads one unmasked server frame's payload.
func readServerFrame(t *testing.T, r io.Reader) (opcode byte, payload []byte, err error) {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(r, payload)
	return h[0] & 0x0f, payload, err
}

// nestedTags is a CBOR item wrapped in n tags (tag 6, one byte each).
func nestedTags(n int) []byte {
	return append(bytes.Repeat([]byte{0xc6}, n), 0x00)
}

// expectAbort reads the router's reply to a refused first message: an
// ABORT (decoded with codec) with reason, then the end of the connection.
func expectAbort(t *testing.T, msg []byte, codec serialize.Serializer, reason wamp.URI) {
	t.Helper()
	m, err := codec.Deserialize(msg)
	if err != nil {
		t.Fatalf("router's reply does not decode: %v (% x)", err, msg[:min(len(msg), 32)])
	}
	abort, ok := m.(*wamp.Abort)
	if !ok || abort.Reason != reason {
		t.Fatalf("router replied %v, want ABORT %s", m, reason)
	}
}

// TestNestedCBORTagsDoNotCrash: a first message of ~1 MB nested CBOR tags
// (which the decoder would recurse into until the stack overflows) is
// refused with ABORT before it is decoded, on both transports, and the
// router serves on.
func TestNestedCBORTagsDoNotCrash(t *testing.T) {
	t.Parallel()
	// The default max_opening_message_size (64 KiB) refuses a 1 MB HELLO
	// before the nesting check sees it: let it through to test the check.
	srv := routertest.Start(t, func(c *config.Config) { c.Limits.MaxOpeningMessageSize = 2 << 20 })
	attack := nestedTags(1_000_000)
	cbor := &serialize.CBORSerializer{}

	t.Run("websocket", func(t *testing.T) {
		conn := dialRawWebSocket(t, srv.Addr(0), nil, "wamp.2.cbor")
		must(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
		_, err := conn.Write(append(wsFrameHeader(true, 0x2, len(attack)), attack...))
		must(t, err)
		op, msg, err := readServerFrame(t, conn)
		must(t, err)
		if op != 0x2 {
			t.Fatalf("first server frame has opcode %#x, want a binary ABORT", op)
		}
		expectAbort(t, msg, cbor, wamp.ErrProtocolViolation)
		if _, err := io.ReadAll(conn); isTimeout(err) {
			t.Fatal("connection still open after ABORT")
		}
	})
	t.Run("rawsocket", func(t *testing.T) {
		conn, err := net.Dial("tcp", srv.Addr(1).String())
		must(t, err)
		defer conn.Close()
		must(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
		_, err = conn.Write([]byte{0x7f, 0xf3, 0, 0}) // CBOR
		must(t, err)
		var hs [4]byte
		_, err = io.ReadFull(conn, hs[:])
		must(t, err)
		n := len(attack)
		_, err = conn.Write(append([]byte{0, byte(n >> 16), byte(n >> 8), byte(n)}, attack...))
		must(t, err)
		var h [4]byte
		_, err = io.ReadFull(conn, h[:])
		must(t, err)
		msg := make([]byte, int(h[1])<<16|int(h[2])<<8|int(h[3]))
		_, err = io.ReadFull(conn, msg)
		must(t, err)
		expectAbort(t, msg, cbor, wamp.ErrProtocolViolation)
	})
	// Still serving.
	sub := srv.Dial(t, 0, "cbor", client.Config{})
	events := make(chan *wamp.Event, 1)
	must(t, sub.Subscribe("com.alive", func(ev *wamp.Event) { events <- ev }, nil))
	pub := srv.Dial(t, 1, "cbor", client.Config{})
	must(t, pub.Publish("com.alive", wamp.Dict{"acknowledge": true}, wamp.List{"ok"}, nil))
	recv(t, events)
	families, _ := scrape(t, srv)
	if got := value(families, "switchboard_messages_refused_total", map[string]string{"reason": "nesting"}); got != 2 {
		t.Fatalf("switchboard_messages_refused_total{reason=nesting} = %v, want 2", got)
	}
}

// nested returns a value of depth levels of lists around "x".
func nested(depth int) any {
	var v any = "x"
	for range depth {
		v = wamp.List{v}
	}
	return v
}

// TestNestingLimit: a publication whose message nests exactly
// limits.max_nesting_depth levels is delivered; one level more ends the
// publisher's session (and only its), for every transport and serializer.
func TestNestingLimit(t *testing.T) {
	t.Parallel()
	const limit = 16
	srv := routertest.Start(t, func(c *config.Config) { c.Limits.MaxNestingDepth = limit })
	eachTransport(t, func(t *testing.T, listener int, serializer string) {
		topic := fmt.Sprintf("com.nesting.%d.%s", listener, serializer)
		sub := srv.Dial(t, listener, serializer, client.Config{})
		events := make(chan *wamp.Event, 2)
		must(t, sub.Subscribe(topic, func(ev *wamp.Event) { events <- ev }, nil))
		pub := srv.Dial(t, listener, serializer, client.Config{})
		// PUBLISH [16, id, {}, topic, [payload]]: the message and the
		// arguments list are 2 levels; the payload adds the rest.
		must(t, pub.Publish(topic, wamp.Dict{"acknowledge": true}, wamp.List{nested(limit - 2)}, nil))
		ev := recv(t, events)
		if len(ev.Arguments) != 1 {
			t.Fatalf("event arguments %v", ev.Arguments)
		}
		err := pub.Publish(topic, wamp.Dict{"acknowledge": true}, wamp.List{nested(limit - 1)}, nil)
		if err == nil {
			t.Fatal("a publication one level over the limit was acknowledged")
		}
		select {
		case <-pub.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("publisher's session still open after a message over the nesting limit")
		}
		select {
		case ev := <-events:
			t.Fatalf("the refused publication was delivered: %v", ev)
		default:
		}
		// The subscriber's session is unaffected.
		pub2 := srv.Dial(t, listener, serializer, client.Config{})
		must(t, pub2.Publish(topic, wamp.Dict{"acknowledge": true}, wamp.List{"after"}, nil))
		if ev := recv(t, events); ev.Arguments[0] != "after" {
			t.Fatalf("got %v, want the event published after", ev.Arguments)
		}
	})
}

// ticketRealm adds realm "private" that admits only ticket holder alice.
func ticketRealm(c *config.Config) {
	extra, err := config.Parse("private", []byte(`
listeners: [{ address: "127.0.0.1:0", websocket: {} }]
realms:
  - name: private
    auth:
      ticket:
        principals:
          alice: { ticket: alice-ticket-0123456789abcdef, role: member }
    roles:
      - name: member
        permissions:
          - { uri: "", match: prefix, allow: { publish: true, subscribe: true } }
`), nil)
	if err != nil {
		panic(err) // the literal above is valid
	}
	c.Realms = append(c.Realms, extra.Realms[0])
}

// TestSecondHelloCannotSwitchRealm: an anonymous client of realm1 that
// pipelines HELLO realm1, HELLO private, PUBLISH gets ABORT
// protocol_violation and its event never reaches alice in the
// ticket-only realm. Tried many times, since the old bug was a race.
func TestSecondHelloCannotSwitchRealm(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, ticketRealm)
	aliceCfg := ticketAuth("alice", "alice-ticket-0123456789abcdef")
	aliceCfg.Realm = "private"
	alice := srv.Dial(t, 0, "json", aliceCfg)
	events := make(chan *wamp.Event, 64)
	must(t, alice.Subscribe("com.private.news", func(ev *wamp.Event) { events <- ev }, nil))

	json := &serialize.JSONSerializer{}
	for i := range 20 {
		conn := dialRawWebSocket(t, srv.Addr(0), nil, "wamp.2.json")
		must(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
		var batch []byte
		for _, m := range []string{
			`[1,"realm1",{"roles":{"publisher":{}}}]`,
			`[1,"private",{"roles":{"publisher":{}}}]`,
			`[16,1,{"acknowledge":true},"com.private.news",["forged"]]`,
		} {
			batch = append(batch, wsFrameHeader(true, 0x1, len(m))...)
			batch = append(batch, m...)
		}
		_, err := conn.Write(batch)
		must(t, err)
		var sawAbort bool
		for {
			op, msg, err := readServerFrame(t, conn)
			if err != nil {
				break
			}
			if op != 0x1 {
				continue
			}
			m, err := json.Deserialize(msg)
			must(t, err)
			switch m := m.(type) {
			case *wamp.Welcome:
			case *wamp.Abort:
				if m.Reason != wamp.ErrProtocolViolation {
					t.Fatalf("try %d: ABORT %s, want protocol_violation", i, m.Reason)
				}
				sawAbort = true
			default:
				t.Fatalf("try %d: router answered %v to a second HELLO", i, m)
			}
		}
		if !sawAbort {
			t.Fatalf("try %d: no ABORT for a second HELLO", i)
		}
		conn.Close()
	}
	// A marker from alice herself arrives first: nothing forged came before.
	must(t, alice.Publish("com.private.news", wamp.Dict{"acknowledge": true, "exclude_me": false}, wamp.List{"marker"}, nil))
	if ev := recv(t, events); ev.Arguments[0] != "marker" {
		t.Fatalf("alice received %v from another realm's client", ev.Arguments)
	}
	families, _ := scrape(t, srv)
	if got := value(families, "switchboard_messages_refused_total", map[string]string{"reason": "second_hello"}); got != 20 {
		t.Fatalf("second_hello refusals counted: %v, want 20", got)
	}
}

// TestPipelinedMessagesAfterHello: the other side of the one-HELLO rule: a
// client that pipelines HELLO, SUBSCRIBE and PUBLISH without waiting for
// WELCOME is served, in order, in the realm it joined.
func TestPipelinedMessagesAfterHello(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	for i := range 10 {
		conn := dialRawWebSocket(t, srv.Addr(0), nil, "wamp.2.json")
		must(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
		topic := fmt.Sprintf("com.pipelined.%d", i)
		var batch []byte
		for _, m := range []string{
			`[1,"realm1",{"roles":{"publisher":{},"subscriber":{}}}]`,
			`[32,1,{},"` + topic + `"]`,
			`[16,2,{"acknowledge":true,"exclude_me":false},"` + topic + `",["hi"]]`,
		} {
			batch = append(batch, wsFrameHeader(true, 0x1, len(m))...)
			batch = append(batch, m...)
		}
		_, err := conn.Write(batch)
		must(t, err)
		var types []string
		for len(types) < 4 {
			_, msg, err := readServerFrame(t, conn)
			must(t, err)
			types = append(types, strings.SplitN(string(msg[1:]), ",", 2)[0])
		}
		// WELCOME, SUBSCRIBED, then the event and PUBLISHED in either order.
		if types[0] != "2" || types[1] != "33" || !(types[2] == "36" && types[3] == "17" || types[2] == "17" && types[3] == "36") {
			t.Fatalf("try %d: message types %v, want 2, 33, then 36 and 17", i, types)
		}
		conn.Close()
	}
}

// stalledClients opens n connections that each start a large message and
// then trickle a byte every interval, in one of three ways: a 1,000,000-byte
// WebSocket frame; a 1-byte fragment and a continuation announcing 999,999;
// a RawSocket frame of 1,000,000 bytes. It returns when all headers are
// written; the trickle stops when stop is closed.
func stalledClients(t *testing.T, srv *routertest.Server, n int, interval time.Duration, stop <-chan struct{}) []net.Conn {
	t.Helper()
	hello := []byte(`[1,"realm1",{"roles":{"subscriber":{}}}]`)
	conns := make([]net.Conn, n)
	for i := range conns {
		var c net.Conn
		var start []byte
		// Half the clients first join (their messages may then be as large
		// as max_message_size), half stall before their HELLO.
		joined := i%2 == 0
		switch i % 3 {
		case 0, 1:
			c = dialRawWebSocket(t, srv.Addr(0), nil, "wamp.2.json")
			if joined {
				_, err := c.Write(append(wsFrameHeader(true, 0x1, len(hello)), hello...))
				must(t, err)
				must(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
				if _, msg, err := readServerFrame(t, c); err != nil || !bytes.HasPrefix(msg, []byte("[2,")) {
					t.Fatalf("join: %s %v", msg, err)
				}
			}
			if i%3 == 0 {
				start = wsFrameHeader(true, 0x1, 1_000_000)
			} else {
				start = append(wsFrameHeader(false, 0x1, 1), '[')
				start = append(start, wsFrameHeader(true, 0x0, 999_999)...)
			}
		case 2:
			var err error
			c, err = net.Dial("tcp", srv.Addr(1).String())
			must(t, err)
			t.Cleanup(func() { c.Close() })
			_, err = c.Write([]byte{0x7f, 0xf1, 0, 0})
			must(t, err)
			var hs [4]byte
			_, err = io.ReadFull(c, hs[:])
			must(t, err)
			if joined {
				n := len(hello)
				_, err = c.Write(append([]byte{0, byte(n >> 16), byte(n >> 8), byte(n)}, hello...))
				must(t, err)
				var h [4]byte
				_, err = io.ReadFull(c, h[:])
				must(t, err)
				_, err = io.ReadFull(c, make([]byte, int(h[1])<<16|int(h[2])<<8|int(h[3])))
				must(t, err)
			}
			start = []byte{0, 0x0f, 0x42, 0x40} // 1,000,000 bytes
		}
		must(t, c.SetReadDeadline(time.Time{}))
		_, err := c.Write(start)
		must(t, err)
		conns[i] = c
	}
	for _, c := range conns {
		go func() {
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for range 1000 { // bounded: at most 1000 bytes each
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := c.Write([]byte{'1'}); err != nil {
					return
				}
			}
		}()
	}
	return conns
}

// TestStalledMessagesHoldLittleMemory: 100 connections that announce
// 1,000,000-byte messages and trickle a byte per 100 ms grow the router's
// heap by less than 10 MiB (the old reader allocated each frame's
// declared length at once: ~98 MiB). Not parallel: it reads this
// process's heap.
func TestStalledMessagesHoldLittleMemory(t *testing.T) {
	srv := routertest.Start(t, nil)
	// Warm up what every connection needs once (pools, the poller).
	srv.Dial(t, 0, "json", client.Config{})
	srv.Dial(t, 1, "json", client.Config{})
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc

	stop := make(chan struct{})
	defer close(stop)
	stalledClients(t, srv, 100, 100*time.Millisecond, stop)
	var peak uint64
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
	}
	growth := int64(peak) - int64(before)
	t.Logf("heap growth with 100 stalled messages: %.1f MiB", float64(growth)/(1<<20))
	if growth >= 10<<20 {
		t.Fatalf("heap grew by %.1f MiB with 100 stalled messages, want < 10 MiB", float64(growth)/(1<<20))
	}
}

// TestMessageReadTimeout: with keepalive off, connections that trickle a
// message are closed once limits.message_read_timeout is up (counted),
// while a client whose message arrives in pieces well within it is served.
func TestMessageReadTimeout(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, func(c *config.Config) {
		c.Limits.MessageReadTimeout = 2 * time.Second
		c.Listeners[1].RawSocket.PingInterval = 0
	})
	stop := make(chan struct{})
	defer close(stop)
	conns := stalledClients(t, srv, 6, 100*time.Millisecond, stop)

	// In time: a HELLO sent in three pieces 100 ms apart is answered.
	ok := dialRawWebSocket(t, srv.Addr(0), nil, "wamp.2.json")
	hello := []byte(`[1,"realm1",{"roles":{"subscriber":{}}}]`)
	frame := append(wsFrameHeader(true, 0x1, len(hello)), hello...)
	for i, piece := range [][]byte{frame[:5], frame[5:20], frame[20:]} {
		if i > 0 {
			time.Sleep(100 * time.Millisecond) // the pacing under test
		}
		_, err := ok.Write(piece)
		must(t, err)
	}
	must(t, ok.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, msg, err := readServerFrame(t, ok)
	must(t, err)
	if !bytes.HasPrefix(msg, []byte("[2,")) {
		t.Fatalf("got %s, want WELCOME", msg)
	}

	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
			_, err := io.Copy(io.Discard, c)
			if isTimeout(err) {
				t.Errorf("stalled connection %d not closed within 15s", i)
			}
		}()
	}
	wg.Wait()
	families, _ := scrape(t, srv)
	if got := value(families, "switchboard_messages_refused_total", map[string]string{"reason": "read_timeout"}); got != float64(len(conns)) {
		t.Fatalf("read_timeout refusals counted: %v, want %d", got, len(conns))
	}
}

// TestConnectionLimits: max_connections_per_ip and max_connections refuse
// the connection one over each limit (WebSocket: 503 with a JSON body,
// RawSocket: handshake error 4) and admit again once one closes.
func TestConnectionLimits(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, func(c *config.Config) {
		c.Limits.MaxConnections = 5
		c.Limits.MaxConnectionsPerIP = 3
	})
	other := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}
	var open []net.Conn
	for range 3 {
		open = append(open, dialRawWebSocket(t, srv.Addr(0), nil, "wamp.2.json"))
	}
	// The 4th from 127.0.0.1 is refused, by the per-IP limit.
	if c, status := tryRawWebSocket(t, srv.Addr(0), nil, "wamp.2.json"); c != nil ||
		!strings.Contains(status, "503") || !strings.Contains(status, `"switchboard.error.too_many_connections"`) {
		t.Fatalf("4th connection from one IP: %s, want 503 too_many_connections", status)
	}
	// Another address still gets in, up to the global limit of 5.
	for range 2 {
		open = append(open, dialRawWebSocket(t, srv.Addr(0), other, "wamp.2.json"))
	}
	if c, status := tryRawWebSocket(t, srv.Addr(0), other, "wamp.2.json"); c != nil || !strings.Contains(status, "503") {
		t.Fatalf("6th connection: %s, want 503", status)
	}
	// RawSocket answers with its handshake error 4.
	if reply := rawSocketHandshake(t, other, srv.Addr(1)); reply != [4]byte{0x7f, 0x40, 0, 0} {
		t.Fatalf("rawsocket reply % x, want 7f 40 00 00 (maximum connection count reached)", reply)
	}
	// One closes: one more is admitted (once the router has seen the close).
	open[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, status := tryRawWebSocket(t, srv.Addr(0), nil, "wamp.2.json")
		if c != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection admitted after one closed: %s", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The scrape needs a connection too: make room.
	open[1].Close()
	open[2].Close()
	open[3].Close()
	families := waitForScrape(t, srv)
	if got := value(families, "switchboard_connections_refused_total", map[string]string{"reason": "max_connections_per_ip"}); got < 1 {
		t.Errorf("per-IP refusals counted: %v, want >= 1", got)
	}
	if got := value(families, "switchboard_connections_refused_total", map[string]string{"reason": "max_connections"}); got < 2 {
		t.Errorf("global refusals counted: %v, want >= 2", got)
	}
	if got := value(families, "switchboard_connections", nil); got < 1 || got > 5 {
		t.Errorf("switchboard_connections = %v, want 1..5", got)
	}
}

// waitForScrape scrapes the metrics once a connection is admitted.
func waitForScrape(t *testing.T, srv *routertest.Server) map[string]*dto.MetricFamily {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+srv.Addr(0).String()+"/metrics", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil && resp.StatusCode == http.StatusOK {
			resp.Body.Close()
			families, _ := scrape(t, srv)
			return families
		}
		if resp != nil {
			resp.Body.Close()
		}
		if ctx.Err() != nil {
			t.Fatalf("metrics not reachable: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRawSocketKeepalive: a RawSocket client that answers PING frames
// stays; one that does not is disconnected after two intervals. Not
// parallel, like TestKeepaliveDropsSilentClient.
func TestRawSocketKeepalive(t *testing.T) {
	srv := routertest.Start(t, func(c *config.Config) {
		c.Listeners[1].RawSocket.PingInterval = 200 * time.Millisecond
	})
	join := func() net.Conn {
		conn, err := net.Dial("tcp", srv.Addr(1).String())
		must(t, err)
		t.Cleanup(func() { conn.Close() })
		_, err = conn.Write([]byte{0x7f, 0xf1, 0, 0})
		must(t, err)
		var hs [4]byte
		_, err = io.ReadFull(conn, hs[:])
		must(t, err)
		hello := []byte(`[1,"realm1",{"roles":{"subscriber":{}}}]`)
		n := len(hello)
		_, err = conn.Write(append([]byte{0, byte(n >> 16), byte(n >> 8), byte(n)}, hello...))
		must(t, err)
		return conn
	}
	// readFrames reads frames until the connection ends or the deadline
	// passes; answer makes it reply to pings.
	readFrames := func(conn net.Conn, answer bool, within time.Duration) (pings int, err error) {
		_ = conn.SetReadDeadline(time.Now().Add(within))
		for {
			var h [4]byte
			if _, err := io.ReadFull(conn, h[:]); err != nil {
				return pings, err
			}
			b := make([]byte, int(h[1])<<16|int(h[2])<<8|int(h[3]))
			if _, err := io.ReadFull(conn, b); err != nil {
				return pings, err
			}
			if h[0]&0x07 == 1 {
				pings++
				if answer {
					n := len(b)
					if _, err := conn.Write(append([]byte{2, byte(n >> 16), byte(n >> 8), byte(n)}, b...)); err != nil {
						return pings, err
					}
				}
			}
		}
	}
	alive, silent := join(), join()
	aliveDone := make(chan error, 1)
	var alivePings int
	go func() {
		var err error
		alivePings, err = readFrames(alive, true, 2*time.Second)
		aliveDone <- err
	}()
	pings, err := readFrames(silent, false, 5*time.Second)
	if isTimeout(err) {
		t.Fatalf("silent RawSocket client not disconnected within 5s (%d pings)", pings)
	}
	if pings == 0 {
		t.Fatal("silent client got no PING before being disconnected")
	}
	if err := <-aliveDone; !isTimeout(err) {
		t.Fatalf("answering client: %v, want a read timeout (still connected)", err)
	}
	if alivePings < 3 {
		t.Fatalf("answering client saw %d pings in 2s at a 200ms interval", alivePings)
	}
}

// cborHello is a CBOR HELLO to realm1 whose details carry n values of
// filler (each one byte: an empty map) under "x".
func cborHello(n int) []byte {
	b := []byte{0x83, 0x01, 0x66, 'r', 'e', 'a', 'l', 'm', '1', 0xa2,
		0x65, 'r', 'o', 'l', 'e', 's', 0xa1, 0x6a, 's', 'u', 'b', 's', 'c', 'r', 'i', 'b', 'e', 'r', 0xa0,
		0x61, 'x', 0x9a}
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	return append(b, bytes.Repeat([]byte{0xa0}, n)...)
}

// TestOpeningMessagesAreSmall: before WELCOME a client's message may be at
// most limits.max_opening_message_size: a HELLO under it joins, one over it
// gets ABORT wamp.error.payload_size_exceeded, and 8 connections sending
// 4 MiB HELLOs of empty maps (which would decode to ~440 MB each) leave the
// heap almost as it was.
func TestOpeningMessagesAreSmall(t *testing.T) {
	srv := routertest.Start(t, func(c *config.Config) { c.Limits.MaxOpeningMessageSize = 32 << 10 })
	cbor := &serialize.CBORSerializer{}
	send := func(hello []byte) wamp.Message {
		conn := dialRawWebSocket(t, srv.Addr(0), nil, "wamp.2.cbor")
		defer conn.Close()
		must(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
		go func() { _, _ = conn.Write(append(wsFrameHeader(true, 0x2, len(hello)), hello...)) }()
		_, msg, err := readServerFrame(t, conn)
		must(t, err)
		m, err := cbor.Deserialize(msg)
		must(t, err)
		return m
	}
	if m := send(cborHello(30 << 10)); m.MessageType() != wamp.WELCOME {
		t.Fatalf("HELLO under the opening limit: %v, want WELCOME", m)
	}
	if m, ok := send(cborHello(33 << 10)).(*wamp.Abort); !ok || m.Reason != transport.ErrPayloadSizeExceeded {
		t.Fatalf("HELLO over the opening limit: %v, want ABORT %s", m, transport.ErrPayloadSizeExceeded)
	}

	attack := cborHello(4 << 20)
	frame := append(wsFrameHeader(true, 0x2, len(attack)), attack...)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _ := tryRawWebSocket(t, srv.Addr(0), nil, "wamp.2.cbor")
			if c == nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			_, _ = c.Write(frame)
			_, _ = io.Copy(io.Discard, c)
		}()
	}
	var peak uint64
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-time.After(20 * time.Millisecond):
		}
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
	}
	growth := int64(peak) - int64(before)
	t.Logf("heap growth with 8 x 4 MiB HELLOs of empty maps: %.1f MiB", float64(growth)/(1<<20))
	if growth > 16<<20 {
		t.Fatalf("heap grew by %.1f MiB, want < 16 MiB", float64(growth)/(1<<20))
	}
	// Still serving.
	srv.Dial(t, 0, "cbor", client.Config{})
}

// TestMessageItemsLimit: a publication holding exactly
// limits.max_message_items values is delivered; one value more is answered
// with ERROR wamp.error.payload_size_exceeded and the session goes on.
func TestMessageItemsLimit(t *testing.T) {
	t.Parallel()
	const limit = 1000
	srv := routertest.Start(t, func(c *config.Config) { c.Limits.MaxMessageItems = limit })
	for _, ser := range serializers {
		sub := srv.Dial(t, 0, ser, client.Config{})
		events := make(chan *wamp.Event, 2)
		topic := "com.items." + ser
		must(t, sub.Subscribe(topic, func(ev *wamp.Event) { events <- ev }, nil))
		pub := srv.Dial(t, 1, ser, client.Config{})
		// PUBLISH [16, id, {acknowledge: true}, topic, [list]]: 5 values, the
		// options' key and value 2, the arguments list 1, the list 1: 9.
		list := func(n int) wamp.List {
			l := make(wamp.List, n)
			for i := range l {
				l[i] = wamp.Dict{}
			}
			return l
		}
		must(t, pub.Publish(topic, wamp.Dict{"acknowledge": true}, wamp.List{list(limit - 9)}, nil))
		if ev := recv(t, events); len(ev.Arguments[0].([]any)) != limit-9 {
			t.Fatalf("%s: event changed on the way", ser)
		}
		err := pub.Publish(topic, wamp.Dict{"acknowledge": true}, wamp.List{list(limit - 8)}, nil)
		if !errorIs(err, transport.ErrPayloadSizeExceeded) {
			t.Fatalf("%s: publication of %d values: %v, want %s", ser, limit+1, err, transport.ErrPayloadSizeExceeded)
		}
		must(t, pub.Publish(topic, wamp.Dict{"acknowledge": true}, wamp.List{"after"}, nil))
		if ev := recv(t, events); ev.Arguments[0] != "after" {
			t.Fatalf("%s: got %v, want the event published after", ser, ev.Arguments)
		}
	}
	families, _ := scrape(t, srv)
	if got := value(families, "switchboard_messages_refused_total", map[string]string{"reason": "items"}); got != 3 {
		t.Fatalf("items refusals counted: %v, want 3", got)
	}
}

// TestRawSocketPingsAreSmall: a PING of up to 125 bytes is answered; a
// larger one ends the connection (it would be echoed from a buffer the
// size of a message).
func TestRawSocketPingsAreSmall(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	ping := func(n int) (pong []byte, err error) {
		conn, err := net.Dial("tcp", srv.Addr(1).String())
		must(t, err)
		defer conn.Close()
		must(t, conn.SetDeadline(time.Now().Add(5*time.Second)))
		_, err = conn.Write([]byte{0x7f, 0xf1, 0, 0})
		must(t, err)
		var hs [4]byte
		_, err = io.ReadFull(conn, hs[:])
		must(t, err)
		payload := bytes.Repeat([]byte("p"), n)
		_, err = conn.Write(append([]byte{1, byte(n >> 16), byte(n >> 8), byte(n)}, payload...))
		must(t, err)
		var h [4]byte
		if _, err := io.ReadFull(conn, h[:]); err != nil {
			return nil, err
		}
		pong = make([]byte, int(h[1])<<16|int(h[2])<<8|int(h[3]))
		_, err = io.ReadFull(conn, pong)
		return pong, err
	}
	if pong, err := ping(125); err != nil || len(pong) != 125 {
		t.Fatalf("125-byte ping: pong of %d bytes, %v", len(pong), err)
	}
	if _, err := ping(4096); err == nil || isTimeout(err) {
		t.Fatalf("4096-byte ping: %v, want the connection closed", err)
	}
}

// TestURILengthLimit: a topic or pattern of exactly limits.max_uri_length
// bytes is accepted; one byte more is refused with wamp.error.invalid_uri
// (the pattern index would hold a node per component of it).
func TestURILengthLimit(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, func(c *config.Config) { c.Limits.MaxURILength = 128 })
	c := srv.Dial(t, 0, "json", client.Config{})
	uri := func(n int) string {
		return "com." + strings.Repeat("a.", (n-5)/2) + strings.Repeat("b", n-4-2*((n-5)/2))
	}
	at, over := uri(128), uri(129)
	if len(at) != 128 || len(over) != 129 {
		t.Fatalf("test URIs of %d and %d bytes", len(at), len(over))
	}
	events := make(chan *wamp.Event, 1)
	must(t, c.Subscribe(at, func(ev *wamp.Event) { events <- ev }, nil))
	must(t, c.Publish(at, wamp.Dict{"acknowledge": true, "exclude_me": false}, wamp.List{"ok"}, nil))
	recv(t, events)
	if err := c.Publish(over, wamp.Dict{"acknowledge": true}, nil, nil); !errorIs(err, wamp.ErrInvalidURI) {
		t.Fatalf("publish to a %d-byte topic: %v, want invalid_uri", len(over), err)
	}
	wild := strings.Repeat(".", 129) // 130 empty components, 129 bytes
	if err := c.Subscribe(wild, func(*wamp.Event) {}, wamp.Dict{"match": "wildcard"}); !errorIs(err, wamp.ErrInvalidURI) {
		t.Fatalf("wildcard pattern of %d bytes: %v, want invalid_uri", len(wild), err)
	}
	must(t, c.Subscribe(wild[:128], func(*wamp.Event) {}, wamp.Dict{"match": "wildcard"}))
}
