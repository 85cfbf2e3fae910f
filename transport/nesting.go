package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// DefaultMaxNestingDepth is how deeply containers may nest in a client's
// message when PeerOptions.MaxNestingDepth is not set.
const DefaultMaxNestingDepth = 64

// errTruncated reports a message that ends inside a value.
var errTruncated = errors.New("message ends inside a value")

// DefaultMaxMessageItems is how many values a client's message may hold
// when PeerOptions.MaxMessageItems is not set.
const DefaultMaxMessageItems = 100_000

// nestingError reports a message nested deeper than allowed.
type nestingError struct{ limit int }

func (e *nestingError) Error() string {
	return fmt.Sprintf("message nests deeper than %d levels", e.limit)
}

// itemsError reports a message with more values than allowed: decoding
// costs about 100 bytes per value, whatever the value (an empty map or a
// null takes one byte on the wire).
type itemsError struct{ limit int }

func (e *itemsError) Error() string {
	return fmt.Sprintf("message holds more than %d values", e.limit)
}

// CheckNesting walks an encoded message without decoding it and fails if
// arrays, maps (and, in CBOR, tags) nest deeper than limit, or if it holds
// more than maxItems values (0: any number). The decoders nexus uses recurse
// per level, and CBOR's counts no tags: a message of nested tags would
// exhaust the stack; and they spend about 100 bytes per value decoded. Each
// walk is iterative and linear in len(b); it also refuses container lengths
// that the bytes left cannot hold, so that no decoder allocates for elements
// that are not there.
func CheckNesting(format string, b []byte, limit, maxItems int) error {
	switch format {
	case "json":
		return checkJSONNesting(b, limit, maxItems)
	case "msgpack":
		_, err := walkMsgpack(b, limit, maxItems)
		return err
	case "cbor":
		_, err := walkCBOR(b, limit, maxItems)
		return err
	}
	return fmt.Errorf("no nesting check for serializer %q", format)
}

// checkJSONNesting counts brackets outside strings, and values (map keys
// included, as the binary walks count them): the first in each non-empty
// container and one after each ',' and ':'. The decoder checks the rest
// of the syntax.
func checkJSONNesting(b []byte, limit, maxItems int) error {
	depth, items := 0, 1
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			continue
		case '[', '{':
			depth++
			if depth > limit {
				return &nestingError{limit}
			}
			if !emptyContainer(b[i+1:]) {
				break // its first value counts here; the others at their separators
			}
			continue
		case ']', '}':
			depth--
			continue
		case ',', ':':
		default:
			continue
		}
		if items++; maxItems > 0 && items > maxItems {
			return &itemsError{maxItems}
		}
	}
	return nil
}

// emptyContainer reports whether b, what follows an opening bracket,
// closes it at once.
func emptyContainer(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case ']', '}':
			return true
		}
		return false
	}
	return true
}

// containerWalk tracks the open containers of a binary encoding: how many
// items each still expects (-1: until a break, CBOR's indefinite length).
type containerWalk struct {
	open  []int
	limit int
	// items counts the values begun, up to maxItems (0: any number).
	items, maxItems int
}

// item counts one more value.
func (w *containerWalk) item() error {
	if w.items++; w.maxItems > 0 && w.items > w.maxItems {
		return &itemsError{w.maxItems}
	}
	return nil
}

// enter opens a container of n items (or indefinite, n == -1); left is the
// number of bytes that follow its header.
func (w *containerWalk) enter(n uint64, left int) error {
	if len(w.open) >= w.limit {
		return &nestingError{w.limit} // an empty container is a level too
	}
	if n == 0 {
		w.done()
		return nil
	}
	if n != indefinite && n > uint64(left) {
		return errTruncated // every item takes at least one byte
	}
	if n == indefinite {
		w.open = append(w.open, -1)
	} else {
		w.open = append(w.open, int(n))
	}
	return nil
}

const indefinite = ^uint64(0)

// done counts one complete item in the innermost container, closing the
// containers that it completes.
func (w *containerWalk) done() {
	for len(w.open) > 0 {
		top := &w.open[len(w.open)-1]
		if *top < 0 {
			return
		}
		*top--
		if *top > 0 {
			return
		}
		w.open = w.open[:len(w.open)-1]
	}
}

// finished reports whether the top-level item is complete.
func (w *containerWalk) finished() bool { return len(w.open) == 0 }

// walkMsgpack walks MessagePack's type bytes of the item that starts b and
// returns where it ends.
func walkMsgpack(b []byte, limit, maxItems int) (int, error) {
	w := containerWalk{limit: limit, maxItems: maxItems}
	i := 0
	for {
		if i >= len(b) {
			return 0, errTruncated
		}
		if err := w.item(); err != nil {
			return 0, err
		}
		t := b[i]
		i++
		var skip, count uint64
		var container bool
		switch {
		case t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3:
		case t >= 0x80 && t <= 0x8f:
			container, count = true, 2*uint64(t&0x0f)
		case t >= 0x90 && t <= 0x9f:
			container, count = true, uint64(t&0x0f)
		case t >= 0xa0 && t <= 0xbf:
			skip = uint64(t & 0x1f)
		case t == 0xc1:
			return 0, errors.New("msgpack: reserved type byte 0xc1")
		default:
			n, sizeBytes, extra, kind := msgpackSized(t)
			if sizeBytes > 0 {
				if len(b)-i < sizeBytes {
					return 0, errTruncated
				}
				n = readBigEndian(b[i : i+sizeBytes])
				i += sizeBytes
			}
			switch kind {
			case 'a':
				container, count = true, n
			case 'm':
				container, count = true, 2*n
			default:
				skip = n + extra
			}
		}
		if skip > uint64(len(b)-i) {
			return 0, errTruncated
		}
		i += int(skip)
		if container {
			if err := w.enter(count, len(b)-i); err != nil {
				return 0, err
			}
		} else {
			w.done()
		}
		if w.finished() {
			return i, nil
		}
	}
}

// msgpackSized describes the type bytes 0xc4..0xdf: a fixed payload n, or
// a big-endian length of sizeBytes; extra bytes (an ext's type) follow the
// length; kind is 'a' (array), 'm' (map) or 's' (skipped bytes).
func msgpackSized(t byte) (n uint64, sizeBytes int, extra uint64, kind byte) {
	switch t {
	case 0xc4, 0xd9: // bin8, str8
		return 0, 1, 0, 's'
	case 0xc5, 0xda: // bin16, str16
		return 0, 2, 0, 's'
	case 0xc6, 0xdb: // bin32, str32
		return 0, 4, 0, 's'
	case 0xc7: // ext8
		return 0, 1, 1, 's'
	case 0xc8:
		return 0, 2, 1, 's'
	case 0xc9:
		return 0, 4, 1, 's'
	case 0xca: // float32
		return 4, 0, 0, 's'
	case 0xcb: // float64
		return 8, 0, 0, 's'
	case 0xcc, 0xd0:
		return 1, 0, 0, 's'
	case 0xcd, 0xd1:
		return 2, 0, 0, 's'
	case 0xce, 0xd2:
		return 4, 0, 0, 's'
	case 0xcf, 0xd3:
		return 8, 0, 0, 's'
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16 (+ type byte)
		return 1<<(t-0xd4) + 1, 0, 0, 's'
	case 0xdc:
		return 0, 2, 0, 'a'
	case 0xdd:
		return 0, 4, 0, 'a'
	case 0xde:
		return 0, 2, 0, 'm'
	default: // 0xdf
		return 0, 4, 0, 'm'
	}
}

func readBigEndian(b []byte) uint64 {
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(b))
	case 4:
		return uint64(binary.BigEndian.Uint32(b))
	default:
		return binary.BigEndian.Uint64(b)
	}
}

// walkCBOR walks CBOR's initial bytes (RFC 8949) of the item that starts b
// and returns where it ends. A tag counts as a level: it wraps the one item
// that follows. So does an indefinite-length string, which holds its chunks
// until a break.
func walkCBOR(b []byte, limit, maxItems int) (int, error) {
	w := containerWalk{limit: limit, maxItems: maxItems}
	i := 0
	for {
		if i >= len(b) {
			return 0, errTruncated
		}
		if err := w.item(); err != nil {
			return 0, err
		}
		major, info := b[i]>>5, b[i]&0x1f
		i++
		var arg uint64
		switch {
		case info < 24:
			arg = uint64(info)
		case info <= 27:
			size := 1 << (info - 24)
			if len(b)-i < size {
				return 0, errTruncated
			}
			arg = readBigEndian(b[i : i+size])
			i += size
		case info == 31:
			arg = indefinite
		default:
			return 0, fmt.Errorf("cbor: reserved additional information %d", info)
		}
		left := len(b) - i
		switch major {
		case 0, 1: // integers
			if arg == indefinite {
				return 0, errors.New("cbor: indefinite-length integer")
			}
			w.done()
		case 2, 3: // byte and text strings
			if arg == indefinite {
				if err := w.enter(indefinite, left); err != nil {
					return 0, err
				}
				continue
			}
			if arg > uint64(left) {
				return 0, errTruncated
			}
			i += int(arg)
			w.done()
		case 4, 5: // arrays, maps
			n := arg
			if major == 5 && n != indefinite {
				if n > uint64(left) {
					return 0, errTruncated
				}
				n *= 2
			}
			if err := w.enter(n, left); err != nil {
				return 0, err
			}
		case 6: // tag: one item follows
			if arg == indefinite {
				return 0, errors.New("cbor: indefinite tag")
			}
			if err := w.enter(1, left); err != nil {
				return 0, err
			}
		case 7: // simple values, floats, break
			if arg != indefinite {
				w.done()
				break
			}
			if len(w.open) == 0 || w.open[len(w.open)-1] >= 0 {
				return 0, errors.New("cbor: break outside an indefinite-length item")
			}
			w.open = w.open[:len(w.open)-1]
			w.done()
		}
		if w.finished() {
			return i, nil
		}
	}
}
