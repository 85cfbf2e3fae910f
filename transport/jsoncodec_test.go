package transport

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/gammazero/nexus/v3/transport/serialize"
	"github.com/gammazero/nexus/v3/wamp"
)

func randomJSONValue(r *rand.Rand, depth int) any {
	switch k := r.IntN(9); {
	case k == 0:
		return nil
	case k == 1:
		return r.IntN(2) == 0
	case k == 2:
		return int64(r.IntN(2000) - 1000)
	case k == 3:
		return r.Float64() * 1e6
	case k == 4:
		return []string{"", "a", "é \"q\" \\ \n", "\u2028", strings.Repeat("x", 40)}[r.IntN(5)]
	case k <= 6 && depth < 3:
		l := make([]any, r.IntN(4))
		for i := range l {
			l[i] = randomJSONValue(r, depth+1)
		}
		return l
	case depth < 3:
		m := map[string]any{}
		for i := range r.IntN(4) {
			m[string(rune('a'+i))] = randomJSONValue(r, depth+1)
		}
		return m
	}
	return "leaf"
}

func randomArgs(r *rand.Rand) (wamp.List, wamp.Dict) {
	var args wamp.List
	var kwargs wamp.Dict
	if r.IntN(3) > 0 {
		args = wamp.List{}
		for range r.IntN(4) {
			args = append(args, randomJSONValue(r, 1))
		}
	}
	if r.IntN(3) == 0 {
		kwargs = wamp.Dict{}
		for i := range r.IntN(3) {
			kwargs[string(rune('k'+i))] = randomJSONValue(r, 1)
		}
	}
	return args, kwargs
}

func randomDict(r *rand.Rand) wamp.Dict {
	d := wamp.Dict{}
	for i := range r.IntN(3) {
		d[[]string{"progress", "topic", "caller", "x_y"}[i]] = randomJSONValue(r, 2)
	}
	return d
}

// TestJSONCodecMatchesNexus: the fast paths give the bytes nexus's JSON
// serializer gives, and decode what it encodes to the same messages.
func TestJSONCodecMatchesNexus(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	ours, theirs := newJSONCodec(), &serialize.JSONSerializer{}
	id := func() wamp.ID { return wamp.ID(r.Uint64N(1 << 53)) }
	for range 5000 {
		args, kwargs := randomArgs(r)
		for _, msg := range []wamp.Message{
			&wamp.Event{Subscription: id(), Publication: id(), Details: randomDict(r), Arguments: args, ArgumentsKw: kwargs},
			&wamp.Result{Request: id(), Details: randomDict(r), Arguments: args, ArgumentsKw: kwargs},
			&wamp.Invocation{Request: id(), Registration: id(), Details: randomDict(r), Arguments: args, ArgumentsKw: kwargs},
			&wamp.Publish{Request: id(), Options: randomDict(r), Topic: "a.b", Arguments: args, ArgumentsKw: kwargs},
			&wamp.Call{Request: id(), Options: randomDict(r), Procedure: "p.q", Arguments: args, ArgumentsKw: kwargs},
			&wamp.Yield{Request: id(), Options: randomDict(r), Arguments: args, ArgumentsKw: kwargs},
			&wamp.Subscribe{Request: id(), Options: randomDict(r), Topic: "a"},
			&wamp.Subscribed{Request: id(), Subscription: id()},
			&wamp.Published{Request: id(), Publication: id()},
		} {
			got, err1 := ours.Serialize(msg)
			want, err2 := theirs.Serialize(msg)
			// Maps are written in Go's iteration order by both: compare
			// what the bytes say.
			if err1 != nil || err2 != nil || !sameJSON(t, got, want) {
				t.Fatalf("%s: encoded %s (%v), nexus %s (%v)", msg.MessageType(), got, err1, want, err2)
			}
			back, err1 := ours.Deserialize(want)
			wantBack, err2 := theirs.Deserialize(want)
			if (err1 == nil) != (err2 == nil) || !reflect.DeepEqual(back, wantBack) {
				t.Fatalf("%s: decoded %#v (%v), nexus %#v (%v) from %s", msg.MessageType(), back, err1, wantBack, err2, want)
			}
		}
	}
}

// oddJSONInputs are malformed and unusual messages of the fast paths.
var oddJSONInputs = []string{
	`[48,1,{},"p"]`, ` [ 48 ,1,{},"p",[1],{"a":1}]`, `[48,1,null,"p",null,null]`, `[48,-1,{},"p"]`, `[48,1.5,{},"p"]`,
	`[48,1,{},"p",[],{},"extra"]`, `[48]`, `[48,"x",{},"p"]`, `[48,1,[],"p"]`, `[48,1,{},"p",{}]`, `[48,1,{},"p",[],[]]`,
	`[70,2,{},[1,2]]`, `[70,2]`, `[16,3,{"acknowledge":true},"t",["x"]]`, `[16,3,{},true]`, `[48,1,{}`, `[]`, `x`,
	`[48,1,{},"p",[1e400]]`, `[48,1,{},65]`, `[16,1,{},-3,[]]`, `[48,1,{},4294967296]`,
}

// TestJSONCodecOddInput: oddJSONInputs are refused or read as nexus reads
// them.
func TestJSONCodecOddInput(t *testing.T) {
	ours, theirs := newJSONCodec(), &serialize.JSONSerializer{}
	for _, in := range oddJSONInputs {
		got, err1 := ours.Deserialize([]byte(in))
		want, err2 := theirs.Deserialize([]byte(in))
		if (err1 == nil) != (err2 == nil) || (err1 == nil && !reflect.DeepEqual(got, want)) {
			t.Errorf("%s: ours %#v (%v), nexus %#v (%v)", in, got, err1, want, err2)
		}
	}
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	da, db := json.NewDecoder(bytes.NewReader(a)), json.NewDecoder(bytes.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	if err := da.Decode(&va); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := db.Decode(&vb); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

// FuzzJSONCodec: for any input the router would decode (within its nesting
// bounds), the codec refuses it or reads it exactly as nexus's serializer.
func FuzzJSONCodec(f *testing.F) {
	for _, in := range oddJSONInputs {
		f.Add([]byte(in))
	}
	ours, theirs := newJSONCodec(), &serialize.JSONSerializer{}
	f.Fuzz(func(t *testing.T, data []byte) {
		if CheckNesting("json", data, DefaultMaxNestingDepth, 10000) != nil {
			return
		}
		got, err1 := ours.Deserialize(data)
		want, err2 := theirs.Deserialize(data)
		if (err1 == nil) != (err2 == nil) || (err1 == nil && !reflect.DeepEqual(got, want)) {
			t.Fatalf("%q: ours %#v (%v), nexus %#v (%v)", data, got, err1, want, err2)
		}
	})
}
