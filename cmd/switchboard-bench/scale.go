package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// The scenarios of issue 16, scale inside one node: per-user topics, the
// HTTP bridge with one event per request, and the reconnect storm.

// switchboard is this build's switchboard with the tool's -write-delay and
// -max-handshakes.
func (o *options) switchboard() routerSpec {
	return routerSpec{name: "switchboard", kind: "switchboard", writeDelay: o.writeDelay, maxHandshakes: o.maxHandshakes}
}

// usersResult is one per-user topics run.
type usersResult struct {
	published, sharedPublished int
	delivered, expected        int64
	duplicates                 int64
	pubDuration                time.Duration // first publish to last PUBLISHED
	duration                   time.Duration // first publish to last delivery
	p50, p99                   time.Duration
	cpu                        cpuUse // over the publishing and delivery
	cpuKnown                   bool
}

// usersTopic is session i's own prefix topic; usersShared is everyone's.
func usersTopic(i int) string { return "app.user." + strconv.Itoa(i) + "." }

const usersShared = "app.shared"

// runUsers: n sessions, session i subscribed to the prefix topic
// app.user.<i>. and to the exact topic app.shared; one publisher sends
// events publications, every sharedEvery-th to app.shared (delivered to
// all n) and the others to app.user.<k>.feed for k round robin (delivered
// to one), acknowledged every window publishes. Events are [seq,
// send_time_ns, payload].
func runUsers(url string, p *routerProc, n, events, sharedEvery, payload, window int, timeout time.Duration) (usersResult, error) {
	res := usersResult{published: events}
	// Which publication goes where, and what each session must receive.
	target := make([]int, events) // session index, or -1 for the shared topic
	want := make([]int, n)
	shared := 0
	for seq, k := 0, 0; seq < events; seq++ {
		if sharedEvery > 0 && seq%sharedEvery == sharedEvery-1 {
			target[seq] = -1
			shared++
			continue
		}
		target[seq] = k
		want[k]++
		k = (k + 1) % n
	}
	res.sharedPublished = shared
	for i := range want {
		want[i] += shared
		res.expected += int64(want[i])
	}
	subs, err := connectAll(url, n, `"subscriber":{"features":{"pattern_based_subscription":true}}`, func(i int, c *wampConn) error {
		if err := c.send(`[32,1,{"match":"prefix"},"` + usersTopic(i) + `"]`); err != nil {
			return err
		}
		if err := c.send(`[32,2,{},"` + usersShared + `"]`); err != nil {
			return err
		}
		for range 2 {
			if _, err := c.expect(33); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	pub, err := dialWAMP(url, `"publisher":{}`)
	if err != nil {
		for _, c := range subs {
			c.close()
		}
		return res, err
	}
	defer pub.close()

	hist := newHistogram()
	var rx deliveries
	var wg sync.WaitGroup
	for i, c := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = rx.receive(c, events, want[i], hist)
		}()
	}

	body := strings.Repeat("x", payload)
	before, cpuErr := p.cpu()
	start := time.Now()
	var msg []byte
	for seq := range events {
		ack := (seq+1)%window == 0 || seq == events-1
		msg = append(msg[:0], "[16,"...)
		msg = strconv.AppendInt(msg, int64(seq+1), 10)
		if ack {
			msg = append(msg, `,{"acknowledge":true},"`...)
		} else {
			msg = append(msg, `,{},"`...)
		}
		if k := target[seq]; k < 0 {
			msg = append(msg, usersShared...)
		} else {
			msg = append(msg, usersTopic(k)...)
			msg = append(msg, "feed"...)
		}
		msg = append(msg, `",[`...)
		msg = strconv.AppendInt(msg, int64(seq), 10)
		msg = append(msg, ',')
		msg = strconv.AppendInt(msg, time.Now().UnixNano(), 10)
		msg = append(msg, `,"`...)
		msg = append(msg, body...)
		msg = append(msg, `"]]`...)
		if err := pub.ws.WriteMessage(websocket.TextMessage, msg); err != nil {
			return res, fmt.Errorf("publish %d: %w", seq, err)
		}
		if ack {
			if _, err := pub.expect(17); err != nil {
				return res, fmt.Errorf("publish %d: %w", seq, err)
			}
		}
	}
	res.pubDuration = time.Since(start)
	waitDeliveries(&wg, &rx.delivered, timeout, 5*time.Second)
	if after, err := p.cpu(); err == nil && cpuErr == nil {
		res.cpu, res.cpuKnown = after.sub(before), true
	}
	for _, c := range subs {
		c.close()
	}
	wg.Wait()
	res.delivered, res.duplicates = rx.delivered.Load(), rx.duplicates.Load()
	if last := rx.lastNanos.Load(); last > 0 {
		res.duration = time.Duration(last - start.UnixNano())
	} else {
		res.duration = time.Since(start)
	}
	res.p50, res.p99 = hist.percentile(50), hist.percentile(99)
	return res, nil
}

// runUsersScenario runs the per-user topics scenario on every router for
// o.rounds rounds, the routers taking turns, and adds the medians.
func runUsersScenario(o *options, add addFunc) error {
	type tally struct {
		pubRate, delRate, p50, p99, routerCPU []float64
		lost, dup                             float64
	}
	tallies := map[string]*tally{}
	for _, r := range o.routers {
		tallies[r] = &tally{}
	}
	for round := 1; round <= o.rounds; round++ {
		for _, r := range o.routers {
			res, err := withRouter(o.spec(r), o.pin, func(url string, p *routerProc) (usersResult, error) {
				return runUsers(url, p, o.users, o.usersEvents, o.usersSharedEvery, o.payload, o.window, o.timeout)
			})
			if err != nil {
				return fmt.Errorf("users on %s: %w", r, err)
			}
			t := tallies[r]
			pubRate := float64(res.published) / res.duration.Seconds()
			delRate := float64(res.delivered) / res.duration.Seconds()
			cpu := "CPU n/a"
			if res.cpuKnown {
				// The wait for deliveries ends up to 5 s after the last one
				// when some are lost: these are shares of the run's span.
				wall := res.duration.Seconds()
				cpu = fmt.Sprintf("CPU router %.0f%% load tool %.0f%%, router %.1f us per publish",
					100*res.cpu.router.Seconds()/wall, 100*res.cpu.tool.Seconds()/wall,
					float64(res.cpu.router.Microseconds())/float64(res.published))
				t.routerCPU = append(t.routerCPU, float64(res.cpu.router.Microseconds())/float64(res.published))
			}
			fmt.Printf("users N=%d %-11s round %d %8.0f publishes/s (acknowledged %8.0f/s) %9.0f deliveries/s  lost %d  dup %d  p50 %v  p99 %v  %s\n",
				o.users, r, round, pubRate, float64(res.published)/res.pubDuration.Seconds(), delRate,
				res.expected-res.delivered, res.duplicates, res.p50.Round(time.Microsecond), res.p99.Round(time.Microsecond), cpu)
			t.pubRate = append(t.pubRate, pubRate)
			t.delRate = append(t.delRate, delRate)
			t.p50 = append(t.p50, float64(res.p50.Microseconds()))
			t.p99 = append(t.p99, float64(res.p99.Microseconds()))
			t.lost += float64(res.expected - res.delivered)
			t.dup += float64(res.duplicates)
		}
	}
	values := func(f func(t *tally) float64) map[string]float64 {
		m := map[string]float64{}
		for r, t := range tallies {
			m[r] = f(t)
		}
		return m
	}
	s := fmt.Sprintf("%d users, own prefix topic + shared", o.users)
	med := fmt.Sprintf("median of %d", o.rounds)
	add(s, "publishes/s, "+med, values(func(t *tally) float64 { return median(t.pubRate) }), "", true)
	add(s, "deliveries/s, "+med, values(func(t *tally) float64 { return median(t.delRate) }), "", true)
	add(s, "p50 latency (us), "+med, values(func(t *tally) float64 { return median(t.p50) }), "", false)
	add(s, "p99 latency (us), "+med, values(func(t *tally) float64 { return median(t.p99) }), "", false)
	add(s, "lost events, all rounds", values(func(t *tally) float64 { return t.lost }), "", false)
	add(s, "duplicates, all rounds", values(func(t *tally) float64 { return t.dup }), "", false)
	if tallies[o.routers[0]].routerCPU != nil {
		add(s, "router CPU per publish (us), "+med, values(func(t *tally) float64 { return median(t.routerCPU) }), "", false)
	}
	return nil
}

type addFunc func(scenario, metric string, values map[string]float64, unit string, higherBetter bool)

// spec returns router r's spec with the tool's switchboard settings.
func (o *options) spec(r string) routerSpec {
	s := o.specs[r]
	if s.kind == "switchboard" {
		s.writeDelay, s.maxHandshakes = o.writeDelay, o.maxHandshakes
	}
	return s
}

// runBridgeDelays runs the HTTP bridge with one event per request on
// switchboard once per write_delay of o.bridgeDelays, for o.rounds rounds
// taking turns, and prints its own table: one column per write_delay, the
// ratios against the first (0s: the code as it was, every event its own
// write).
func runBridgeDelays(o *options) error {
	type tally struct {
		reqRate, delRate, dp50, dp99, rp99, cpuPerDelivery []float64
		perWrite                                           []float64
		lost, dup                                          float64
	}
	var names []string
	tallies := map[string]*tally{}
	for _, d := range o.bridgeDelays {
		name := "write_delay=" + d.String()
		names = append(names, name)
		tallies[name] = &tally{}
	}
	for round := 1; round <= o.rounds; round++ {
		for i, d := range o.bridgeDelays {
			spec := o.switchboard()
			spec.writeDelay = d
			res, err := withRouter(spec, o.pin, func(url string, p *routerProc) (bridgeResult, error) {
				return runBridge(url, p, o.bridge1Subscribers, o.bridge1Requests, o.bridge1Clients, o.payload, o.bridge1Rate, o.timeout)
			})
			if err != nil {
				return fmt.Errorf("bridge write_delay=%v: %w", d, err)
			}
			t := tallies[names[i]]
			secs := res.duration.Seconds()
			cpu := "router CPU n/a"
			if res.routerCPUSet && res.delivered > 0 {
				perDelivery := float64(res.routerCPU.Nanoseconds()) / float64(res.delivered)
				t.cpuPerDelivery = append(t.cpuPerDelivery, perDelivery)
				cpu = fmt.Sprintf("router CPU %.0f%% (%.0f ns per delivery), load tool CPU %.0f%%",
					100*res.routerCPU.Seconds()/secs, perDelivery, 100*res.toolCPU.Seconds()/secs)
			}
			if res.writes > 0 {
				t.perWrite = append(t.perWrite, float64(res.delivered)/float64(res.writes))
				cpu += fmt.Sprintf(", %.2f events per router write", float64(res.delivered)/float64(res.writes))
			}
			fmt.Printf("bridge 1 event/request write_delay=%-6v round %d %6.0f requests/s %9.0f deliveries/s  lost %d  dup %d  deliver p50 %v p99 %v  request p99 %v  %s\n",
				d, round, float64(res.requests)/secs, float64(res.delivered)/secs, res.lost, res.duplicates,
				res.dp50.Round(time.Microsecond), res.dp99.Round(time.Microsecond), res.p99.Round(time.Microsecond), cpu)
			t.reqRate = append(t.reqRate, float64(res.requests)/secs)
			t.delRate = append(t.delRate, float64(res.delivered)/secs)
			t.dp50 = append(t.dp50, float64(res.dp50.Microseconds()))
			t.dp99 = append(t.dp99, float64(res.dp99.Microseconds()))
			t.rp99 = append(t.rp99, float64(res.p99.Microseconds()))
			t.lost += float64(res.lost)
			t.dup += float64(res.duplicates)
		}
	}
	var rows []row
	add := func(scenario, metric string, values map[string]float64, unit string, higherBetter bool) {
		rows = append(rows, row{scenario, metric, values, unit, higherBetter})
	}
	values := func(f func(t *tally) float64) map[string]float64 {
		m := map[string]float64{}
		for r, t := range tallies {
			m[r] = f(t)
		}
		return m
	}
	s := fmt.Sprintf("bridge, %d clients x 1 event/request, %d subscribers", o.bridge1Clients, o.bridge1Subscribers)
	if o.bridge1Rate > 0 {
		s += fmt.Sprintf(", %.0f requests/s offered", o.bridge1Rate)
	}
	med := fmt.Sprintf("median of %d", o.rounds)
	add(s, "deliveries/s, "+med, values(func(t *tally) float64 { return median(t.delRate) }), "", true)
	add(s, "publish requests/s, "+med, values(func(t *tally) float64 { return median(t.reqRate) }), "", true)
	add(s, "publish-to-deliver p50 (us), "+med, values(func(t *tally) float64 { return median(t.dp50) }), "", false)
	add(s, "publish-to-deliver p99 (us), "+med, values(func(t *tally) float64 { return median(t.dp99) }), "", false)
	add(s, "request p99 (us), "+med, values(func(t *tally) float64 { return median(t.rp99) }), "", false)
	add(s, "lost events, all rounds", values(func(t *tally) float64 { return t.lost }), "", false)
	add(s, "duplicates, all rounds", values(func(t *tally) float64 { return t.dup }), "", false)
	if tallies[names[0]].cpuPerDelivery != nil {
		add(s, "router CPU per delivery (ns), "+med, values(func(t *tally) float64 { return median(t.cpuPerDelivery) }), "", false)
	}
	if tallies[names[0]].perWrite != nil {
		add(s, "events per router write, "+med, values(func(t *tally) float64 { return median(t.perWrite) }), "", true)
	}
	printTableVs(os.Stdout, names, rows)
	return nil
}

// stormResult is one reconnect storm.
type stormResult struct {
	sessions  int
	joined    int           // welcomed, both subscriptions acknowledged
	allJoined time.Duration // storm start to the last join
	p50, p99  time.Duration // a session's first dial to its join, retries included
	rejected  int           // upgrades answered 503 (each retried)
	failed    map[string]int
	stuck     int // not joined by the deadline
	received  int // sessions that got the broadcast event after the storm
	cpu       cpuUse
	cpuKnown  bool
}

// autobahn26Roles are the roles and features autobahn.js 26.3 announces in
// HELLO (lib/session.js WAMP_FEATURES), sent as
// [1, realm, {"roles": WAMP_FEATURES}] for an anonymous session.
const autobahn26Roles = `"caller":{"features":{"caller_identification":true,"call_canceling":true,"progressive_call_results":true}},` +
	`"callee":{"features":{"caller_identification":true,"pattern_based_registration":true,"shared_registration":true,"progressive_call_results":true,"registration_revocation":true}},` +
	`"publisher":{"features":{"publisher_identification":true,"subscriber_blackwhite_listing":true,"publisher_exclusion":true}},` +
	`"subscriber":{"features":{"publisher_identification":true,"pattern_based_subscription":true,"subscription_revocation":true}}`

// stormBroadcast is the exact topic every storm session subscribes to,
// with a prefix topic of its own (usersTopic).
const stormBroadcast = "app.broadcast"

// runStorm opens n sessions at once, at most dials of them connecting at
// a time: dial, upgrade, autobahn.js's HELLO, and on WELCOME two SUBSCRIBEs
// (its own prefix topic and a shared one) sent together, as a page's
// script does in onopen. A 503 (the router's max_handshakes) is retried
// after a jittered wait of retry/2 to 3*retry/2, as is any other failure
// (counted by kind); a session not joined by timeout is stuck. Afterwards
// one event is published to the shared topic and every joined session
// must receive it.
func runStorm(url string, p *routerProc, n, dials int, retry, timeout time.Duration) (stormResult, error) {
	res := stormResult{sessions: n, failed: map[string]int{}}
	conns := make([]*websocket.Conn, n)
	joinedAt := make([]time.Duration, n)
	hist := newHistogram()
	var mu sync.Mutex
	var rejected atomic.Int64
	var joined atomic.Int64
	sem := make(chan struct{}, dials)
	var wg sync.WaitGroup
	before, cpuErr := p.cpu()
	start := time.Now()
	deadline := start.Add(timeout)
	dialer := websocket.Dialer{Subprotocols: []string{"wamp.2.json"}, HandshakeTimeout: 10 * time.Second}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			first := time.Now()
			for {
				c, kind, err := joinStorm(&dialer, url, i, deadline)
				if err == nil {
					<-sem
					now := time.Now()
					joined.Add(1)
					mu.Lock()
					conns[i], joinedAt[i] = c, now.Sub(start)
					mu.Unlock()
					hist.merge(map[int]int64{bucketOf(now.Sub(first)): 1})
					return
				}
				if kind == "503" {
					rejected.Add(1)
				} else {
					mu.Lock()
					res.failed[kind]++
					mu.Unlock()
				}
				wait := retry/2 + rand.N(retry+1)
				if time.Now().Add(wait).After(deadline) {
					<-sem
					mu.Lock()
					res.stuck++
					mu.Unlock()
					return
				}
				// The slot is given up while waiting, as a browser waiting
				// to retry has no connection open.
				<-sem
				time.Sleep(wait)
				sem <- struct{}{}
			}
		}()
	}
	wg.Wait()
	if after, err := p.cpu(); err == nil && cpuErr == nil {
		res.cpu, res.cpuKnown = after.sub(before), true
	}
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	res.joined = int(joined.Load())
	res.rejected = int(rejected.Load())
	for _, d := range joinedAt {
		res.allJoined = max(res.allJoined, d)
	}
	res.p50, res.p99 = hist.percentile(50), hist.percentile(99)
	if res.joined == 0 {
		return res, errors.New("no session joined")
	}

	// Are they all really subscribed? One event to the shared topic.
	var received atomic.Int64
	var readers sync.WaitGroup
	for _, c := range conns {
		if c == nil {
			continue
		}
		readers.Add(1)
		go func() {
			defer readers.Done()
			_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
			for {
				_, msg, err := c.ReadMessage()
				if err != nil {
					return
				}
				if strings.HasPrefix(string(msg[:min(len(msg), 4)]), "[36,") {
					received.Add(1)
					return
				}
			}
		}()
	}
	pub, err := dialWAMP(url, `"publisher":{}`)
	if err != nil {
		return res, fmt.Errorf("broadcast publisher: %w", err)
	}
	defer pub.close()
	if err := pub.send(`[16,1,{"acknowledge":true},"` + stormBroadcast + `",["after the storm"]]`); err != nil {
		return res, err
	}
	if _, err := pub.expect(17); err != nil {
		return res, fmt.Errorf("broadcast: %w", err)
	}
	readers.Wait()
	res.received = int(received.Load())
	return res, nil
}

// joinStorm opens one storm session: it returns the connection once the
// session is welcomed and both subscriptions are acknowledged, or the kind
// of failure ("503" for a refused upgrade).
func joinStorm(d *websocket.Dialer, url string, i int, deadline time.Time) (*websocket.Conn, string, error) {
	c, resp, err := d.Dial(url, nil)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				return nil, "503", err
			}
			return nil, "HTTP " + strconv.Itoa(resp.StatusCode), err
		}
		return nil, "dial", err
	}
	fail := func(kind string, err error) (*websocket.Conn, string, error) {
		c.Close()
		return nil, kind, err
	}
	_ = c.SetReadDeadline(deadline)
	if err := c.WriteMessage(websocket.TextMessage, []byte(`[1,"realm1",{"roles":{`+autobahn26Roles+`}}]`)); err != nil {
		return fail("hello", err)
	}
	_, msg, err := c.ReadMessage()
	if err != nil {
		return fail("welcome", err)
	}
	if !strings.HasPrefix(string(msg), "[2,") {
		return fail("not welcomed", fmt.Errorf("expected WELCOME, got %.200s", msg))
	}
	for req, sub := range []string{`{"match":"prefix"},"` + usersTopic(i) + `"`, `{},"` + stormBroadcast + `"`} {
		if err := c.WriteMessage(websocket.TextMessage, []byte(`[32,`+strconv.Itoa(req+1)+`,`+sub+`]`)); err != nil {
			return fail("subscribe", err)
		}
	}
	for range 2 {
		_, msg, err := c.ReadMessage()
		if err != nil {
			return fail("subscribed", err)
		}
		if !strings.HasPrefix(string(msg), "[33,") {
			return fail("not subscribed", fmt.Errorf("expected SUBSCRIBED, got %.200s", msg))
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	return c, "", nil
}

// runStormScenario runs the reconnect storm on every router for o.rounds
// rounds, the routers taking turns, and adds the medians.
func runStormScenario(o *options, add addFunc) error {
	type tally struct {
		all, p50, p99           []float64
		rejected, stuck, failed float64
		lost                    float64
		failedKinds             map[string]int
	}
	tallies := map[string]*tally{}
	for _, r := range o.routers {
		tallies[r] = &tally{failedKinds: map[string]int{}}
	}
	for round := 1; round <= o.rounds; round++ {
		for _, r := range o.routers {
			res, err := withRouter(o.spec(r), o.pin, func(url string, p *routerProc) (stormResult, error) {
				return runStorm(url, p, o.stormSessions, o.stormDials, o.stormRetry, o.timeout)
			})
			if err != nil {
				return fmt.Errorf("storm on %s: %w", r, err)
			}
			t := tallies[r]
			failed := 0
			for kind, k := range res.failed {
				failed += k
				t.failedKinds[kind] += k
			}
			cpu := "CPU n/a"
			if res.cpuKnown {
				cpu = fmt.Sprintf("CPU router %v load tool %v", res.cpu.router.Round(time.Millisecond), res.cpu.tool.Round(time.Millisecond))
			}
			fmt.Printf("storm %d sessions %-11s round %d  all joined in %v  connect p50 %v p99 %v  rejected (503) %d  other failures %d %v  stuck %d  missed the broadcast %d  %s\n",
				res.sessions, r, round, res.allJoined.Round(time.Millisecond), res.p50.Round(time.Microsecond), res.p99.Round(time.Microsecond),
				res.rejected, failed, res.failed, res.stuck, res.joined-res.received, cpu)
			t.all = append(t.all, float64(res.allJoined.Milliseconds()))
			t.p50 = append(t.p50, float64(res.p50.Microseconds())/1000)
			t.p99 = append(t.p99, float64(res.p99.Microseconds())/1000)
			t.rejected += float64(res.rejected)
			t.failed += float64(failed)
			t.stuck += float64(res.stuck)
			t.lost += float64(res.sessions - res.received)
		}
	}
	values := func(f func(t *tally) float64) map[string]float64 {
		m := map[string]float64{}
		for r, t := range tallies {
			m[r] = f(t)
		}
		return m
	}
	s := fmt.Sprintf("storm, %d sessions, %d dialing at once", o.stormSessions, min(o.stormDials, o.stormSessions))
	med := fmt.Sprintf("median of %d", o.rounds)
	add(s, "time to all joined (ms), "+med, values(func(t *tally) float64 { return median(t.all) }), "", false)
	add(s, "connect p50 (ms), "+med, values(func(t *tally) float64 { return median(t.p50) }), "", false)
	add(s, "connect p99 (ms), "+med, values(func(t *tally) float64 { return median(t.p99) }), "", false)
	add(s, "rejected upgrades (503, retried), all rounds", values(func(t *tally) float64 { return t.rejected }), "", false)
	add(s, "other failed attempts (retried), all rounds", values(func(t *tally) float64 { return t.failed }), "", false)
	add(s, "stuck (not joined), all rounds", values(func(t *tally) float64 { return t.stuck }), "", false)
	add(s, "not joined or missed the broadcast, all rounds", values(func(t *tally) float64 { return t.lost }), "", false)
	return nil
}

// printTableVs prints rows as a Markdown table with the ratio of each
// column to the first (the baseline).
func printTableVs(w io.Writer, cols []string, rows []row) {
	fmt.Fprintln(w)
	fmt.Fprintf(w, "| scenario | metric | %s |", strings.Join(cols, " | "))
	for _, c := range cols[1:] {
		fmt.Fprintf(w, " %s / %s |", c, cols[0])
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, "| --- | --- |"+strings.Repeat(" ---: |", 2*len(cols)-1))
	fmt.Fprintln(w)
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s |", r.scenario, r.metric)
		for _, c := range cols {
			v := r.values[c]
			if v < 100 && v != math.Trunc(v) {
				fmt.Fprintf(w, " %.2f |", v)
			} else {
				fmt.Fprintf(w, " %.0f |", v)
			}
		}
		base := r.values[cols[0]]
		for _, c := range cols[1:] {
			switch v := r.values[c]; {
			case base != 0:
				fmt.Fprintf(w, " %.2fx |", v/base)
			case v == 0:
				fmt.Fprint(w, " = |")
			default:
				fmt.Fprint(w, " - |")
			}
		}
		fmt.Fprintln(w)
	}
}
