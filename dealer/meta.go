package dealer

import (
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/realms"
)

// metaCall answers a CALL to a wamp.registration.* procedure (the caller's
// permission is checked already).
func (s *Session) metaCall(m *wamp.Call) {
	r := s.r
	result := func(arg any) {
		s.send(&wamp.Result{Request: m.Request, Details: wamp.Dict{}, Arguments: wamp.List{arg}})
	}
	fail := func(uri wamp.URI, format string, args ...any) {
		s.d.obs.CallRefused(r.name, uri)
		s.replyError(wamp.CALL, m.Request, uri, format, args...)
	}
	argString := func() (string, bool) {
		if len(m.Arguments) == 0 {
			return "", false
		}
		return wamp.AsString(m.Arguments[0])
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	switch m.Procedure {
	case wamp.MetaProcRegList:
		ids := func(table map[string]*registration) []wamp.ID {
			out := make([]wamp.ID, 0, len(table))
			for _, reg := range table {
				out = append(out, reg.id)
			}
			return out
		}
		result(wamp.Dict{realms.MatchExact: ids(r.exact), realms.MatchPrefix: ids(r.prefix), realms.MatchWildcard: ids(r.wildcard)})
	case wamp.MetaProcRegLookup:
		uri, ok := argString()
		if !ok {
			fail(wamp.ErrInvalidArgument, "lookup: want a procedure URI argument")
			return
		}
		match := realms.MatchExact
		if len(m.Arguments) > 1 {
			if opts, ok := wamp.AsDict(m.Arguments[1]); ok {
				if v, ok := wamp.AsString(opts[wamp.OptMatch]); ok {
					match = v
				}
			}
		}
		if reg, ok := r.table(match)[uri]; ok {
			result(reg.id)
		} else {
			result(nil)
		}
	case wamp.MetaProcRegMatch:
		uri, ok := argString()
		if !ok {
			fail(wamp.ErrInvalidArgument, "match: want a procedure URI argument")
			return
		}
		if reg := r.best(uri); reg != nil {
			result(reg.id)
		} else {
			result(nil)
		}
	case wamp.MetaProcRegGet, wamp.MetaProcRegListCallees, wamp.MetaProcRegCountCallees:
		var id wamp.ID
		ok := len(m.Arguments) > 0
		if ok {
			id, ok = wamp.AsID(m.Arguments[0])
		}
		if !ok {
			fail(wamp.ErrInvalidArgument, "want a registration ID argument")
			return
		}
		reg, ok := r.byID[id]
		if !ok {
			fail(wamp.ErrNoSuchRegistration, "no registration %d", id)
			return
		}
		switch m.Procedure {
		case wamp.MetaProcRegGet:
			result(reg.details())
		case wamp.MetaProcRegListCallees:
			ids := make([]wamp.ID, len(reg.callees))
			for i, c := range reg.callees {
				ids[i] = c.info.ID
			}
			result(ids)
		default:
			result(len(reg.callees))
		}
	default:
		fail(wamp.ErrNoSuchProcedure, "no procedure %q", string(m.Procedure))
	}
}
