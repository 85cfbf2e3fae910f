package router_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// metaWatcher is a session subscribed to the registration meta events.
type metaWatcher struct {
	*wire
	topics map[wamp.ID]string // subscription -> the event's name (on_create, ...)
}

func watchRegistrations(t *testing.T, srv *routertest.Server, c combo, events ...string) *metaWatcher {
	t.Helper()
	w := &metaWatcher{wire: dialWire(t, srv, c.listener, c.ser, wireHello{}), topics: map[wamp.ID]string{}}
	for _, e := range events {
		w.topics[w.subscribe("wamp.registration."+e, nil)] = e
	}
	return w
}

// next returns the next event's name and arguments.
func (w *metaWatcher) next(what string) (string, wamp.List) {
	w.t.Helper()
	ev := expectMsg[*wamp.Event](w.wire, what)
	return w.topics[ev.Subscription], ev.Arguments
}

// expect reads the next event and fails unless it is name with session
// and registration as arguments.
func (w *metaWatcher) expect(name string, session, reg wamp.ID) {
	w.t.Helper()
	got, args := w.next(name)
	if got != name || len(args) != 2 || asID(args[0]) != session || asID(args[1]) != reg {
		w.t.Fatalf("got %s %v, want %s [%d %d]", got, args, name, session, reg)
	}
}

// idSet reads a list of IDs, sorted.
func idSet(v any) []wamp.ID {
	l, _ := wamp.AsList(v)
	ids := make([]wamp.ID, 0, len(l))
	for _, e := range l {
		ids = append(ids, asID(e))
	}
	slices.Sort(ids)
	return ids
}

func sortedIDs(ids ...wamp.ID) []wamp.ID {
	slices.Sort(ids)
	return ids
}

// TestDealerRegistrationMeta: the registration meta procedures answer as
// the spec spells them (unknown -> null, or no_such_registration for an
// ID), and the meta events come in order: on_create, on_register,
// on_unregister, on_delete for one register/unregister cycle, and only
// on_register/on_unregister for a callee joining or leaving a shared
// registration that others keep.
func TestDealerRegistrationMeta(t *testing.T) {
	t.Parallel()
	for _, c := range combos() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := routertest.Start(t, nil) // its own, for exact lists
			watcher := watchRegistrations(t, srv, c, "on_create", "on_register", "on_unregister", "on_delete")
			a := dialWire(t, srv, c.listener, c.ser, wireHello{})
			b := dialWire(t, srv, c.listener, c.ser, wireHello{})
			meta := dialWire(t, srv, c.listener, c.ser, wireHello{})
			ask := func(proc string, args ...any) any {
				t.Helper()
				r := meta.callResult(proc, nil, args, nil)
				if len(r.Arguments) != 1 {
					t.Fatalf("%s%v answered %v, want one result", proc, args, r.Arguments)
				}
				return r.Arguments[0]
			}
			askID := func(proc string, args ...any) wamp.ID {
				t.Helper()
				v := ask(proc, args...)
				id, ok := wamp.AsID(v)
				if !ok {
					t.Fatalf("%s%v = %v, want an ID", proc, args, v)
				}
				return id
			}
			askNull := func(proc string, args ...any) {
				t.Helper()
				if v := ask(proc, args...); v != nil {
					t.Fatalf("%s%v = %v, want null", proc, args, v)
				}
			}

			// One cycle.
			cycle := a.register("com.meta.cycle", nil)
			name, args := watcher.next("on_create")
			if name != "on_create" || len(args) != 2 || asID(args[0]) != a.id {
				t.Fatalf("got %s %v, want on_create [%d {...}]", name, args, a.id)
			}
			details, _ := wamp.AsDict(args[1])
			if asID(details["id"]) != cycle || details["uri"] != "com.meta.cycle" || details["match"] != "exact" || details["invoke"] != "single" {
				t.Fatalf("on_create details %v", details)
			}
			watcher.expect("on_register", a.id, cycle)
			a.unregister(cycle)
			watcher.expect("on_unregister", a.id, cycle)
			watcher.expect("on_delete", a.id, cycle)
			watcher.sync("after one cycle")
			askNull("wamp.registration.lookup", "com.meta.cycle")

			// A registration of each kind, one shared by two callees.
			exact := a.register("com.meta.exact", nil)
			prefix := a.register("com.meta.", wamp.Dict{"match": "prefix"})
			wild := a.register("com.wild..x", wamp.Dict{"match": "wildcard"})
			shared := a.register("com.meta.shared", wamp.Dict{"invoke": "roundrobin"})
			for _, id := range []wamp.ID{exact, prefix, wild, shared} {
				if name, args := watcher.next("on_create"); name != "on_create" || asID(args[0]) != a.id {
					t.Fatalf("got %s %v, want on_create by %d", name, args, a.id)
				}
				watcher.expect("on_register", a.id, id)
			}
			if again := b.register("com.meta.shared", wamp.Dict{"invoke": "roundrobin"}); again != shared {
				t.Fatalf("joining the shared registration: %d, want %d", again, shared)
			}
			watcher.expect("on_register", b.id, shared) // no on_create

			list, _ := wamp.AsDict(ask("wamp.registration.list"))
			for kind, want := range map[string][]wamp.ID{"exact": sortedIDs(exact, shared), "prefix": {prefix}, "wildcard": {wild}} {
				if got := idSet(list[kind]); !slices.Equal(got, want) {
					t.Fatalf("wamp.registration.list %s = %v, want %v (all: %v)", kind, got, want, list)
				}
			}

			for _, q := range []struct {
				args []any
				want wamp.ID // 0: null
			}{
				{[]any{"com.meta.exact"}, exact},
				{[]any{"com.meta.exact", wamp.Dict{"match": "exact"}}, exact},
				{[]any{"com.meta.", wamp.Dict{"match": "prefix"}}, prefix},
				{[]any{"com.wild..x", wamp.Dict{"match": "wildcard"}}, wild},
				{[]any{"com.meta."}, 0},
				{[]any{"com.meta.exact", wamp.Dict{"match": "prefix"}}, 0},
				{[]any{"com.wild.y.x", wamp.Dict{"match": "wildcard"}}, 0},
				{[]any{"com.nothing"}, 0},
			} {
				if q.want == 0 {
					askNull("wamp.registration.lookup", q.args...)
				} else if got := askID("wamp.registration.lookup", q.args...); got != q.want {
					t.Fatalf("wamp.registration.lookup%v = %d, want %d", q.args, got, q.want)
				}
			}
			for uri, want := range map[string]wamp.ID{"com.meta.exact": exact, "com.meta.other": prefix, "com.meta.shared": shared, "com.wild.y.x": wild, "com.nothing": 0} {
				if want == 0 {
					askNull("wamp.registration.match", uri)
				} else if got := askID("wamp.registration.match", uri); got != want {
					t.Fatalf("wamp.registration.match(%s) = %d, want %d", uri, got, want)
				}
			}

			for _, g := range []struct {
				id                 wamp.ID
				uri, match, invoke string
			}{
				{exact, "com.meta.exact", "exact", "single"},
				{prefix, "com.meta.", "prefix", "single"},
				{wild, "com.wild..x", "wildcard", "single"},
				{shared, "com.meta.shared", "exact", "roundrobin"},
			} {
				d, _ := wamp.AsDict(ask("wamp.registration.get", g.id))
				if asID(d["id"]) != g.id || d["uri"] != g.uri || d["match"] != g.match || d["invoke"] != g.invoke {
					t.Fatalf("wamp.registration.get(%d) = %v, want uri %s match %s invoke %s", g.id, d, g.uri, g.match, g.invoke)
				}
				created, _ := d["created"].(string)
				if at, err := time.Parse(time.RFC3339, created); err != nil || time.Since(at).Abs() > time.Hour {
					t.Fatalf("wamp.registration.get(%d).created = %q (%v), want an ISO 8601 time of now", g.id, created, err)
				}
			}
			if got := idSet(ask("wamp.registration.list_callees", shared)); !slices.Equal(got, sortedIDs(a.id, b.id)) {
				t.Fatalf("list_callees(shared) = %v, want %v", got, sortedIDs(a.id, b.id))
			}
			if got := idSet(ask("wamp.registration.list_callees", exact)); !slices.Equal(got, []wamp.ID{a.id}) {
				t.Fatalf("list_callees(exact) = %v, want [%d]", got, a.id)
			}
			if n := asInt(ask("wamp.registration.count_callees", shared)); n != 2 {
				t.Fatalf("count_callees(shared) = %d, want 2", n)
			}
			for _, proc := range []string{"wamp.registration.get", "wamp.registration.list_callees", "wamp.registration.count_callees"} {
				meta.callError(proc, nil, wamp.List{12345}, wamp.ErrNoSuchRegistration, proc+" of an unknown ID")
			}

			// Leaving the shared registration: on_unregister, and on_delete
			// only with the last callee.
			b.unregister(shared)
			watcher.expect("on_unregister", b.id, shared)
			if n := asInt(ask("wamp.registration.count_callees", shared)); n != 1 {
				t.Fatalf("count_callees(shared) = %d after one left, want 1", n)
			}
			a.unregister(shared)
			watcher.expect("on_unregister", a.id, shared)
			watcher.expect("on_delete", a.id, shared)
			watcher.sync("after the shared registration is gone")
			meta.callError("wamp.registration.get", nil, wamp.List{shared}, wamp.ErrNoSuchRegistration, "get of a deleted registration")
		})
	}
}

// TestDealerCalleeLeaves: a callee that closes its connection with calls
// pending: every caller gets ERROR wamp.error.canceled with kwargs reason
// callee_lost; its single registration is gone (no_such_procedure, with
// on_unregister and on_delete), its place in a shared one too (on_unregister
// only: the other callee serves on).
func TestDealerCalleeLeaves(t *testing.T) {
	t.Parallel()
	for i, c := range combos() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := routertest.Start(t, nil) // its own: meta events are realm-wide
			proc := fmt.Sprintf("com.dealer.leave.%d", i)
			watcher := watchRegistrations(t, srv, c, "on_unregister", "on_delete")
			callee := dialWire(t, srv, c.listener, c.ser, wireHello{})
			other := dialWire(t, srv, c.listener, c.ser, wireHello{})
			single := callee.register(proc, nil)
			shared := callee.register(proc+".shared", wamp.Dict{"invoke": "first"})
			other.register(proc+".shared", wamp.Dict{"invoke": "first"})

			callers := []*wire{dialWire(t, srv, c.listener, c.ser, wireHello{}), dialWire(t, srv, c.listener, c.ser, wireHello{})}
			reqs := []wamp.ID{callers[0].call(proc, nil, nil, nil), callers[1].call(proc+".shared", nil, nil, nil)}
			expectMsg[*wamp.Invocation](callee, "1st pending call")
			expectMsg[*wamp.Invocation](callee, "2nd pending call")
			callee.close()
			for j, caller := range callers {
				e := caller.expectError(wamp.CALL, reqs[j], wamp.ErrCanceled, "a call pending when its callee left")
				if e.ArgumentsKw["reason"] != "callee_lost" {
					t.Fatalf("ERROR kwargs %v, want reason callee_lost", e.ArgumentsKw)
				}
			}
			callers[0].callError(proc, nil, nil, wamp.ErrNoSuchProcedure, "the callee's procedure after it left")
			req := callers[1].call(proc+".shared", nil, nil, nil)
			inv := expectMsg[*wamp.Invocation](other, "the shared procedure after one callee left")
			other.yield(inv.Request, nil, wamp.List{"other"}, nil)
			callers[1].expectResult(req, "the shared procedure after one callee left")

			seen := map[string]bool{}
			for range 3 {
				name, args := watcher.next("the leaving callee's meta events")
				key := fmt.Sprintf("%s %d", name, asID(args[1]))
				if len(args) != 2 || asID(args[0]) != callee.id || seen[key] {
					t.Fatalf("meta event %s %v (seen %v)", name, args, seen)
				}
				if name == "on_delete" && !seen[fmt.Sprintf("on_unregister %d", asID(args[1]))] {
					t.Fatalf("on_delete %v before its on_unregister", args)
				}
				seen[key] = true
			}
			for _, want := range []string{fmt.Sprintf("on_unregister %d", single), fmt.Sprintf("on_delete %d", single), fmt.Sprintf("on_unregister %d", shared)} {
				if !seen[want] {
					t.Fatalf("meta events %v lack %s", seen, want)
				}
			}
			watcher.sync("no on_delete for the shared registration")
		})
	}
}

// TestDealerCallerLeaves: a caller that closes its connection with calls
// pending: a callee announcing call_canceling gets INTERRUPT (mode
// killnowait), one without does not; both serve the next caller, and
// their late answers go nowhere.
func TestDealerCallerLeaves(t *testing.T) {
	t.Parallel()
	for i, c := range combos() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := routertest.Start(t, nil) // its own, for the call counts
			canceling := dialWire(t, srv, c.listener, c.ser, wireHello{callee: []string{"call_canceling"}})
			plain := dialWire(t, srv, c.listener, c.ser, wireHello{})
			proc := fmt.Sprintf("com.dealer.callerleaves.%d", i)
			canceling.register(proc+".canceling", nil)
			plain.register(proc+".plain", nil)

			caller := dialWire(t, srv, c.listener, c.ser, wireHello{})
			caller.call(proc+".canceling", nil, nil, nil)
			caller.call(proc+".plain", nil, nil, nil)
			invC := expectMsg[*wamp.Invocation](canceling, "invocation")
			invP := expectMsg[*wamp.Invocation](plain, "invocation")
			caller.close()
			if intr := expectMsg[*wamp.Interrupt](canceling, "the caller left"); intr.Request != invC.Request || intr.Options["mode"] != wamp.CancelModeKillNoWait {
				t.Fatalf("INTERRUPT %d %v, want %d mode killnowait", intr.Request, intr.Options, invC.Request)
			}
			// Both calls have ended (counted) before the plain callee is
			// checked for an INTERRUPT.
			waitFor(t, "both calls to end as caller_lost", func() bool {
				families, _ := scrape(t, srv)
				return value(families, "switchboard_dealer_calls_total", map[string]string{"outcome": "caller_lost"}) == 2
			})
			plain.sync("no INTERRUPT for a callee without call_canceling")

			next := dialWire(t, srv, c.listener, c.ser, wireHello{})
			for _, w := range []struct {
				callee *wire
				proc   string
				late   wamp.ID
			}{{canceling, proc + ".canceling", invC.Request}, {plain, proc + ".plain", invP.Request}} {
				w.callee.yield(w.late, nil, wamp.List{"late"}, nil)
				req := next.call(w.proc, nil, wamp.List{"next"}, nil)
				inv := expectMsg[*wamp.Invocation](w.callee, "the next caller's call")
				w.callee.yield(inv.Request, nil, inv.Arguments, nil)
				next.expectResult(req, "the next caller's call")
			}
		})
	}
}
