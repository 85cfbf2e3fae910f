package transport

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
)

// FuzzRawSocketHandshake feeds arbitrary bytes to a RawSocket peer: the
// handshake, the frame reader and the decoder end in an error or messages,
// never a panic. Seeds include deeply nested messages of each serializer.
func FuzzRawSocketHandshake(f *testing.F) {
	f.Add([]byte{0x7f, 0xf1, 0, 0, 0, 0, 0, 2, '[', ']'})
	f.Add([]byte{0x7f, 0x11, 0, 0, 1, 0, 0, 0})
	f.Add([]byte{0x7f, 0xf1, 0, 0, 0, 0xff, 0xff, 0xff})
	f.Add([]byte{0x00})
	nested := func(serializer byte, body []byte) []byte {
		n := len(body)
		return append([]byte{0x7f, 0xf0 | serializer, 0, 0, 0, byte(n >> 16), byte(n >> 8), byte(n)}, body...)
	}
	f.Add(nested(1, []byte(strings.Repeat("[", 4000))))
	f.Add(nested(2, bytes.Repeat([]byte{0x91}, 4000)))
	f.Add(nested(3, append(bytes.Repeat([]byte{0xc6}, 4000), 0)))
	serializers, _ := LookupSerializers([]string{"json", "msgpack", "cbor"})
	f.Fuzz(func(t *testing.T, data []byte) {
		server, client := net.Pipe()
		defer client.Close()
		go func() {
			_, _ = client.Write(data)
			_ = client.Close()
		}()
		go func() { _, _ = io.Copy(io.Discard, client) }()
		peer, _, err := AcceptRawSocket(server, serializers, 4096, PeerOptions{WriteTimeout: time.Second})
		if err != nil {
			server.Close()
			return
		}
		// Play the router: welcome the HELLO (messages after it wait for
		// WELCOME).
		for msg := range peer.Recv() {
			if _, ok := msg.(*wamp.Hello); ok {
				peer.Send() <- &wamp.Welcome{ID: 1, Details: wamp.Dict{}}
			}
		}
		peer.Close()
	})
}

// FuzzRawSocketFrames feeds arbitrary bytes to the RawSocket frame reader
// of a connection that agreed on 4096-byte messages: it returns errors or
// messages of at most 4096 bytes, and never holds more than the bytes
// that arrived (plus one first allocation).
func FuzzRawSocketFrames(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, '[', ']'})
	f.Add([]byte{1, 0, 0, 1, 'x', 0, 0, 0, 2, '[', ']'})
	f.Add([]byte{0, 0, 0x10, 0x00})
	f.Add([]byte{0, 0, 0x10, 0x01})
	f.Add([]byte{0, 0xff, 0xff, 0xff, 'x'})
	f.Add([]byte{7, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 4096
		server, client := net.Pipe()
		defer server.Close()
		go func() {
			_, _ = client.Write(data)
			client.Close()
		}()
		go func() { _, _ = io.Copy(io.Discard, client) }()
		c := &rawConn{conn: server, in: inBuffer{conn: server}, w: batchWriter{conn: server},
			limit: readLimit{session: limit}, sendLimit: limit, writeTimeout: time.Second}
		for {
			b, err := c.ReadFrame()
			if err != nil {
				return
			}
			if len(b) > limit {
				t.Fatalf("message of %d bytes over the agreed %d", len(b), limit)
			}
			if cap(b) > max(len(data), firstAlloc) {
				t.Fatalf("a %d-byte message holds a %d-byte buffer from %d bytes of input", len(b), cap(b), len(data))
			}
		}
	})
}

func TestRawSocketRefusesOversizedFrames(t *testing.T) {
	t.Parallel()
	server, client := net.Pipe()
	defer client.Close()
	serializers, _ := LookupSerializers([]string{"json"})
	go func() {
		_, _ = client.Write([]byte{0x7f, 0xf1, 0, 0})
		var reply [4]byte
		_, _ = io.ReadFull(client, reply[:])
		_, _ = client.Write(append([]byte{0, 0, 0x20, 0}, bytes.Repeat([]byte("x"), 8192)...))
	}()
	peer, _, err := AcceptRawSocket(server, serializers, 4096, PeerOptions{WriteTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case _, open := <-peer.Recv():
		if open {
			t.Fatal("an oversized frame was delivered")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the connection was not closed")
	}
	peer.Close()
}

// TestUnresponsive pins the keepalive rule on both sides: silent for up to
// two ping intervals is fine, longer is not.
func TestUnresponsive(t *testing.T) {
	t.Parallel()
	const interval = 30 * time.Second
	for _, tc := range []struct {
		silent time.Duration
		want   bool
	}{
		{0, false},
		{interval, false},
		{2 * interval, false},
		{2*interval + time.Millisecond, true},
		{5 * interval / 2, true},
		{3 * interval, true},
	} {
		if got := unresponsive(tc.silent, interval); got != tc.want {
			t.Errorf("silent %v at a %v interval: unresponsive %v, want %v", tc.silent, interval, got, tc.want)
		}
	}
}
