package transport

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
)

// rawSocketSession opens a RawSocket JSON connection over loopback TCP and
// sends HELLO; it returns the router's peer (once HELLO arrived) and a
// reader of the client's side.
func rawSocketSession(t *testing.T) (*Peer, net.Conn, *bufio.Reader) {
	t.Helper()
	return rawSocketSessionWith(t, PeerOptions{WriteTimeout: time.Second})
}

// rawSocketSessionWith is rawSocketSession with the peer's options.
func rawSocketSessionWith(t *testing.T, opts PeerOptions) (*Peer, net.Conn, *bufio.Reader) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	serializers, _ := LookupSerializers([]string{"json"})
	hello := []byte(`[1,"realm1",{"roles":{"subscriber":{}}}]`)
	go func() {
		_, _ = client.Write([]byte{0x7f, 0xf1, 0, 0})
		frame := binary.BigEndian.AppendUint32(nil, uint32(len(hello)))
		_, _ = client.Write(append(frame, hello...))
	}()
	peer, _, err := AcceptRawSocket(server, serializers, 1<<16, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(peer.Close)
	r := bufio.NewReader(client)
	var reply [4]byte
	if _, err := io.ReadFull(r, reply[:]); err != nil || reply[0] != 0x7f {
		t.Fatalf("handshake reply %x: %v", reply, err)
	}
	select {
	case msg := <-peer.Recv():
		if _, ok := msg.(*wamp.Hello); !ok {
			t.Fatalf("first message %v, want HELLO", msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no HELLO")
	}
	return peer, client, r
}

// expectEnd reads the client's side to its end and fails if anything came
// before the end (what: when, and what the test wants instead).
func expectEnd(t *testing.T, client net.Conn, r *bufio.Reader, what string) {
	t.Helper()
	if err := client.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(r); err != nil || len(b) != 0 {
		t.Fatalf("read %q (%v) %s", b, err, what)
	}
}

// readCode reads one JSON frame from the client's side and returns its
// message code.
func readCode(t *testing.T, client net.Conn, r *bufio.Reader) (int, []any) {
	t.Helper()
	if err := client.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, binary.BigEndian.Uint32(head[:])&0xffffff)
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatal(err)
	}
	var msg []any
	if err := json.Unmarshal(body, &msg); err != nil || len(msg) == 0 {
		t.Fatalf("frame %q: %v", body, err)
	}
	code, _ := msg[0].(float64)
	return int(code), msg
}

// TestAbortOpening: a session refused before its WELCOME is written gets
// ABORT wamp.close.system_shutdown in WELCOME's place; one welcomed first
// is not refused (it ends as the open sessions do, with GOODBYE).
func TestAbortOpening(t *testing.T) {
	t.Parallel()
	t.Run("before WELCOME", func(t *testing.T) {
		peer, client, r := rawSocketSession(t)
		if !peer.AbortOpening(false) {
			t.Fatal("AbortOpening of a session not yet welcomed reported false")
		}
		peer.Send() <- &wamp.Welcome{ID: 7, Details: wamp.Dict{}}
		code, msg := readCode(t, client, r)
		if code != int(wamp.ABORT) || msg[2] != string(wamp.ErrSystemShutdown) {
			t.Fatalf("got %v, want ABORT %s in WELCOME's place", msg, wamp.ErrSystemShutdown)
		}
		peer.Close()
		expectEnd(t, client, r, "after ABORT, want no WELCOME")
	})
	t.Run("before WELCOME, for a restart", func(t *testing.T) {
		peer, client, r := rawSocketSession(t)
		if !peer.AbortOpening(true) {
			t.Fatal("AbortOpening of a session not yet welcomed reported false")
		}
		peer.Send() <- &wamp.Welcome{ID: 7, Details: wamp.Dict{}}
		peer.Close()
		// Neither WELCOME nor ABORT (which tells a client not to come
		// back): the connection just ends.
		expectEnd(t, client, r, "after the refusal, want the connection's end and nothing else")
	})
	t.Run("after WELCOME, for a restart", func(t *testing.T) {
		peer, client, r := rawSocketSession(t)
		peer.Send() <- &wamp.Welcome{ID: 7, Details: wamp.Dict{}}
		if code, msg := readCode(t, client, r); code != int(wamp.WELCOME) {
			t.Fatalf("got %v, want WELCOME", msg)
		}
		peer.EndForRestart()
		peer.Send() <- &wamp.Goodbye{Reason: wamp.ErrSystemShutdown, Details: wamp.Dict{}}
		peer.Close()
		expectEnd(t, client, r, "after a restart's end, want no GOODBYE")
	})
	t.Run("after WELCOME", func(t *testing.T) {
		peer, client, r := rawSocketSession(t)
		peer.Send() <- &wamp.Welcome{ID: 7, Details: wamp.Dict{}}
		if code, msg := readCode(t, client, r); code != int(wamp.WELCOME) {
			t.Fatalf("got %v, want WELCOME", msg)
		}
		if peer.AbortOpening(false) {
			t.Fatal("AbortOpening of a welcomed session reported true")
		}
		peer.Send() <- &wamp.Goodbye{Reason: wamp.ErrSystemShutdown, Details: wamp.Dict{}}
		if code, msg := readCode(t, client, r); code != int(wamp.GOODBYE) {
			t.Fatalf("got %v, want GOODBYE", msg)
		}
	})
}

// slowWelcome is SessionHooks whose Welcome waits for release, with a
// Route that reports its Leave.
type slowWelcome struct {
	entered, release, left chan struct{}
}

func (*slowWelcome) Hello(*wamp.Hello) {}
func (h *slowWelcome) Welcome(*Peer, *wamp.Hello, *wamp.Welcome) Route {
	close(h.entered)
	<-h.release
	return h
}
func (*slowWelcome) Handle(wamp.Message) bool { return false }
func (h *slowWelcome) Leave()                 { close(h.left) }

// TestLeaveWhenClientGoesDuringWelcome: a client that disconnects while
// the router joins its session (the Welcome hook) still leaves: its
// session's route is ended once the hook returns it.
func TestLeaveWhenClientGoesDuringWelcome(t *testing.T) {
	t.Parallel()
	h := &slowWelcome{entered: make(chan struct{}), release: make(chan struct{}), left: make(chan struct{})}
	peer, client, _ := rawSocketSessionWith(t, PeerOptions{WriteTimeout: time.Second,
		NewSession: func() SessionHooks { return h }})
	peer.Send() <- &wamp.Welcome{ID: 7, Details: wamp.Dict{}}
	<-h.entered
	client.Close()
	select {
	case _, open := <-peer.Recv():
		if open {
			t.Fatal("a message after HELLO")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the reader did not end when the client went")
	}
	close(h.release)
	select {
	case <-h.left:
	case <-time.After(5 * time.Second):
		t.Fatal("the session's route never left")
	}
}
