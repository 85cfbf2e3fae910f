package transport

import (
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/gammazero/nexus/v3/wamp"
)

// The JSON values of the hot messages (arguments, details, options) are
// read and written here without ugorji. Both sides keep to what they are
// sure of and give up otherwise (ok == false): the codec then hands the
// whole message to ugorji, so odd input is read, refused or written
// exactly as nexus's serializer does. What is read here is read as ugorji
// reads it (TestJSONValuesMatchUgorji, FuzzJSONCodec): an integer as
// uint64 (negative: int64), a number with a fraction or an exponent as
// float64, an object as map[string]any.

// maxFastJSONDepth bounds the nesting the reader recurses into; deeper
// input goes to ugorji (behind the transport's own nesting bound).
const maxFastJSONDepth = 32

// jsonReader reads JSON values from data, starting at pos.
type jsonReader struct {
	data []byte
	pos  int
}

func (r *jsonReader) skipSpace() {
	for r.pos < len(r.data) {
		switch r.data[r.pos] {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return
		}
	}
}

// atEnd reports whether only white space is left.
func (r *jsonReader) atEnd() bool {
	r.skipSpace()
	return r.pos == len(r.data)
}

// value reads one value.
func (r *jsonReader) value(depth int) (any, bool) {
	r.skipSpace()
	if r.pos >= len(r.data) || depth > maxFastJSONDepth {
		return nil, false
	}
	switch c := r.data[r.pos]; {
	case c == '"':
		s, ok := r.str()
		return s, ok
	case c == '[':
		return r.array(depth)
	case c == '{':
		return r.object(depth)
	case c == '-' || (c >= '0' && c <= '9'):
		return r.number()
	case c == 't':
		return true, r.literal("true")
	case c == 'f':
		return false, r.literal("false")
	case c == 'n':
		return nil, r.literal("null")
	}
	return nil, false
}

func (r *jsonReader) literal(word string) bool {
	end := r.pos + len(word)
	if end > len(r.data) || string(r.data[r.pos:end]) != word {
		return false
	}
	r.pos = end
	return end == len(r.data) || !isJSONWordByte(r.data[end])
}

func isJSONWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-' || c == '+'
}

// array reads [v, ...]; an empty one is an empty, non-nil list.
func (r *jsonReader) array(depth int) ([]any, bool) {
	r.pos++ // '['
	list := make([]any, 0, 4)
	r.skipSpace()
	if r.pos < len(r.data) && r.data[r.pos] == ']' {
		r.pos++
		return list, true
	}
	for {
		v, ok := r.value(depth + 1)
		if !ok {
			return nil, false
		}
		list = append(list, v)
		r.skipSpace()
		if r.pos >= len(r.data) {
			return nil, false
		}
		switch r.data[r.pos] {
		case ',':
			r.pos++
		case ']':
			r.pos++
			return list, true
		default:
			return nil, false
		}
	}
}

// object reads {"k": v, ...}; a repeated key is left to ugorji.
func (r *jsonReader) object(depth int) (map[string]any, bool) {
	r.pos++ // '{'
	m := make(map[string]any)
	r.skipSpace()
	if r.pos < len(r.data) && r.data[r.pos] == '}' {
		r.pos++
		return m, true
	}
	for {
		r.skipSpace()
		if r.pos >= len(r.data) || r.data[r.pos] != '"' {
			return nil, false
		}
		key, ok := r.str()
		if !ok {
			return nil, false
		}
		if _, repeated := m[key]; repeated { // ugorji decodes into the first value
			return nil, false
		}
		r.skipSpace()
		if r.pos >= len(r.data) || r.data[r.pos] != ':' {
			return nil, false
		}
		r.pos++
		v, ok := r.value(depth + 1)
		if !ok {
			return nil, false
		}
		m[key] = v
		r.skipSpace()
		if r.pos >= len(r.data) {
			return nil, false
		}
		switch r.data[r.pos] {
		case ',':
			r.pos++
		case '}':
			r.pos++
			return m, true
		default:
			return nil, false
		}
	}
}

// str reads a string. Bytes of 0x80 and above are kept as they are (as
// ugorji keeps them, valid UTF-8 or not); control characters and lone
// surrogates are left to ugorji.
func (r *jsonReader) str() (string, bool) {
	r.pos++ // '"'
	start := r.pos
	for r.pos < len(r.data) {
		switch c := r.data[r.pos]; {
		case c == '"':
			s := string(r.data[start:r.pos])
			r.pos++
			return s, true
		case c == '\\':
			return r.escapedStr(start)
		case c < 0x20:
			return "", false
		}
		r.pos++
	}
	return "", false
}

// escapedStr reads the rest of a string from its first backslash, at
// r.pos; the string began at start.
func (r *jsonReader) escapedStr(start int) (string, bool) {
	out := make([]byte, 0, r.pos-start+16)
	out = append(out, r.data[start:r.pos]...)
	for r.pos < len(r.data) {
		c := r.data[r.pos]
		switch {
		case c == '"':
			r.pos++
			return string(out), true
		case c < 0x20:
			return "", false
		case c != '\\':
			out = append(out, c)
			r.pos++
			continue
		}
		if r.pos+1 >= len(r.data) {
			return "", false
		}
		esc := r.data[r.pos+1]
		r.pos += 2
		switch esc {
		case '"', '\\', '/':
			out = append(out, esc)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			ru, ok := r.hex4()
			if !ok {
				return "", false
			}
			if ru >= 0xD800 && ru < 0xE000 { // a surrogate: only a high one followed by a low one
				if ru >= 0xDC00 || r.pos+1 >= len(r.data) || r.data[r.pos] != '\\' || r.data[r.pos+1] != 'u' {
					return "", false
				}
				r.pos += 2
				lo, ok := r.hex4()
				if !ok || lo < 0xDC00 || lo >= 0xE000 {
					return "", false
				}
				ru = 0x10000 + (ru-0xD800)<<10 + (lo - 0xDC00)
			}
			out = utf8.AppendRune(out, ru)
		default:
			return "", false
		}
	}
	return "", false
}

func (r *jsonReader) hex4() (rune, bool) {
	if r.pos+4 > len(r.data) {
		return 0, false
	}
	var n rune
	for _, c := range r.data[r.pos : r.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			n = n<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	r.pos += 4
	return n, true
}

// number reads a number in JSON's grammar: an integer as uint64 (negative:
// int64), one with a fraction or an exponent as float64. One out of range
// of its type is left to ugorji.
func (r *jsonReader) number() (any, bool) {
	start := r.pos
	neg := r.data[r.pos] == '-'
	if neg {
		r.pos++
	}
	intStart := r.pos
	for r.pos < len(r.data) && r.data[r.pos] >= '0' && r.data[r.pos] <= '9' {
		r.pos++
	}
	digits := r.pos - intStart
	if digits == 0 || (digits > 1 && r.data[intStart] == '0') {
		return nil, false
	}
	isFloat := false
	if r.pos < len(r.data) && r.data[r.pos] == '.' {
		isFloat = true
		r.pos++
		if !r.digits() {
			return nil, false
		}
	}
	if r.pos < len(r.data) && (r.data[r.pos] == 'e' || r.data[r.pos] == 'E') {
		isFloat = true
		r.pos++
		if r.pos < len(r.data) && (r.data[r.pos] == '+' || r.data[r.pos] == '-') {
			r.pos++
		}
		if !r.digits() {
			return nil, false
		}
	}
	if r.pos < len(r.data) && isJSONWordByte(r.data[r.pos]) {
		return nil, false
	}
	if isFloat {
		f, err := strconv.ParseFloat(string(r.data[start:r.pos]), 64)
		return f, err == nil
	}
	var u uint64
	for _, c := range r.data[intStart:r.pos] {
		d := uint64(c - '0')
		if u > (math.MaxUint64-d)/10 { // beyond 64 bits
			return nil, false
		}
		u = u*10 + d
	}
	if !neg {
		return u, true
	}
	if u > 1<<63 {
		return nil, false
	}
	return -int64(u), true //nolint:gosec // u <= 1<<63: -int64(1<<63) wraps to MinInt64, as intended
}

func (r *jsonReader) digits() bool {
	start := r.pos
	for r.pos < len(r.data) && r.data[r.pos] >= '0' && r.data[r.pos] <= '9' {
		r.pos++
	}
	return r.pos > start
}

// appendJSON writes v as ugorji's JSON encoder writes it, for the types
// the messages of the hot paths hold; any other type (ok == false) is
// left to ugorji.
func appendJSON(b []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), true
	case bool:
		return strconv.AppendBool(b, x), true
	case string:
		return appendJSONString(b, x), true
	case wamp.URI:
		return appendJSONString(b, string(x)), true
	case int:
		return strconv.AppendInt(b, int64(x), 10), true
	case int64:
		return strconv.AppendInt(b, x, 10), true
	case int32:
		return strconv.AppendInt(b, int64(x), 10), true
	case uint64:
		return strconv.AppendUint(b, x, 10), true
	case uint32:
		return strconv.AppendUint(b, uint64(x), 10), true
	case uint:
		return strconv.AppendUint(b, uint64(x), 10), true
	case wamp.ID:
		return strconv.AppendUint(b, uint64(x), 10), true
	case float64:
		return appendJSONFloat(b, x), true
	case []any:
		return appendJSONList(b, x)
	case wamp.List:
		return appendJSONList(b, x)
	case map[string]any:
		return appendJSONDict(b, x)
	case wamp.Dict:
		return appendJSONDict(b, x)
	}
	return b, false
}

func appendJSONList(b []byte, l []any) ([]byte, bool) {
	if l == nil {
		return append(b, "null"...), true
	}
	b = append(b, '[')
	for i, v := range l {
		if i > 0 {
			b = append(b, ',')
		}
		var ok bool
		if b, ok = appendJSON(b, v); !ok {
			return b, false
		}
	}
	return append(b, ']'), true
}

func appendJSONDict(b []byte, m map[string]any) ([]byte, bool) {
	if m == nil {
		return append(b, "null"...), true
	}
	b = append(b, '{')
	first := true
	for k, v := range m {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, k)
		b = append(b, ':')
		var ok bool
		if b, ok = appendJSON(b, v); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

// appendJSONFloat writes f as ugorji does: NaN and infinities as null,
// whole numbers below 2^52 with ".0", exponents only below 1e-6 and from 1e21.
func appendJSONFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	abs := math.Abs(f)
	switch {
	case abs < 1e-6 && abs != 0, abs >= 1e21:
		return strconv.AppendFloat(b, f, 'e', -1, 64)
	case abs == 0 || abs < 1<<52 && abs == math.Trunc(abs):
		return strconv.AppendFloat(b, f, 'f', 1, 64)
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

const lowerHex = "0123456789abcdef"

// appendJSONString writes s quoted as ugorji does: <, > and & escaped
// for HTML, control characters, U+2028 and U+2029 escaped, and each byte
// of invalid UTF-8 replaced by \uFFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\t':
				b = append(b, '\\', 't')
			case '\r':
				b = append(b, '\\', 'r')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', lowerHex[c>>4], lowerHex[c&0xF])
			}
			i++
			start = i
			continue
		}
		ru, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case ru == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\uFFFD`...)
		case ru == '\u2028' || ru == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', lowerHex[ru&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
