package transport

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// FuzzRawSocketFrames feeds arbitrary bytes to the RawSocket handshake and
// frame reader: they end in an error or frames, never a panic or a frame
// over the agreed limit.
func FuzzRawSocketFrames(f *testing.F) {
	f.Add([]byte{0x7f, 0xf1, 0, 0, 0, 0, 0, 2, '[', ']'})
	f.Add([]byte{0x7f, 0x11, 0, 0, 1, 0, 0, 0})
	f.Add([]byte{0x7f, 0xf1, 0, 0, 0, 0xff, 0xff, 0xff})
	f.Add([]byte{0x00})
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
		for range peer.Recv() {
		}
		peer.Close()
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
