package broker

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"unsafe"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/realms"
)

// recordingConn keeps the frames the broker queues.
type recordingConn struct {
	countingConn
	mu     sync.Mutex
	frames [][]byte
}

func (c *recordingConn) EnqueueFrame(b []byte) bool {
	c.mu.Lock()
	c.frames = append(c.frames, b)
	c.mu.Unlock()
	return true
}

func (c *recordingConn) EnqueueFrameNow(b []byte) bool { return c.EnqueueFrame(b) }

func (c *recordingConn) last() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frames[len(c.frames)-1]
}

// TestEncodeOnce: subscribers of one subscription with the same serializer
// and details variant get the very same encoded frame; a subscriber owed
// the publisher's identity gets its own.
func TestEncodeOnce(t *testing.T) {
	t.Parallel()
	authz := realms.NewAuthorizer([]realms.Role{{Name: "r", Permissions: []realms.Permission{
		{URI: "", Match: realms.MatchPrefix, Allow: realms.Actions{Publish: true, Subscribe: true},
			Disclose: realms.Disclose{Publisher: true}},
	}}})
	b := New([]Realm{{Name: "realm1", Authorizer: authz}}, nil, nil)
	join := func(id int, ser string, pubIdent bool) (*Session, *recordingConn) {
		c := &recordingConn{countingConn: *newConn(ser)}
		roles := wamp.Dict{"subscriber": wamp.Dict{"features": wamp.Dict{"publisher_identification": pubIdent}}}
		s := b.Join(c, &wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": roles}},
			&wamp.Welcome{ID: wamp.ID(id), Details: wamp.Dict{"authid": fmt.Sprint(id), "authrole": "r"}})
		return s, c
	}
	var conns []*recordingConn
	for i, v := range []struct {
		ser   string
		ident bool
	}{{"json", false}, {"json", false}, {"json", true}, {"msgpack", false}} {
		s, c := join(i+1, v.ser, v.ident)
		s.Handle(&wamp.Subscribe{Request: 1, Topic: "t.news", Options: wamp.Dict{}})
		conns = append(conns, c)
	}
	pub, _ := join(99, "json", false)
	pub.Handle(&wamp.Publish{Request: 2, Topic: "t.news", Options: wamp.Dict{}, Arguments: wamp.List{"x"}})

	same := func(a, b []byte) bool { return unsafe.SliceData(a) == unsafe.SliceData(b) }
	if !same(conns[0].last(), conns[1].last()) {
		t.Error("two JSON subscribers without publisher identification got separately encoded frames")
	}
	if same(conns[0].last(), conns[2].last()) {
		t.Error("a subscriber owed the publisher's identity shares the frame without it")
	}
	if same(conns[0].last(), conns[3].last()) {
		t.Error("a MessagePack subscriber got the JSON frame")
	}
	var ev []any
	if err := json.Unmarshal(conns[2].last(), &ev); err != nil {
		t.Fatal(err)
	}
	if d, _ := ev[3].(map[string]any); d["publisher"] != float64(99) {
		t.Errorf("disclosed frame details = %v", ev[3])
	}
	if err := json.Unmarshal(conns[0].last(), &ev); err != nil {
		t.Fatal(err)
	}
	if d, _ := ev[3].(map[string]any); len(d) != 0 {
		t.Errorf("undisclosed frame details = %v", ev[3])
	}
}
