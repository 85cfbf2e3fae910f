package transport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync/atomic"

	"github.com/gammazero/nexus/v3/transport/serialize"
	"github.com/gammazero/nexus/v3/wamp"
)

// itemCodec encodes and decodes single items of a serializer.
type itemCodec interface {
	SerializeDataItem(any) ([]byte, error)
	DeserializeDataItem([]byte, any) error
}

// itemCodecOf returns the item codec of format (json, msgpack or cbor).
func itemCodecOf(format string) itemCodec {
	switch format {
	case "msgpack":
		return &serialize.MessagePackSerializer{}
	case "cbor":
		return &serialize.CBORSerializer{}
	}
	return &serialize.JSONSerializer{}
}

// ErrPayloadSizeExceeded is the error URI of a message over the size limit
// (WAMP advanced profile, "Payload Passthru Mode"'s size error).
const ErrPayloadSizeExceeded wamp.URI = "wamp.error.payload_size_exceeded"

const (
	// tooBigPrefix is how much of an oversized message is kept to answer
	// it: its type, request ID and options.
	tooBigPrefix = 4096
	// discardFactor bounds how much of an oversized message is read (and
	// dropped) to keep the session: discardFactor x the size limit.
	// Beyond it the session ends.
	discardFactor = 16
)

// readLimit is a connection's bound on inbound messages: a smaller one
// while the session opens (a stranger's HELLO needs little room), then
// the session's.
type readLimit struct {
	session int
	opening atomic.Int64 // 0 once welcomed
}

// get returns the bound in force.
func (l *readLimit) get() int {
	if n := l.opening.Load(); n > 0 {
		return int(n)
	}
	return l.session
}

// open bounds the messages of the opening to n (if smaller).
func (l *readLimit) open(n int) {
	if n > 0 && n < l.session {
		l.opening.Store(int64(n))
	}
}

// welcome lifts the opening's bound.
func (l *readLimit) welcome() { l.opening.Store(0) }

// tooBigError is a client message over the size limit.
type tooBigError struct {
	size  int // bytes announced so far
	limit int
	// prefix is the message's first bytes (up to tooBigPrefix).
	prefix []byte
	// skipped: the rest was read and dropped, the connection is in step
	// and the session can go on. Otherwise it must end.
	skipped bool
	// items, when set, is the limit on values the message exceeded (its
	// size was fine).
	items int
}

func (e *tooBigError) Error() string {
	if e.items > 0 {
		return fmt.Sprintf("message holds more than %d values", e.items)
	}
	return fmt.Sprintf("message of %d bytes or more exceeds the limit of %d bytes", e.size, e.limit)
}

// discardLimit is the largest oversized message read to keep the session.
func discardLimit(limit int) int { return discardFactor * limit }

// keepPrefix reads n bytes of an oversized message's frame: the first go to
// e.prefix (unmasked with mask, when a WebSocket frame), the rest are
// dropped.
func (b *inBuffer) keepPrefix(e *tooBigError, n int, mask *[4]byte) error {
	take := min(n, tooBigPrefix-len(e.prefix))
	if take > 0 {
		start := len(e.prefix)
		e.prefix = append(e.prefix, make([]byte, take)...)
		if err := b.readInto(e.prefix[start:]); err != nil {
			return err
		}
		if mask != nil {
			unmask(*mask, e.prefix[start:])
		}
	}
	return b.discard(n - take)
}

// discard reads and drops n bytes.
func (b *inBuffer) discard(n int) error {
	for n > 0 {
		if b.r == b.w {
			if err := b.fill(1); err != nil {
				return err
			}
		}
		k := min(n, b.w-b.r)
		b.next(k)
		n -= k
	}
	return nil
}

// peekFields decodes the first elements (at most n) of a message from its
// first bytes: those that lie whole in prefix.
func peekFields(format string, prefix []byte, n int) []any {
	switch format {
	case "json":
		dec := json.NewDecoder(bytes.NewReader(prefix))
		dec.UseNumber()
		if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
			return nil
		}
		var out []any
		for len(out) < n && dec.More() {
			var v any
			if err := dec.Decode(&v); err != nil {
				break
			}
			out = append(out, v)
		}
		return out
	case "msgpack", "cbor":
		i := arrayHeaderLen(format, prefix)
		if i == 0 {
			return nil
		}
		walk, codec := walkMsgpack, itemCodecOf(format)
		if format == "cbor" {
			walk = walkCBOR
		}
		var out []any
		for len(out) < n && i < len(prefix) {
			end, err := walk(prefix[i:], DefaultMaxNestingDepth, 0)
			if err != nil {
				break
			}
			var v any
			if err := codec.DeserializeDataItem(prefix[i:i+end], &v); err != nil {
				break
			}
			out = append(out, v)
			i += end
		}
		return out
	}
	return nil
}

// arrayHeaderLen is the length of the array header that starts b, or 0.
func arrayHeaderLen(format string, b []byte) int {
	if len(b) == 0 {
		return 0
	}
	t := b[0]
	if format == "msgpack" {
		switch {
		case t >= 0x90 && t <= 0x9f:
			return 1
		case t == 0xdc:
			return 3
		case t == 0xdd:
			return 5
		}
		return 0
	}
	if t>>5 != 4 {
		return 0
	}
	switch info := t & 0x1f; {
	case info < 24, info == 31:
		return 1
	case info <= 27:
		return 1 + 1<<(info-24)
	}
	return 0
}

// asInt reads an integer field as the decoders produce it.
func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case int64:
		return n, true
	case uint64:
		return int64(n), n <= 1<<53
	case int:
		return int64(n), true
	}
	return 0, false
}

// oversizedRequest is what an oversized message asked, as far as its first
// bytes tell.
type oversizedRequest struct {
	typ     wamp.MessageType
	request wamp.ID
	// acknowledge: a PUBLISH that asked for PUBLISHED (and so an ERROR).
	acknowledge bool
	// invocation: a YIELD or ERROR answering INVOCATION request.
	invocation bool
}

// readOversized reads the type, request ID and options of an oversized
// message from its prefix; ok is false if they are not there.
func readOversized(format string, prefix []byte) (req oversizedRequest, ok bool) {
	f := peekFields(format, prefix, 3)
	if len(f) < 2 {
		return req, false
	}
	t, ok1 := asInt(f[0])
	second, ok2 := asInt(f[1])
	if !ok1 || !ok2 {
		return req, false
	}
	req.typ = wamp.MessageType(t)
	switch req.typ {
	case wamp.ERROR: // [ERROR, request type, request, ...]
		if len(f) < 3 || second != int64(wamp.INVOCATION) {
			return req, false
		}
		id, ok := asInt(f[2])
		req.request, req.invocation = wamp.ID(id), true
		return req, ok
	case wamp.YIELD:
		req.invocation = true
	case wamp.PUBLISH:
		if len(f) == 3 {
			req.acknowledge = optionTrue(f[2], "acknowledge")
		}
	}
	req.request = wamp.ID(second)
	return req, true
}

// optionTrue reports whether options (a decoded map) has key set to true.
func optionTrue(options any, key string) bool {
	switch m := options.(type) {
	case map[string]any:
		v, _ := m[key].(bool)
		return v
	case map[any]any:
		v, _ := m[key].(bool)
		return v
	}
	return false
}
