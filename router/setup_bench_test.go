package router_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// BenchmarkSessionSetup opens a session as autobahn.js does (WebSocket
// upgrade, HELLO with its roles, two SUBSCRIBEs) and waits for the answers:
// the cost of one browser joining, as in a reconnect storm.
func BenchmarkSessionSetup(b *testing.B) {
	srv := routertest.Start(b, nil)
	addr := srv.Addr(0).String()
	hello := `[1,"realm1",{"agent":"AutobahnJS-26.3.1","roles":{"caller":{"features":{"caller_identification":true,"progressive_call_results":true}},` +
		`"callee":{"features":{"caller_identification":true,"pattern_based_registration":true,"shared_registration":true,"progressive_call_results":true,"registration_revocation":true}},` +
		`"publisher":{"features":{"publisher_identification":true,"subscriber_blackwhite_listing":true,"publisher_exclusion":true}},` +
		`"subscriber":{"features":{"publisher_identification":true,"pattern_based_subscription":true,"subscription_revocation":true}}}}]`
	b.ReportAllocs()
	for b.Loop() {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wamp.2.json\r\n\r\n", addr)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			b.Fatalf("upgrade: %v %v", err, resp)
		}
		for i, msg := range []string{hello, `[32,1,{},"app.user.alice.feed"]`, `[32,2,{"match":"prefix"},"app.news."]`} {
			if _, err := c.Write(clientTextFrame([]byte(msg))); err != nil {
				b.Fatal(err)
			}
			reply := serverFrame(b, br)
			want := "[2," // WELCOME
			if i > 0 {
				want = "[33," // SUBSCRIBED
			}
			if !strings.HasPrefix(string(reply), want) {
				b.Fatalf("message %d answered %s, want %s...", i, reply, want)
			}
		}
		c.Close()
	}
}

// clientTextFrame is a masked (zero mask) WebSocket text frame.
func clientTextFrame(p []byte) []byte {
	h := []byte{0x81}
	switch n := len(p); {
	case n < 126:
		h = append(h, 0x80|byte(n))
	default:
		h = append(h, 0x80|126, byte(n>>8), byte(n))
	}
	h = append(h, 0, 0, 0, 0)
	return append(h, p...)
}

// serverFrame reads one unmasked frame's payload.
func serverFrame(b *testing.B, r *bufio.Reader) []byte {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		b.Fatal(err)
	}
	n := int(hdr[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			b.Fatal(err)
		}
		n = int(ext[0])<<8 | int(ext[1])
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			b.Fatal(err)
		}
		n = 0
		for _, x := range ext {
			n = n<<8 | int(x)
		}
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		b.Fatal(err)
	}
	return p
}
