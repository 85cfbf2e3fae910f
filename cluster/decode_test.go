package cluster

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/broker"
)

// samplePublications are publications as a node forwards them: every
// field the cluster carries, binary payloads, the publish options.
func samplePublications() map[string]broker.RemotePublication {
	return map[string]broker.RemotePublication{
		"realm1": {ID: 1, Topic: "a.b"},
		"realm.with.dots": {ID: 9007199254740992, Topic: "com.example.topic", Args: wamp.List{1, "two", 3.5, []byte{0, 1, 2}, nil, true},
			Kwargs:    wamp.Dict{"k": wamp.Dict{"nested": wamp.List{"x"}}, "bin": []byte("\xff\x00")},
			Publisher: &broker.RemotePublisher{Session: 42, AuthID: "alice", AuthRole: "user"}, Disclose: true,
			Options: wamp.Dict{"exclude": wamp.List{1, 2}, "eligible_authrole": wamp.List{"user"},
				"ppt_scheme": "x_custom", "ppt_serializer": "native"}},
		"": {ID: 77, Topic: "", Publisher: &broker.RemotePublisher{}, Options: wamp.Dict{"exclude_authid": "bob"}},
	}
}

// TestEncodeDecodeRoundTrip: what a node sends, another decodes to the
// same publication in the same realm.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	var n Node
	for realm, pub := range samplePublications() {
		data, err := n.encode(realm, pub)
		if err != nil {
			t.Fatalf("encode %q: %v", realm, err)
		}
		gotRealm, got, err := n.decode(data)
		if err != nil {
			t.Fatalf("decode %q: %v", realm, err)
		}
		if gotRealm != realm {
			t.Errorf("realm %q decoded as %q", realm, gotRealm)
		}
		if got.ID != pub.ID || got.Topic != pub.Topic || got.Disclose != pub.Disclose ||
			!reflect.DeepEqual(got.Publisher, pub.Publisher) || len(got.Args) != len(pub.Args) ||
			len(got.Kwargs) != len(pub.Kwargs) || len(got.Options) != len(pub.Options) {
			t.Errorf("realm %q: sent %+v, decoded %+v", realm, pub, got)
		}
	}
}

// FuzzDecode feeds a node arbitrary bytes as a NATS message of another
// node: decode must never panic (the receive goroutine has no recover, so
// a panic ends the router), and what it accepts must survive being
// forwarded again (encode, decode) unchanged in realm, ID and topic.
func FuzzDecode(f *testing.F) {
	var n Node
	for realm, pub := range samplePublications() {
		data, err := n.encode(realm, pub)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		if len(data) > 4 {
			f.Add(data[:len(data)/2])
		}
	}
	// Not a PUBLISH, and malformed PUBLISH arrays.
	for _, msg := range []wamp.Message{
		&wamp.Event{Subscription: 1, Publication: 2, Details: wamp.Dict{}},
		&wamp.Publish{Request: 0, Options: wamp.Dict{optRealm: 5, optPublisher: wamp.List{"x", 1, nil}, optDisclose: "yes"}, Topic: "t"},
		&wamp.Publish{Request: 3, Options: wamp.Dict{optPublisher: "not a list"}, Topic: "t", Arguments: wamp.List{wamp.Dict{}}},
	} {
		data, err := n.codec.Serialize(msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte{0x90})                         // []
	f.Add([]byte{0x91, 0x10})                   // [16]
	f.Add([]byte{0x92, 0x10, 0x01})             // [16, 1]
	f.Add([]byte{0x93, 0x10, 0xc0, 0xc0})       // [16, nil, nil]
	f.Add([]byte{0x94, 0x10, 0x01, 0x80, 0xc0}) // [16, 1, {}, nil]
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff}) // an array header of 4G items
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff}) // a map header of 4G entries
	f.Fuzz(func(t *testing.T, data []byte) {
		var n Node
		realm, pub, err := n.decode(data)
		if err != nil {
			return
		}
		again, err := n.encode(realm, pub)
		if err != nil {
			return // e.g. a value the encoder refuses; it was not forwarded
		}
		realm2, pub2, err := n.decode(again)
		if err != nil {
			t.Fatalf("re-encoded publication does not decode: %v", err)
		}
		if realm2 != realm || pub2.ID != pub.ID || pub2.Topic != pub.Topic {
			t.Fatalf("re-encoded publication changed: realm %q -> %q, ID %d -> %d, topic %q -> %q",
				realm, realm2, pub.ID, pub2.ID, pub.Topic, pub2.Topic)
		}
	})
}

// nestedList is a MessagePack value of depth lists, one inside the other,
// around a nil.
func nestedList(depth int) []byte {
	return append(bytes.Repeat([]byte{0x91}, depth), 0xc0)
}

// TestDecodeBoundsNesting: what another node sends decodes nested up to
// maxNodeNesting, and is refused one level deeper (and a million deep),
// as a message and as a value.
func TestDecodeBoundsNesting(t *testing.T) {
	t.Parallel()
	var n Node
	var v any
	for _, tc := range []struct {
		depth int
		ok    bool
	}{{maxNodeNesting, true}, {maxNodeNesting + 1, false}, {1_000_000, false}} {
		// A PUBLISH whose arguments hold the nested lists: the message
		// itself and its arguments list are two levels.
		msg := append([]byte{0x95, 0x10, 0x01, 0x80, 0xa1, 't', 0x91}, nestedList(tc.depth-2)...)
		if _, err := n.decodeMessage(msg); (err == nil) != tc.ok {
			t.Errorf("message nested %d deep: %v, want accepted %v", tc.depth, err, tc.ok)
		}
		if err := n.decodeItem(nestedList(tc.depth), &v); (err == nil) != tc.ok {
			t.Errorf("value nested %d deep: %v, want accepted %v", tc.depth, err, tc.ok)
		}
	}
}

// FuzzDecodeNodeMessage feeds arbitrary bytes to the decoders of what
// other nodes send besides publications (RPC messages, snapshots of
// registrations, registration claims, meta requests): never a panic, and
// nothing decoded nests deeper than the bound.
func FuzzDecodeNodeMessage(f *testing.F) {
	var n Node
	for _, msg := range []wamp.Message{
		&wamp.Call{Request: 1, Options: wamp.Dict{optRealm: "realm1", optFrom: "a", optReg: wamp.List{1, 2}}, Procedure: "p", Arguments: wamp.List{wamp.Dict{"x": wamp.List{1}}}},
		&wamp.Result{Request: 2, Details: wamp.Dict{optIncarnation: 3, "progress": true}, Arguments: wamp.List{"r"}},
		&wamp.Error{Type: wamp.CALL, Request: 3, Details: wamp.Dict{}, Error: "e"},
		&wamp.Cancel{Request: 4, Options: wamp.Dict{"mode": "kill"}},
	} {
		data, err := n.codec.Serialize(msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, v := range []any{
		map[string]any{"node": "a", "incarnation": 5, "realms": map[string]any{"realm1": []any{map[string]any{"id": 1, "procedure": "p", "match": "prefix"}}}},
		map[string]any{"node": "b", "incarnation": 6, "policy": "roundrobin"},
		map[string]any{"node": "c", "leaving": true},
	} {
		data, err := n.codec.SerializeDataItem(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(nestedList(200))
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = maxNodeNesting
		if msg, err := n.decodeMessage(data); err == nil {
			if d := depthOf(reflect.ValueOf(msg).Elem()); d > limit {
				t.Fatalf("message decoded %d deep past a bound of %d", d, limit)
			}
		}
		var v any
		if err := n.decodeItem(data, &v); err == nil {
			if d := depthOf(reflect.ValueOf(v)); d > limit {
				t.Fatalf("value decoded %d deep past a bound of %d", d, limit)
			}
		}
		n.decodeClaim(data)
	})
}

// depthOf is how deeply lists and maps nest in v; a message (a struct) is
// one level, as its array on the wire.
func depthOf(v reflect.Value) int {
	for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return 0
		}
		v = v.Elem()
	}
	deepest := 0
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			deepest = max(deepest, depthOf(v.Field(i)))
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return 0 // binary
		}
		for i := range v.Len() {
			deepest = max(deepest, depthOf(v.Index(i)))
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			deepest = max(deepest, depthOf(it.Value()))
		}
	default:
		return 0
	}
	return deepest + 1
}
