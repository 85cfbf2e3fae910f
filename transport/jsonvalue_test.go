package transport

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/gammazero/nexus/v3/transport/serialize"
	"github.com/gammazero/nexus/v3/wamp"
)

// fastJSONTexts are read by the fast reader (not handed to ugorji).
var fastJSONTexts = []string{
	`[1,-1,0,-0,18446744073709551615,-9223372036854775808,1000000000000000000]`,
	`[1.0,1e2,1E+2,-1.5e-2,0.5,-0.0,1e-400,12345678901234567890.0,9007199254740993.0,123.456]`,
	`["", "a\"b\\c\/d", "\n\t\r\b\f", "\u0000\u00e9\u2028\ud83d\ude00", "<>&", "é raw",` + "\"\xff\xfe\"]",
	` [ {"a" : [ true , false , null ] , "b" : {}} , [] , {"a":1,"b":2} ] `,
}

// slowJSONTexts are left to ugorji: each is odd in one way.
var slowJSONTexts = []string{
	`[01]`, `[1.]`, `[.5]`, `[+1]`, `[-]`, `[1e]`, `[18446744073709551616]`, `[-9223372036854775809]`,
	`[1e400]`, `["\ud800"]`, `["\ude00"]`, `["\ud83dx"]`, "[\"\x01\"]", `["\x"]`, `[{1:2}]`, `[tru]`,
	`[nulls]`, `[0x1]`, `[1,]`, `[1] x`, `["a]`, `[1 2]`, `[{"a" 1}]`, `[{"a":1,}]`, `[{"a":[],"a":0}]`, `[{"a":1,"a":2}]`,
	`[` + strings.Repeat("[", maxFastJSONDepth+2) + strings.Repeat("]", maxFastJSONDepth+2) + `]`,
}

func ugorjiDecode(t testing.TB, data []byte) ([]any, error) {
	t.Helper()
	var v []any
	err := (&serialize.JSONSerializer{}).DeserializeDataItem(data, &v)
	return v, err
}

// TestJSONValuesMatchUgorji: what the fast reader reads, it reads as
// ugorji does, and it leaves odd input to ugorji.
func TestJSONValuesMatchUgorji(t *testing.T) {
	for _, in := range fastJSONTexts {
		got, ok := readJSONMessage([]byte(in))
		want, err := ugorjiDecode(t, []byte(in))
		if !ok || err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: fast %#v (ok %v), ugorji %#v (%v)", in, got, ok, want, err)
		}
	}
	for _, in := range slowJSONTexts {
		if got, ok := readJSONMessage([]byte(in)); ok {
			t.Errorf("%s: read by the fast reader as %#v, want it left to ugorji", in, got)
		}
	}
}

// TestJSONEncodeMatchesUgorji: values are written byte for byte as
// ugorji writes them, edge cases of numbers and strings included.
func TestJSONEncodeMatchesUgorji(t *testing.T) {
	var all strings.Builder
	for c := range 0x80 {
		all.WriteByte(byte(c))
	}
	values := []any{
		nil, true, false, "", all.String(), "é\xff\xfe\u2028\u2029😀", wamp.URI("a.b<c>"),
		0, -1, int64(math.MinInt64), int32(-7), uint64(math.MaxUint64), uint32(9), uint(3), wamp.ID(1 << 53),
		0.0, math.Copysign(0, -1), 1.0, -1.0, 100.0, 0.1, -123.456, 1 << 52, 1<<52 - 1, 1<<52 + 2, 1e20, 1e21, -1e21,
		1e-6, 9.99e-7, 1e-7, 5e-324, math.MaxFloat64, math.NaN(), math.Inf(-1),
		[]any{}, []any(nil), wamp.List{1, "x"}, map[string]any{}, map[string]any(nil), wamp.Dict{"k<": []any{2.5}},
	}
	theirs := &serialize.JSONSerializer{}
	for _, v := range values {
		got, ok := appendJSON(nil, v)
		want, err := theirs.SerializeDataItem(v)
		if !ok || err != nil || !bytes.Equal(got, want) {
			t.Errorf("%#v: fast %s (ok %v), ugorji %s (%v)", v, got, ok, want, err)
		}
	}
	for _, v := range []any{[]byte("x"), float32(1.5), struct{}{}, []string{"a"}, wamp.List{int8(1)}, wamp.Dict{"a": wamp.Dict{"b": int16(2)}}} {
		if out, ok := appendJSON(nil, v); ok {
			t.Errorf("%#v: written by the fast writer as %s, want it left to ugorji", v, out)
		}
	}
	r := rand.New(rand.NewPCG(11, 12))
	for range 20000 {
		v := []any{randomJSONValue(r, 0), r.NormFloat64() * math.Pow(10, float64(r.IntN(60)-30))}
		got, _ := appendJSON(nil, v)
		want, _ := theirs.SerializeDataItem(v)
		back, err1 := ugorjiDecode(t, got)
		wantBack, err2 := ugorjiDecode(t, want)
		if (err1 == nil) != (err2 == nil) || !reflect.DeepEqual(back, wantBack) {
			t.Fatalf("%#v: fast %s, ugorji %s", v, got, want)
		}
	}
}

// FuzzJSONValue: whatever the fast reader reads, ugorji reads the same;
// what the fast writer writes of it, ugorji reads back the same as what
// ugorji writes.
func FuzzJSONValue(f *testing.F) {
	for _, in := range append(fastJSONTexts, slowJSONTexts...) {
		f.Add([]byte(in))
	}
	theirs := &serialize.JSONSerializer{}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ok := readJSONMessage(data)
		if !ok {
			return
		}
		want, err := ugorjiDecode(t, data)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: fast %#v, ugorji %#v (%v)", data, got, want, err)
		}
		out, ok := appendJSON(nil, got)
		if !ok {
			t.Fatalf("%q: the fast writer refused what the fast reader read: %#v", data, got)
		}
		theirOut, err := theirs.SerializeDataItem(got)
		if err != nil {
			t.Fatal(err)
		}
		back, err1 := ugorjiDecode(t, out)
		theirBack, err2 := ugorjiDecode(t, theirOut)
		if (err1 == nil) != (err2 == nil) || !reflect.DeepEqual(back, theirBack) {
			t.Fatalf("%q: fast wrote %s (%v), ugorji %s (%v)", data, out, err1, theirOut, err2)
		}
	})
}

// BenchmarkJSONCodec: the hot messages through switchboard's JSON codec and
// through nexus's serializer, both ways
// (go test -run XXX -bench JSONCodec -count 6 ./transport | benchstat -col /impl -).
func BenchmarkJSONCodec(b *testing.B) {
	args := wamp.List{"hello", 42, 3.5, wamp.Dict{"user": "alice", "tags": wamp.List{"a", "b"}}}
	msgs := []wamp.Message{
		&wamp.Call{Request: 7, Options: wamp.Dict{"receive_progress": true}, Procedure: "app.echo", Arguments: args},
		&wamp.Yield{Request: 9, Options: wamp.Dict{}, Arguments: args},
		&wamp.Publish{Request: 3, Options: wamp.Dict{"acknowledge": true}, Topic: "app.user.42.inbox", Arguments: args},
	}
	out := []wamp.Message{
		&wamp.Result{Request: 7, Details: wamp.Dict{}, Arguments: args},
		&wamp.Invocation{Request: 9, Registration: 1234567, Details: wamp.Dict{"caller": wamp.ID(99)}, Arguments: args},
		&wamp.Event{Subscription: 5, Publication: 77777777, Details: wamp.Dict{"topic": "app.user.42.inbox"}, Arguments: args},
	}
	impls := []struct {
		name string
		s    serialize.Serializer
	}{{"nexus", &serialize.JSONSerializer{}}, {"switchboard", newJSONCodec()}}
	for _, m := range msgs {
		data, err := (&serialize.JSONSerializer{}).Serialize(m)
		if err != nil {
			b.Fatal(err)
		}
		for _, impl := range impls {
			b.Run(fmt.Sprintf("decode=%s/impl=%s", m.MessageType(), impl.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := impl.s.Deserialize(data); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
	for _, m := range out {
		for _, impl := range impls {
			b.Run(fmt.Sprintf("encode=%s/impl=%s", m.MessageType(), impl.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := impl.s.Serialize(m); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
