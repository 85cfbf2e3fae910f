package router

import (
	"testing"

	"github.com/gammazero/nexus/v3/transport/serialize"
	"github.com/gammazero/nexus/v3/wamp"
)

// TestReadHello decodes an autobahn.js-like HELLO with each serializer, as
// the transport does, and checks what readHello keeps for the broker and the dealer and
// what it leaves for nexus.
func TestReadHello(t *testing.T) {
	hello := &wamp.Hello{Realm: "realm1", Details: wamp.Dict{
		"agent": "AutobahnJS-26.3.1",
		"roles": wamp.Dict{
			"caller":     wamp.Dict{"features": wamp.Dict{"caller_identification": true, "progressive_call_results": true}},
			"callee":     wamp.Dict{"features": wamp.Dict{"progressive_call_results": true, "shared_registration": true}},
			"publisher":  wamp.Dict{"features": wamp.Dict{"publisher_identification": true, "publisher_exclusion": true}},
			"subscriber": wamp.Dict{"features": wamp.Dict{"publisher_identification": true, "pattern_based_subscription": true}},
		},
	}}
	for name, codec := range map[string]serialize.Serializer{
		"json": &serialize.JSONSerializer{}, "msgpack": &serialize.MessagePackSerializer{}, "cbor": &serialize.CBORSerializer{},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := codec.Serialize(hello)
			if err != nil {
				t.Fatal(err)
			}
			msg, err := codec.Deserialize(b)
			if err != nil {
				t.Fatal(err)
			}
			decoded := msg.(*wamp.Hello)
			info := readHello(decoded)
			if !info.publisherIdentification {
				t.Error("publisher_identification of the subscriber was not read")
			}
			if !info.callee.ProgressiveCallResults || info.callee.CallCanceling || !info.caller.ProgressiveCallResults {
				t.Errorf("RPC features read as caller %+v, callee %+v", info.caller, info.callee)
			}
			roles := childMap(decoded.Details, "roles")
			for _, role := range []string{"publisher", "subscriber", "caller", "callee"} {
				r := childMap(roles, role)
				if r == nil {
					t.Errorf("role %s removed: nexus needs the roles", role)
				} else if _, ok := r["features"]; ok {
					t.Errorf("features of %s kept for nexus", role)
				}
			}
		})
	}
}
