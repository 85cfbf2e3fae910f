package transport

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
)

// TestParkAndWakeUnderLoad runs sessions whose clients pause for random
// times around the idle delay, so that their readers park and wake and
// their writers exit and restart hundreds of times while messages flow both
// ways. Every message must arrive, in order, exactly once.
func TestParkAndWakeUnderLoad(t *testing.T) {
	poller, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer poller.Close()
	serializers, err := LookupSerializers([]string{"json"})
	if err != nil {
		t.Fatal(err)
	}
	jsonSer := serializers[0]
	const sessions, messages = 16, 150
	const idle = 5 * time.Millisecond

	var wg sync.WaitGroup
	for s := range sessions {
		c, client := wsPair(t, 1<<20)
		_ = c.conn.SetReadDeadline(time.Time{})
		peer := newPeer(c, jsonSer, PeerOptions{Poller: poller, IdleAfter: idle, WriteTimeout: 5 * time.Second})
		// Stands in for nexus (answers each PUBLISH with PUBLISHED through
		// the channel) and for the broker (an EVENT frame for every other).
		wg.Add(1)
		go func() {
			defer wg.Done()
			for msg := range peer.Recv() {
				pub, ok := msg.(*wamp.Publish)
				if !ok {
					t.Errorf("session %d: got %v, want PUBLISH", s, msg.MessageType())
					continue
				}
				peer.Send() <- &wamp.Published{Request: pub.Request, Publication: pub.Request}
				if pub.Request%2 == 0 {
					frame, err := jsonSer.codec.Serialize(&wamp.Event{Subscription: 1, Publication: pub.Request, Details: wamp.Dict{}})
					if err != nil {
						t.Error(err)
					}
					peer.EnqueueFrame(frame)
				}
			}
			peer.Close()
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := pausingClient(client, messages, idle); err != nil {
				t.Errorf("session %d: %v", s, err)
			}
		}()
	}
	wg.Wait()
	if n := poller.timesArmed(); n < sessions*10 {
		t.Fatalf("connections parked %d times in all, want many (at least %d)", n, sessions*10)
	} else {
		t.Logf("connections parked %d times", n)
	}
	if n := poller.Parked(); n != 0 {
		t.Fatalf("%d connections still registered as parked after every session ended", n)
	}
}

// pausingClient publishes messages times with random pauses (some longer
// than idle), reads the PUBLISHED and EVENT replies, checks they are all
// there in order, and closes the connection.
func pausingClient(conn net.Conn, messages int, idle time.Duration) error {
	defer conn.Close()
	errc := make(chan error, 1)
	go func() {
		nextPublished, nextEvent := 1, 2
		for nextPublished <= messages || nextEvent <= messages {
			op, payload, err := decodeServerFrame(conn)
			if err != nil {
				errc <- fmt.Errorf("after PUBLISHED %d and EVENT %d: %w", nextPublished-1, nextEvent-2, err)
				return
			}
			var msg []any
			if op != wsText || json.Unmarshal(payload, &msg) != nil || len(msg) < 3 {
				errc <- fmt.Errorf("unexpected frame %#x %q", op, payload)
				return
			}
			switch msg[0] {
			case float64(wamp.PUBLISHED):
				if msg[1] != float64(nextPublished) {
					errc <- fmt.Errorf("PUBLISHED %v, want %d", msg[1], nextPublished)
					return
				}
				nextPublished++
			case float64(wamp.EVENT):
				if msg[2] != float64(nextEvent) {
					errc <- fmt.Errorf("EVENT %v, want %d", msg[2], nextEvent)
					return
				}
				nextEvent += 2
			}
		}
		errc <- nil
	}()
	for i := 1; i <= messages; i++ {
		frame := clientFrame(true, wsText, fmt.Appendf(nil, `[16,%d,{},"com.park"]`, i))
		if _, err := conn.Write(frame); err != nil {
			return fmt.Errorf("write %d: %w", i, err)
		}
		if rand.IntN(3) > 0 { // a third go out back to back
			time.Sleep(time.Duration(rand.Int64N(int64(3 * idle))))
		}
	}
	select {
	case err := <-errc:
		return err
	case <-time.After(20 * time.Second):
		return fmt.Errorf("replies missing after 20s")
	}
}

// TestPollerCloseWakesParked: closing the poller hands parked connections
// back to reader goroutines; their sessions go on.
func TestPollerCloseWakesParked(t *testing.T) {
	poller, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	serializers, err := LookupSerializers([]string{"json"})
	if err != nil {
		t.Fatal(err)
	}
	c, client := wsPair(t, 1<<20)
	_ = c.conn.SetReadDeadline(time.Time{})
	peer := newPeer(c, serializers[0], PeerOptions{Poller: poller, IdleAfter: 5 * time.Millisecond})
	defer peer.Close()
	deadline := time.Now().Add(5 * time.Second)
	for poller.Parked() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("connection not parked")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := poller.Close(); err != nil {
		t.Fatal(err)
	}
	if n := poller.Parked(); n != 0 {
		t.Fatalf("%d connections parked after Close", n)
	}
	if _, err := client.Write(clientFrame(true, wsText, []byte(`[16,1,{},"com.after.close"]`))); err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-peer.Recv():
		if pub, ok := msg.(*wamp.Publish); !ok || pub.Topic != "com.after.close" {
			t.Fatalf("got %v, want the PUBLISH", msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("message after the poller closed never arrived")
	}
}
