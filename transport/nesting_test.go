package transport

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gammazero/nexus/v3/wamp"
)

// depthOf is how deeply lists and maps nest in a decoded value.
func depthOf(v any) int {
	deepest := 0
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			deepest = max(deepest, depthOf(e))
		}
		return deepest + 1
	case map[string]any:
		for _, e := range v {
			deepest = max(deepest, depthOf(e))
		}
		return deepest + 1
	case map[any]any:
		for _, e := range v {
			deepest = max(deepest, depthOf(e))
		}
		return deepest + 1
	}
	return 0
}

// itemsOf counts the values in a decoded value, itself included.
func itemsOf(v any) int {
	n := 1
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			n += itemsOf(e)
		}
	case map[string]any:
		for _, e := range v {
			n += 1 + itemsOf(e) // key and value
		}
	case map[any]any:
		for _, e := range v {
			n += 1 + itemsOf(e)
		}
	}
	return n
}

// randomValue builds a value whose lists and maps nest exactly depth
// levels, with scalars of every kind beside them.
func randomValue(r *rand.Rand, depth int) any {
	if depth == 0 {
		switch r.IntN(6) {
		case 0:
			return r.Int64() - r.Int64()
		case 1:
			return strings.Repeat("é\"\\[{", r.IntN(40))
		case 2:
			return r.Float64()
		case 3:
			return r.IntN(2) == 0
		case 4:
			return nil
		default:
			return bytes.Repeat([]byte{0xff}, r.IntN(300))
		}
	}
	width := 1 + r.IntN(3)
	if r.IntN(2) == 0 {
		l := make([]any, width)
		for i := range l {
			l[i] = randomValue(r, r.IntN(depth))
		}
		l[r.IntN(width)] = randomValue(r, depth-1)
		return l
	}
	m := map[string]any{}
	for i := range width {
		m[fmt.Sprint("k", i)] = randomValue(r, r.IntN(depth))
	}
	m["deep"] = randomValue(r, depth-1)
	return m
}

// TestCheckNestingMatchesEncoders: for values the real encoders produce,
// the check passes exactly the values nested no deeper than the limit.
func TestCheckNestingMatchesEncoders(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	const limit = 10
	for _, name := range []string{"json", "msgpack", "cbor"} {
		codec := itemCodecOf(name)
		for i := range 300 {
			depth := 1 + i%(limit+3)
			v := randomValue(r, depth)
			b, err := codec.SerializeDataItem(v)
			if err != nil {
				t.Fatalf("%s: encode: %v", name, err)
			}
			err = CheckNesting(name, b, limit, 0)
			var ne *nestingError
			switch {
			case depth <= limit && err != nil:
				t.Fatalf("%s: depth %d refused under limit %d: %v", name, depth, limit, err)
			case depth > limit && !errors.As(err, &ne):
				t.Fatalf("%s: depth %d passed limit %d (err %v)", name, depth, limit, err)
			}
		}
	}
}

func TestCheckNestingRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, format string
		input        []byte
		nesting      bool // a nestingError, not another refusal
	}{
		{"cbor tags", "cbor", append(bytes.Repeat([]byte{0xc6}, 9), 0x00), true},
		{"cbor tag under limit", "cbor", append(bytes.Repeat([]byte{0xc6}, 7), 0x00), false},
		{"cbor indefinite arrays", "cbor", bytes.Repeat([]byte{0x9f}, 9), true},
		{"cbor indefinite strings in arrays", "cbor", append(bytes.Repeat([]byte{0x81}, 8), 0x5f, 0x41, 'x', 0xff), true},
		{"cbor array longer than the message", "cbor", []byte{0x9a, 0xff, 0xff, 0xff, 0xff, 0x00}, false},
		{"cbor map longer than the message", "cbor", []byte{0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0}, false},
		{"cbor truncated", "cbor", []byte{0x82, 0x01}, false},
		{"cbor stray break", "cbor", []byte{0x82, 0x01, 0xff}, false},
		{"cbor reserved info", "cbor", []byte{0x1c}, false},
		{"msgpack arrays", "msgpack", bytes.Repeat([]byte{0x91}, 9), true},
		{"msgpack maps", "msgpack", append(bytes.Repeat([]byte{0x81, 0xa1, 'k'}, 9), 0xc0), true},
		{"msgpack array32 longer than the message", "msgpack", []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0}, false},
		{"msgpack str32 longer than the message", "msgpack", []byte{0xdb, 0, 1, 0, 0, 'x'}, false},
		{"msgpack reserved byte", "msgpack", []byte{0xc1}, false},
		{"json arrays", "json", []byte(strings.Repeat("[", 9) + strings.Repeat("]", 9)), true},
		{"json objects", "json", []byte(strings.Repeat(`{"a":`, 9) + "1" + strings.Repeat("}", 9)), true},
	} {
		err := CheckNesting(tc.format, tc.input, 8, 0)
		var ne *nestingError
		switch {
		case tc.name == "cbor tag under limit":
			if err != nil {
				t.Errorf("%s: refused: %v", tc.name, err)
			}
		case err == nil:
			t.Errorf("%s: passed", tc.name)
		case tc.nesting != errors.As(err, &ne):
			t.Errorf("%s: error %v, nesting error %v", tc.name, err, tc.nesting)
		}
	}
	// Values: at the limit fine, one more refused, in every encoding.
	for _, format := range []string{"json", "msgpack", "cbor"} {
		for _, tc := range []struct {
			n    int
			over bool
		}{{99, false}, {100, true}} {
			list := make([]any, tc.n) // tc.n values in a list: tc.n+1 in all
			for i := range list {
				list[i] = i % 3
			}
			b, err := itemCodecOf(format).SerializeDataItem(list)
			if err != nil {
				t.Fatal(err)
			}
			var ie *itemsError
			if err := CheckNesting(format, b, 8, 100); errors.As(err, &ie) != tc.over {
				t.Errorf("%s: %d values: %v, want refused %v", format, tc.n+1, err, tc.over)
			}
		}
	}
	// An empty container is a level: at the limit fine, one deeper refused.
	for _, format := range []string{"json", "msgpack", "cbor"} {
		for _, tc := range []struct {
			depth int
			over  bool
		}{{8, false}, {9, true}} {
			var v any = map[string]any{}
			if format == "cbor" {
				v = []any{}
			}
			for range tc.depth - 1 {
				v = map[string]any{"k": v}
			}
			b, err := itemCodecOf(format).SerializeDataItem(v)
			if err != nil {
				t.Fatal(err)
			}
			var ne *nestingError
			if err := CheckNesting(format, b, 8, 0); errors.As(err, &ne) != tc.over {
				t.Errorf("%s: empty container at depth %d: %v, want refused %v", format, tc.depth, err, tc.over)
			}
		}
	}
	// Brackets inside JSON strings are text.
	if err := CheckNesting("json", []byte(`["`+strings.Repeat("[", 100)+`\"[["]`), 8, 0); err != nil {
		t.Errorf("json brackets in a string: %v", err)
	}
}

// fuzzDecoder checks that a message the nesting check passes decodes
// without nesting deeper than the limit (and without crashing).
func fuzzDecoder(f *testing.F, format string, seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	codec := itemCodecOf(format)
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 32
		if err := CheckNesting(format, data, limit, 1000); err != nil {
			return
		}
		var v any
		if err := codec.DeserializeDataItem(data, &v); err != nil {
			return
		}
		if d := depthOf(v); d > limit {
			t.Fatalf("decoded depth %d passed a limit of %d", d, limit)
		}
		if n := itemsOf(v); n > 1000 {
			t.Fatalf("%d values decoded past a limit of 1000", n)
		}
	})
}

func FuzzDecodeJSON(f *testing.F) {
	fuzzDecoder(f, "json",
		[]byte(`[16,1,{"acknowledge":true},"com.topic",[{"a":[1,2,{"b":null}]}],{"k":"v"}]`),
		[]byte(strings.Repeat("[", 100_000)+strings.Repeat("]", 100_000)),
		[]byte(strings.Repeat(`{"a":`, 33)+"1"+strings.Repeat("}", 33)),
		[]byte(`["\"[[[[", {"x": "]]]"}]`))
}

func FuzzDecodeMsgpack(f *testing.F) {
	fuzzDecoder(f, "msgpack",
		[]byte{0x95, 0x10, 0x01, 0x81, 0xa1, 'a', 0xc3, 0xa1, 't', 0x91, 0x92, 0x01, 0xc0},
		bytes.Repeat([]byte{0x91}, 100_000),
		append(bytes.Repeat([]byte{0x81, 0xa1, 'k'}, 33), 0xc0),
		[]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
}

func FuzzDecodeCBOR(f *testing.F) {
	fuzzDecoder(f, "cbor",
		[]byte{0x85, 0x10, 0x01, 0xa1, 0x61, 'a', 0xf5, 0x61, 't', 0x81, 0x82, 0x01, 0xf6},
		append(bytes.Repeat([]byte{0xc6}, 100_000), 0x00),
		bytes.Repeat([]byte{0x9f}, 100_000),
		append(bytes.Repeat([]byte{0xd8, 0x20}, 40), 0x60),
		append(bytes.Repeat([]byte{0x81, 0xc6}, 20), 0x00))
}

// TestDropNullOptions: null, and msgpackr's undefined, count as absent in
// options; HELLO details are cleaned at every depth; other values stay.
func TestDropNullOptions(t *testing.T) {
	t.Parallel()
	undefined := []byte{0x84, 0xa5, 'm', 'a', 't', 'c', 'h', 0xd4, 0x00, 0x00, 0xa1, 'n', 0xc0,
		0xa1, 'k', 0xa1, 'v', 0xa1, 'e', 0xd4, 0x01, 0x00}
	var opts map[string]any
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(itemCodecOf("msgpack").DeserializeDataItem(undefined, &opts))
	sub := &wamp.Subscribe{Request: 1, Options: opts, Topic: "t"}
	dropNullOptions(sub)
	if _, ok := sub.Options["match"]; ok {
		t.Errorf("undefined match kept: %v", sub.Options)
	}
	if _, ok := sub.Options["n"]; ok {
		t.Errorf("null kept: %v", sub.Options)
	}
	if sub.Options["k"] != "v" || sub.Options["e"] == nil {
		t.Errorf("real options lost: %v", sub.Options)
	}
	hello := &wamp.Hello{Realm: "r", Details: wamp.Dict{"authid": nil, "roles": map[string]any{
		"callee": map[string]any{"features": map[string]any{"call_canceling": nil, "progressive_call_results": true}}}}}
	dropNullOptions(hello)
	features := hello.Details["roles"].(map[string]any)["callee"].(map[string]any)["features"].(map[string]any)
	if _, ok := hello.Details["authid"]; ok || features["call_canceling"] != nil || features["progressive_call_results"] != true {
		t.Errorf("hello details %v", hello.Details)
	}
	if _, ok := features["call_canceling"]; ok {
		t.Errorf("nested null kept: %v", features)
	}
}

// BenchmarkCheckNesting: the cost the walk adds to every inbound message,
// beside the decoding it protects (go test -bench CheckNesting ./transport).
func BenchmarkCheckNesting(b *testing.B) {
	for _, format := range []string{"json", "msgpack", "cbor"} {
		codec := itemCodecOf(format)
		for _, size := range []int{10, 1000} {
			args := make([]any, size)
			for i := range args {
				args[i] = map[string]any{"id": i, "name": "item", "tags": []any{"a", "b"}}
			}
			msg, err := codec.SerializeDataItem([]any{16, 1, map[string]any{"acknowledge": true}, "com.example.topic", args})
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/items=%d/walk", format, size), func(b *testing.B) {
				b.SetBytes(int64(len(msg)))
				for b.Loop() {
					if err := CheckNesting(format, msg, DefaultMaxNestingDepth, DefaultMaxMessageItems); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("%s/items=%d/decode", format, size), func(b *testing.B) {
				b.SetBytes(int64(len(msg)))
				for b.Loop() {
					var v any
					if err := codec.DeserializeDataItem(msg, &v); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
