package transport

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"sync"

	"github.com/gammazero/nexus/v3/transport/serialize"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/ugorji/go/codec"
)

// jsonCodec is nexus's JSON serializer with the messages of the hot paths
// (EVENT, RESULT, INVOCATION, SUBSCRIBED, PUBLISHED out; PUBLISH, CALL,
// YIELD in) encoded and decoded without ugorji (jsonvalue.go): nexus builds
// a new ugorji encoder or decoder for every message and converts between
// messages and lists by reflection, and ugorji's own work was a quarter of
// the router's CPU in RPC. The bytes and messages are the same as nexus's
// (TestJSONCodecMatchesNexus, FuzzJSONCodec); a value of the fast paths
// that jsonvalue.go does not handle, and every other message, goes through
// ugorji or nexus's serializer.
type jsonCodec struct {
	nexus serialize.JSONSerializer
	h     *codec.JsonHandle
	encs  sync.Pool // *codec.Encoder
	decs  sync.Pool // *codec.Decoder
}

// NewJSONCodec returns the JSON serializer the transports use (for
// benchmarks and tests of other packages).
func NewJSONCodec() serialize.Serializer { return newJSONCodec() }

func newJSONCodec() *jsonCodec {
	h := &codec.JsonHandle{}
	h.MapType = reflect.TypeOf(map[string]any(nil)) // as nexus's handle
	c := &jsonCodec{h: h}
	c.encs.New = func() any { return codec.NewEncoderBytes(nil, h) }
	c.decs.New = func() any { return codec.NewDecoderBytes(nil, h) }
	return c
}

var _ serialize.Serializer = (*jsonCodec)(nil)

// withArgs appends args and kwargs as nexus's msgToList does: trailing
// empty ones are left out.
func withArgs(list []any, args wamp.List, kwargs wamp.Dict) []any {
	switch {
	case len(kwargs) > 0:
		return append(list, args, kwargs)
	case len(args) > 0:
		return append(list, args)
	}
	return list
}

func (c *jsonCodec) Serialize(msg wamp.Message) ([]byte, error) {
	var buf [6]any // the longest list, on the stack
	list := buf[:0]
	switch m := msg.(type) {
	case *wamp.Event:
		list = withArgs(append(list, int(wamp.EVENT), m.Subscription, m.Publication, m.Details), m.Arguments, m.ArgumentsKw)
	case *wamp.Result:
		list = withArgs(append(list, int(wamp.RESULT), m.Request, m.Details), m.Arguments, m.ArgumentsKw)
	case *wamp.Invocation:
		list = withArgs(append(list, int(wamp.INVOCATION), m.Request, m.Registration, m.Details), m.Arguments, m.ArgumentsKw)
	case *wamp.Subscribed:
		return appendIDs(int(wamp.SUBSCRIBED), m.Request, m.Subscription), nil
	case *wamp.Published:
		return appendIDs(int(wamp.PUBLISHED), m.Request, m.Publication), nil
	default:
		return c.nexus.Serialize(msg)
	}
	b := make([]byte, 0, 256) // most messages fit: one allocation
	if out, ok := appendJSONList(b, list); ok {
		return out, nil
	}
	enc := c.encs.Get().(*codec.Encoder)
	defer c.encs.Put(enc)
	b = b[:0]
	enc.ResetBytes(&b)
	err := enc.Encode(list)
	return b, err
}

func (c *jsonCodec) Deserialize(data []byte) (wamp.Message, error) {
	typ := jsonMessageType(data)
	switch typ {
	case wamp.PUBLISH, wamp.CALL, wamp.YIELD:
	default:
		return c.nexus.Deserialize(data)
	}
	v, ok := readJSONMessage(data)
	if !ok {
		var err error
		if v, err = c.ugorjiDecode(data); err != nil {
			return nil, err
		}
	}
	if len(v) == 0 {
		return nil, errors.New("invalid message")
	}
	d := listDecoder{v: v}
	switch typ {
	case wamp.PUBLISH:
		m := &wamp.Publish{}
		d.id(1, &m.Request)
		d.dict(2, &m.Options)
		d.uri(3, &m.Topic)
		d.list(4, &m.Arguments)
		d.dict(5, &m.ArgumentsKw)
		return m, d.err
	case wamp.CALL:
		m := &wamp.Call{}
		d.id(1, &m.Request)
		d.dict(2, &m.Options)
		d.uri(3, &m.Procedure)
		d.list(4, &m.Arguments)
		d.dict(5, &m.ArgumentsKw)
		return m, d.err
	default: // YIELD
		m := &wamp.Yield{}
		d.id(1, &m.Request)
		d.dict(2, &m.Options)
		d.list(3, &m.Arguments)
		d.dict(4, &m.ArgumentsKw)
		return m, d.err
	}
}

// readJSONMessage reads a message's list without ugorji, if it holds
// nothing odd.
func readJSONMessage(data []byte) ([]any, bool) {
	r := jsonReader{data: data}
	r.skipSpace()
	if r.pos >= len(data) || data[r.pos] != '[' {
		return nil, false
	}
	v, ok := r.array(0)
	return v, ok && r.atEnd()
}

func (c *jsonCodec) ugorjiDecode(data []byte) ([]any, error) {
	dec := c.decs.Get().(*codec.Decoder)
	var v []any
	dec.ResetBytes(data)
	err := dec.Decode(&v)
	dec.ResetBytes(nil) // hold no reference to data
	c.decs.Put(dec)
	return v, err
}

// appendIDs writes [typ, a, b], a message of two IDs, as the encoder
// would.
func appendIDs(typ int, a, b wamp.ID) []byte {
	out := make([]byte, 0, 48)
	out = append(out, '[')
	out = strconv.AppendInt(out, int64(typ), 10)
	out = append(out, ',')
	out = strconv.AppendUint(out, uint64(a), 10)
	out = append(out, ',')
	out = strconv.AppendUint(out, uint64(b), 10)
	return append(out, ']')
}

// jsonMessageType reads the message type that starts a JSON message
// ("[48, ..."), or returns 0.
func jsonMessageType(data []byte) wamp.MessageType {
	i := 0
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	if i >= len(data) || data[i] != '[' {
		return 0
	}
	i++
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	n := 0
	start := i
	for i < len(data) && data[i] >= '0' && data[i] <= '9' && i-start < 3 {
		n = n*10 + int(data[i]-'0')
		i++
	}
	if i == start || i >= len(data) || (data[i] != ',' && data[i] != ' ' && data[i] != ']') {
		return 0
	}
	return wamp.MessageType(n)
}

// listDecoder fills message fields from a decoded list as nexus's listToMsg
// does: a missing or null element leaves the field empty, a number of
// another kind is converted, anything else is an error.
type listDecoder struct {
	v   []any
	err error
}

func (d *listDecoder) at(i int) (any, bool) {
	if d.err != nil || i >= len(d.v) || d.v[i] == nil {
		return nil, false
	}
	return d.v[i], true
}

func (d *listDecoder) fail(i int, v any, want string) {
	d.err = fmt.Errorf("field %d not recognized, has %T, want %s", i, v, want)
}

func (d *listDecoder) id(i int, out *wamp.ID) {
	v, ok := d.at(i)
	if !ok {
		return
	}
	switch n := v.(type) {
	case uint64:
		*out = wamp.ID(n)
	case int64:
		*out = wamp.ID(n)
	case float64:
		*out = wamp.ID(n)
	default:
		d.fail(i, v, "wamp.ID")
	}
}

func (d *listDecoder) dict(i int, out *wamp.Dict) {
	v, ok := d.at(i)
	if !ok {
		return
	}
	m, ok := v.(map[string]any)
	if !ok {
		d.fail(i, v, "wamp.Dict")
		return
	}
	*out = m
}

func (d *listDecoder) uri(i int, out *wamp.URI) {
	v, ok := d.at(i)
	if !ok {
		return
	}
	switch x := v.(type) {
	case string:
		*out = wamp.URI(x)
	// nexus converts an integer to a string as Go does (one rune); such a
	// URI then fails its check.
	case uint64:
		*out = wamp.URI(runeString(int64(x), x <= math.MaxInt32))
	case int64:
		*out = wamp.URI(runeString(x, x >= math.MinInt32 && x <= math.MaxInt32))
	default:
		d.fail(i, v, "wamp.URI")
	}
}

// runeString is string(rune(n)) as reflect converts an integer: U+FFFD
// for a value that is no rune.
func runeString(n int64, fits bool) string {
	if !fits {
		return "\uFFFD"
	}
	return string(rune(n))
}

func (d *listDecoder) list(i int, out *wamp.List) {
	v, ok := d.at(i)
	if !ok {
		return
	}
	l, ok := v.([]any)
	if !ok {
		d.fail(i, v, "wamp.List")
		return
	}
	*out = l
}

func (c *jsonCodec) SerializeDataItem(item any) ([]byte, error) {
	return c.nexus.SerializeDataItem(item)
}

func (c *jsonCodec) DeserializeDataItem(data []byte, v any) error {
	return c.nexus.DeserializeDataItem(data, v)
}
