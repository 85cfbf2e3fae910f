package transport

import (
	"fmt"

	"github.com/gammazero/nexus/v3/transport/serialize"
)

// Serializer is one WAMP serialization with its names on each transport.
type Serializer struct {
	// Name is json, msgpack or cbor.
	Name string
	// Subprotocol is the WebSocket subprotocol, e.g. "wamp.2.json".
	Subprotocol string
	// RawSocketID is the serializer number of the RawSocket handshake.
	RawSocketID byte
	// Binary reports whether WebSocket frames are binary.
	Binary bool

	codec serialize.Serializer
}

var serializers = []Serializer{
	{Name: "json", Subprotocol: "wamp.2.json", RawSocketID: 1, codec: newJSONCodec()},
	{Name: "msgpack", Subprotocol: "wamp.2.msgpack", RawSocketID: 2, Binary: true, codec: &serialize.MessagePackSerializer{}},
	{Name: "cbor", Subprotocol: "wamp.2.cbor", RawSocketID: 3, Binary: true, codec: &serialize.CBORSerializer{}},
}

// LookupSerializers returns the serializers with the given names, in order.
func LookupSerializers(names []string) ([]Serializer, error) {
	out := make([]Serializer, 0, len(names))
	for _, n := range names {
		found := false
		for _, s := range serializers {
			if s.Name == n {
				out = append(out, s)
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("transport: unknown serializer %q", n)
		}
	}
	return out, nil
}
