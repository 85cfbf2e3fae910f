package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// wsPair returns the server side of a loopback TCP connection wrapped as a
// wsConn (limit maxMessageSize) and the raw client side.
func wsPair(t *testing.T, maxMessageSize int) (*wsConn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	_ = client.SetDeadline(time.Now().Add(10 * time.Second))
	_ = server.SetReadDeadline(time.Now().Add(10 * time.Second))
	return &wsConn{
		conn:         server,
		opcode:       wsText,
		in:           inBuffer{conn: server},
		w:            batchWriter{conn: server},
		limit:        readLimit{session: maxMessageSize},
		writeTimeout: 5 * time.Second,
	}, client
}

// clientFrame encodes a masked client frame.
func clientFrame(fin bool, opcode byte, payload []byte) []byte {
	b0 := opcode
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	n := len(payload)
	switch {
	case n < 126:
		out = append(out, 0x80|byte(n))
	case n <= 0xffff:
		out = binary.BigEndian.AppendUint16(append(out, 0x80|126), uint16(n))
	default:
		out = binary.BigEndian.AppendUint64(append(out, 0x80|127), uint64(n))
	}
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	out = append(out, key[:]...)
	for i, c := range payload {
		out = append(out, c^key[i%4])
	}
	return out
}

// readServerFrame parses one unmasked server frame.
func readServerFrame(t *testing.T, r io.Reader) (opcode byte, payload []byte) {
	t.Helper()
	opcode, payload, err := decodeServerFrame(r)
	if err != nil {
		t.Fatalf("read server frame: %v", err)
	}
	return opcode, payload
}

// decodeServerFrame reads one server frame: FIN set, not masked.
func decodeServerFrame(r io.Reader) (opcode byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	if h[0]&0x80 == 0 || h[1]&0x80 != 0 {
		return 0, nil, fmt.Errorf("server frame header % x: want FIN set and no mask", h)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(ext[:])
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	return h[0] & 0x0f, payload, nil
}

func expectClose(t *testing.T, r io.Reader, code int) {
	t.Helper()
	op, payload := readServerFrame(t, r)
	if op != wsClose || len(payload) < 2 {
		t.Fatalf("got opcode %#x payload %q, want a close frame", op, payload)
	}
	if got := int(binary.BigEndian.Uint16(payload)); got != code {
		t.Fatalf("close code %d (%q), want %d", got, payload[2:], code)
	}
}

func TestWebSocketReadsMessages(t *testing.T) {
	c, client := wsPair(t, 1<<20)
	big := bytes.Repeat([]byte("0123456789abcdef"), 70000/16) // 64-bit length form
	medium := []byte(strings.Repeat("m", 300))                // 16-bit length form
	var stream []byte
	stream = append(stream, clientFrame(true, wsText, []byte(`[1,"realm1",{}]`))...)
	stream = append(stream, clientFrame(true, wsBinary, medium)...)
	stream = append(stream, clientFrame(true, wsBinary, big)...)
	// A fragmented message with a ping between its fragments.
	stream = append(stream, clientFrame(false, wsText, []byte("frag"))...)
	stream = append(stream, clientFrame(true, wsPing, []byte("are you there"))...)
	stream = append(stream, clientFrame(false, wsContinuation, []byte("men"))...)
	stream = append(stream, clientFrame(true, wsContinuation, []byte("ted ✓"))...)
	stream = append(stream, clientFrame(true, wsBinary, nil)...)
	go func() { _, _ = client.Write(stream) }()
	var seen atomic.Int32
	c.reportLiveness(func() { seen.Add(1) })
	for _, want := range [][]byte{[]byte(`[1,"realm1",{}]`), medium, big, []byte("fragmented ✓"), {}} {
		got, err := c.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("got %d bytes %.40q, want %d bytes %.40q", len(got), got, len(want), want)
		}
	}
	op, payload := readServerFrame(t, client)
	if op != wsPong || string(payload) != "are you there" {
		t.Fatalf("ping answered with opcode %#x %q, want a pong echoing the payload", op, payload)
	}
	if seen.Load() != 1 {
		t.Fatalf("liveness reported %d times for one ping, want 1", seen.Load())
	}
}

func TestWebSocketRefusesBadFrames(t *testing.T) {
	unmasked := clientFrame(true, wsText, []byte("hi"))
	unmasked[1] &^= 0x80
	unmasked = append(unmasked[:2], unmasked[6:]...)
	rsv := clientFrame(true, wsText, []byte("hi"))
	rsv[0] |= 0x40
	longPing := clientFrame(true, wsPing, bytes.Repeat([]byte("p"), 126))
	for _, tc := range []struct {
		name  string
		input []byte
		code  int
	}{
		{"unmasked", unmasked, wsCloseProtocolError},
		{"reserved bits", rsv, wsCloseProtocolError},
		{"reserved opcode", clientFrame(true, 0x3, nil), wsCloseProtocolError},
		{"reserved control opcode", clientFrame(true, 0xb, nil), wsCloseProtocolError},
		{"continuation first", clientFrame(true, wsContinuation, []byte("x")), wsCloseProtocolError},
		{"fragmented ping", clientFrame(false, wsPing, nil), wsCloseProtocolError},
		{"long ping", longPing, wsCloseProtocolError},
		{"interleaved messages", append(clientFrame(false, wsText, []byte("a")), clientFrame(true, wsText, []byte("b"))...), wsCloseProtocolError},
		{"invalid utf-8", clientFrame(true, wsText, []byte{0xff, 0xfe}), wsCloseInvalidData},
		{"close with 1-byte payload", clientFrame(true, wsClose, []byte{3}), wsCloseProtocolError},
		{"close with invalid code", clientFrame(true, wsClose, []byte{0x03, 0xed}), wsCloseProtocolError}, // 1005
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, client := wsPair(t, 1024)
			go func() { _, _ = client.Write(tc.input) }()
			if _, err := c.ReadFrame(); err == nil {
				t.Fatal("frame accepted")
			}
			expectClose(t, client, tc.code)
			// The close frame is sent once, and no data after it.
			if err := c.WriteFrame([]byte("late")); !errors.Is(err, errClosed) {
				t.Fatalf("WriteFrame after close: %v, want errClosed", err)
			}
		})
	}
}

// TestWebSocketOversizedMessages: a message over the limit but within the
// discard bound is dropped, its first bytes kept, and the next message is
// read; one past the bound ends the connection with 1009 once the peer has
// said why.
func TestWebSocketOversizedMessages(t *testing.T) {
	const limit = 1024
	c, client := wsPair(t, limit)
	big := append([]byte(`[16,7,{"acknowledge":true},"com.big",["`), bytes.Repeat([]byte("x"), 5000)...)
	var stream []byte
	stream = append(stream, clientFrame(true, wsText, big)...)
	// In fragments: the first under the limit, the whole over it.
	stream = append(stream, clientFrame(false, wsBinary, []byte(`[48,8,{},"com.proc",["`))...)
	stream = append(stream, clientFrame(false, wsContinuation, bytes.Repeat([]byte("y"), 1000))...)
	stream = append(stream, clientFrame(true, wsContinuation, bytes.Repeat([]byte("y"), 1000))...)
	stream = append(stream, clientFrame(true, wsText, []byte(`[1,"realm1",{}]`))...)
	stream = append(stream, clientFrame(true, wsBinary, make([]byte, discardLimit(limit)+1))...)
	go func() { _, _ = client.Write(stream) }()
	for _, want := range []struct {
		prefix string
		size   int
	}{{`[16,7,{"acknowledge":true},"com.big",["xx`, len(big)}, {`[48,8,{},"com.proc",["yy`, 2022}} {
		_, err := c.ReadFrame()
		var tb *tooBigError
		if !errors.As(err, &tb) || !tb.skipped {
			t.Fatalf("oversized message: %v, want a skipped tooBigError", err)
		}
		if !bytes.HasPrefix(tb.prefix, []byte(want.prefix)) || len(tb.prefix) > tooBigPrefix || tb.size != want.size {
			t.Fatalf("kept %d bytes %.50q of %d, want the first bytes %q of %d", len(tb.prefix), tb.prefix, tb.size, want.prefix, want.size)
		}
	}
	if got, err := c.ReadFrame(); err != nil || string(got) != `[1,"realm1",{}]` {
		t.Fatalf("message after the oversized ones: %q, %v", got, err)
	}
	_, err := c.ReadFrame()
	var tb *tooBigError
	if !errors.As(err, &tb) || tb.skipped {
		t.Fatalf("message past the discard bound: %v, want an unskipped tooBigError", err)
	}
	c.WriteClose(false, "")
	expectClose(t, client, wsCloseTooBig)
}

func TestWebSocketCloseHandshake(t *testing.T) {
	c, client := wsPair(t, 1024)
	payload := binary.BigEndian.AppendUint16(nil, 1001)
	go func() { _, _ = client.Write(clientFrame(true, wsClose, append(payload, "bye"...))) }()
	if _, err := c.ReadFrame(); !errors.Is(err, errClosed) {
		t.Fatalf("ReadFrame after a close frame: %v, want errClosed", err)
	}
	expectClose(t, client, 1001)
}

func TestWebSocketWritesFrames(t *testing.T) {
	c, client := wsPair(t, 1024)
	sizes := []int{0, 125, 126, 65535, 65536, 200000}
	go func() {
		for _, n := range sizes {
			_ = c.WriteFrame(bytes.Repeat([]byte{'a' + byte(n%26)}, n))
		}
		_ = c.Flush()
		_ = c.WritePing()
		c.WriteClose(true, SlowConsumerReason)
	}()
	for _, n := range sizes {
		op, payload := readServerFrame(t, client)
		if op != wsText || len(payload) != n || (n > 0 && payload[n-1] != 'a'+byte(n%26)) {
			t.Fatalf("frame of %d bytes read as opcode %#x with %d bytes", n, op, len(payload))
		}
	}
	if op, _ := readServerFrame(t, client); op != wsPing {
		t.Fatalf("got opcode %#x, want ping", op)
	}
	expectClose(t, client, wsClosePolicy)
}

func TestUnmask(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	for n := range 40 {
		b := bytes.Repeat([]byte{0xaa}, n)
		unmask(key, b)
		for i, c := range b {
			if c != 0xaa^key[i%4] {
				t.Fatalf("len %d: byte %d = %#x, want %#x", n, i, c, 0xaa^key[i%4])
			}
		}
	}
}

// FuzzWebSocketReader feeds arbitrary client bytes to the frame reader: it
// must never panic, and every message it returns must respect the limit.
func FuzzWebSocketReader(f *testing.F) {
	f.Add(clientFrame(true, wsText, []byte(`[1,"realm1",{}]`)))
	f.Add(append(clientFrame(false, wsBinary, []byte("ab")), clientFrame(true, wsContinuation, []byte("cd"))...))
	f.Add(clientFrame(true, wsPing, []byte("x")))
	f.Add([]byte{0x81, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add(clientFrame(true, wsText, bytes.Repeat([]byte("["), 4000)))
	f.Add(clientFrame(true, wsBinary, append(bytes.Repeat([]byte{0xc6}, 4000), 0)))
	f.Add(append(clientFrame(false, wsBinary, bytes.Repeat([]byte{0x91}, 2000)), clientFrame(true, wsContinuation, bytes.Repeat([]byte{0x91}, 2000))...))
	f.Fuzz(func(t *testing.T, input []byte) {
		server, client := net.Pipe()
		defer server.Close()
		go func() {
			_, _ = client.Write(input)
			client.Close()
		}()
		go func() { _, _ = io.Copy(io.Discard, client) }()
		c := &wsConn{conn: server, opcode: wsText, in: inBuffer{conn: server}, w: batchWriter{conn: server},
			limit: readLimit{session: 4096}, writeTimeout: time.Second}
		for {
			b, err := c.ReadFrame()
			if err != nil {
				return
			}
			if len(b) > 4096 {
				t.Fatalf("message of %d bytes over the 4096 limit", len(b))
			}
			if cap(b) > 2*max(len(input), firstAlloc) {
				t.Fatalf("a %d-byte message holds a %d-byte buffer from %d bytes of input", len(b), cap(b), len(input))
			}
		}
	})
}

// TestSlowFrameAcrossIdleDeadline: a client that pauses in the middle of a
// message for longer than the idle time still delivers it; silence between
// messages is reported as idle.
func TestSlowFrameAcrossIdleDeadline(t *testing.T) {
	c, client := wsPair(t, 1<<20)
	_ = c.conn.SetReadDeadline(time.Time{})
	const idle = 20 * time.Millisecond
	payload := bytes.Repeat([]byte("slow "), 1000) // longer than the read buffer
	frame := clientFrame(true, wsText, payload)
	if _, err := client.Write(frame[:3]); err != nil { // part of the header
		t.Fatal(err)
	}
	go func() {
		time.Sleep(5 * idle)
		_, _ = client.Write(frame[3:2000]) // the rest of the header and some payload
		time.Sleep(5 * idle)
		_, _ = client.Write(frame[2000:])
	}()
	if err := c.WaitInput(idle); err != nil {
		t.Fatalf("WaitInput: %v", err)
	}
	got, err := c.ReadFrame()
	if err != nil {
		t.Fatalf("ReadFrame across pauses of %v: %v", 5*idle, err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("got %d bytes, want %d", len(got), len(payload))
	}
	if err := c.WaitInput(idle); !errors.Is(err, errIdle) {
		t.Fatalf("WaitInput on a silent client: %v, want errIdle", err)
	}
	// Input after an idle report is read as usual.
	if _, err := client.Write(clientFrame(true, wsText, []byte("again"))); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitInput(idle); err != nil {
		t.Fatalf("WaitInput: %v", err)
	}
	if got, err := c.ReadFrame(); err != nil || string(got) != "again" {
		t.Fatalf("ReadFrame = %q, %v; want \"again\"", got, err)
	}
}
