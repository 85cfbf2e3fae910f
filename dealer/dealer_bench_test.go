package dealer_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/dealer"
	"github.com/switchboard-wamp/switchboard/realms"
)

// mailbox is an in-memory Conn: it keeps what the dealer sends to a
// session until the benchmark loop takes it, as a client would read it.
// (A Conn must not call back into the dealer: the dealer sends under its
// call's lock.)
type mailbox struct {
	mu   sync.Mutex
	msgs []wamp.Message
	head int // msgs[head:] are not taken yet
}

func (m *mailbox) Send(msg wamp.Message) bool {
	m.mu.Lock()
	m.msgs = append(m.msgs, msg)
	m.mu.Unlock()
	return true
}

// take returns the oldest message, or nil.
func (m *mailbox) take() wamp.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.head == len(m.msgs) {
		return nil
	}
	msg := m.msgs[m.head]
	m.msgs[m.head] = nil
	if m.head++; m.head == len(m.msgs) {
		m.msgs, m.head = m.msgs[:0], 0 // reuse the array: the harness allocates nothing per call
	}
	return msg
}

// benchDealer returns a dealer with realm1, where role anonymous may call
// and register everything.
func benchDealer() *dealer.Dealer {
	authz := realms.NewAuthorizer([]realms.Role{{Name: "anonymous", Permissions: []realms.Permission{
		{URI: "", Match: realms.MatchPrefix, Allow: realms.Actions{Call: true, Register: true}},
	}}})
	return dealer.New([]dealer.Realm{{Name: "realm1", Authorizer: authz, MaxCallsPerSession: 1000}}, dealer.Options{})
}

// pair is a caller and a callee that registered procedure; both sessions
// send to one mailbox, so one goroutine plays both clients.
type pair struct {
	caller, callee *dealer.Session
	box            *mailbox
	call           *wamp.Call
	yield          *wamp.Yield
}

func newPair(d *dealer.Dealer, id wamp.ID, procedure string, match string) (*pair, error) {
	box := &mailbox{}
	join := func(id wamp.ID) *dealer.Session {
		return d.Join(box, "realm1", dealer.SessionInfo{ID: id, AuthID: fmt.Sprint(id), AuthRole: "anonymous"})
	}
	p := &pair{caller: join(id), callee: join(id + 1), box: box,
		call:  &wamp.Call{Options: wamp.Dict{}, Procedure: wamp.URI(procedure), Arguments: wamp.List{"payload", 42}},
		yield: &wamp.Yield{Options: wamp.Dict{}}}
	if p.caller == nil || p.callee == nil {
		return nil, fmt.Errorf("realm1 unknown to the dealer")
	}
	uri := procedure
	if match != "" {
		uri = procedure[:len(procedure)-len("echo")]
	}
	p.callee.Handle(&wamp.Register{Request: 1, Options: wamp.Dict{wamp.OptMatch: match}, Procedure: wamp.URI(uri)})
	if _, ok := box.take().(*wamp.Registered); !ok {
		return nil, fmt.Errorf("REGISTER %s (%q) not answered with REGISTERED", uri, match)
	}
	return p, nil
}

// mustPair is newPair for the benchmark's own goroutine.
func mustPair(b *testing.B, d *dealer.Dealer, procedure, match string) *pair {
	b.Helper()
	p, err := newPair(d, 1, procedure, match)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// roundTrip makes one call: CALL from the caller, the INVOCATION to the
// callee, its YIELD, the caller's RESULT.
func (p *pair) roundTrip() error {
	p.call.Request++
	if !p.caller.Handle(p.call) {
		return errors.New("CALL not taken by the dealer")
	}
	inv, ok := p.box.take().(*wamp.Invocation)
	if !ok {
		return fmt.Errorf("CALL %d: no INVOCATION", p.call.Request)
	}
	p.yield.Request, p.yield.Arguments = inv.Request, inv.Arguments
	p.callee.Handle(p.yield)
	res, ok := p.box.take().(*wamp.Result)
	if !ok || res.Request != p.call.Request || len(res.Arguments) != 2 {
		return fmt.Errorf("CALL %d: no RESULT with its arguments (got %v)", p.call.Request, res)
	}
	return nil
}

// BenchmarkCall is the dealer's call path on its own, with in-memory
// connections (no encoding, no sockets): CALL -> INVOCATION -> YIELD ->
// RESULT, one call at a time, allocations per call.
//
//	go test -run XXX -bench 'Call$' -benchmem -count 6 ./dealer | benchstat -
func BenchmarkCall(b *testing.B) {
	for _, bc := range []struct {
		name, match string
		options     wamp.Dict
	}{
		{"exact", "", wamp.Dict{}},
		{"prefix", realms.MatchPrefix, wamp.Dict{}},
		{"disclose", "", wamp.Dict{wamp.OptDiscloseMe: true}},
		{"timeout", "", wamp.Dict{wamp.OptTimeout: 60000}}, // a timer armed and stopped per call
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := mustPair(b, benchDealer(), "bench.proc.echo", bc.match)
			p.call.Options = bc.options
			b.ReportAllocs()
			for b.Loop() {
				if err := p.roundTrip(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCallInFlight: one caller keeps n calls in flight to one
// callee; each op answers the oldest call (YIELD, RESULT) and makes a new
// one (CALL, INVOCATION): the per-call cost with the sessions' books
// holding n calls. The harness reuses its messages: the allocations are
// the dealer's.
func BenchmarkCallInFlight(b *testing.B) {
	for _, n := range []int{16, 256} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			p := mustPair(b, benchDealer(), "bench.proc.echo", "")
			calls := make([]wamp.Call, n)
			yields := make([]wamp.Yield, n)
			invs := make([]*wamp.Invocation, n) // in flight, by slot
			next := wamp.ID(0)
			call := func(slot int) {
				next++
				c := &calls[slot]
				*c = wamp.Call{Request: next, Options: c.Options, Procedure: "bench.proc.echo", Arguments: c.Arguments}
				p.caller.Handle(c)
				inv, ok := p.box.take().(*wamp.Invocation)
				if !ok {
					b.Fatalf("CALL %d: no INVOCATION", next)
				}
				invs[slot] = inv
			}
			for i := range n {
				calls[i].Options, calls[i].Arguments = wamp.Dict{}, wamp.List{"payload", i}
				yields[i].Options = wamp.Dict{}
				call(i)
			}
			slot := 0
			b.ReportAllocs()
			for b.Loop() {
				y := &yields[slot]
				y.Request, y.Arguments = invs[slot].Request, invs[slot].Arguments
				p.callee.Handle(y)
				if res, ok := p.box.take().(*wamp.Result); !ok || res.Request != calls[slot].Request {
					b.Fatalf("YIELD %d: no RESULT for CALL %d", y.Request, calls[slot].Request)
				}
				call(slot)
				slot = (slot + 1) % n
			}
		})
	}
}

// BenchmarkCallParallel: callers on different sessions call at once, as
// their connections' reader goroutines do in the router; each goroutine
// has its own caller and callee (its own procedure) in the one realm.
// Nothing serializes a realm's calls: compare -cpu 1 and -cpu 2,
//
//	go test -run XXX -bench CallParallel -benchmem -cpu 1,2 -count 6 ./dealer | benchstat -col /cpu -
func BenchmarkCallParallel(b *testing.B) {
	d := benchDealer()
	var ids atomic.Uint64
	var calls atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		n := ids.Add(1)
		p, err := newPair(d, wamp.ID(2*n), fmt.Sprintf("bench.proc%d.echo", n), "")
		if err != nil {
			b.Error(err)
			return
		}
		local := int64(0)
		defer func() { calls.Add(local) }()
		for pb.Next() {
			if err := p.roundTrip(); err != nil {
				b.Error(err)
				return
			}
			local++
		}
	})
	if got := calls.Load(); got != int64(b.N) {
		b.Fatalf("%d calls answered of %d", got, b.N)
	}
}
