package cluster

import (
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
