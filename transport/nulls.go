package transport

import (
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/ugorji/go/codec"
)

// dropNullOptions removes the options and details whose value is null from
// a client's message, so that every reader of options (broker, dealer,
// authenticators, limits) sees an absent key: WAMP gives null no meaning,
// and clients such as wampy.js send unset options as null over MessagePack
// and CBOR ({match: undefined} becomes {"match": nil}; msgpackr, which
// wampy.js uses, encodes undefined as the extension type 0 with the single
// byte 0, which counts as null too). HELLO's details are
// cleaned at every depth (roles and their features); other messages' at
// the top, where options live.
func dropNullOptions(msg wamp.Message) {
	switch m := msg.(type) {
	case *wamp.Hello:
		dropNulls(m.Details, true)
	case *wamp.Authenticate:
		dropNulls(m.Extra, false)
	case *wamp.Subscribe:
		dropNulls(m.Options, false)
	case *wamp.Publish:
		dropNulls(m.Options, false)
	case *wamp.Call:
		dropNulls(m.Options, false)
	case *wamp.Cancel:
		dropNulls(m.Options, false)
	case *wamp.Register:
		dropNulls(m.Options, false)
	case *wamp.Yield:
		dropNulls(m.Options, false)
	case *wamp.Error:
		dropNulls(m.Details, false)
	case *wamp.Goodbye:
		dropNulls(m.Details, false)
	case *wamp.Abort:
		dropNulls(m.Details, false)
	}
}

func dropNulls(d map[string]any, deep bool) {
	for k, v := range d {
		if v == nil || isUndefined(v) {
			delete(d, k)
			continue
		}
		if !deep {
			continue
		}
		switch child := v.(type) {
		case wamp.Dict:
			dropNulls(child, true)
		case map[string]any:
			dropNulls(child, true)
		}
	}
}

// isUndefined reports whether v is MessagePack's "undefined" as msgpackr
// encodes it (fixext 1, type 0, data 0), which the decoder hands over as a
// raw extension.
func isUndefined(v any) bool {
	ext, ok := v.(codec.RawExt)
	if !ok {
		if p, isPtr := v.(*codec.RawExt); isPtr && p != nil {
			ext, ok = *p, true
		}
	}
	return ok && ext.Tag == 0 && len(ext.Data) == 1 && ext.Data[0] == 0
}
