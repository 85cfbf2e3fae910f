package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// rpcShape is an RPC run's load: callers sessions, each keeping inFlight
// calls in flight.
type rpcShape struct{ callers, inFlight int }

func (s rpcShape) String() string { return fmt.Sprintf("%dx%d", s.callers, s.inFlight) }

// parseShapes reads "1x16,16x4,4x64".
func parseShapes(s string) ([]rpcShape, error) {
	var out []rpcShape
	for _, f := range strings.Split(s, ",") {
		a, b, ok := strings.Cut(strings.TrimSpace(f), "x")
		callers, err1 := strconv.Atoi(a)
		inFlight, err2 := strconv.Atoi(b)
		if !ok || err1 != nil || err2 != nil || callers < 1 || inFlight < 1 {
			return nil, fmt.Errorf("bad RPC shape %q (want CALLERSxINFLIGHT, e.g. 16x4)", f)
		}
		out = append(out, rpcShape{callers, inFlight})
	}
	return out, nil
}

// rpcResult is one RPC run.
type rpcResult struct {
	calls      int            // CALLs sent
	notSent    int            // calls never sent: their callers waited on unanswered ones
	results    int64          // answered with RESULT
	failed     map[string]int // answered with ERROR, by error URI
	unanswered int64          // never answered
	duration   time.Duration  // first CALL to last answer
	p50, p99   time.Duration  // of the calls answered with RESULT
	cpu        cpuUse
	cpuKnown   bool // CPU times are read on Linux only
	// outOfOrder counts INVOCATIONs whose request ID was not above the
	// previous one's: a nexus client callee drops those (its calls never
	// return), the raw callee here answers them.
	outOfOrder int64
}

func (r rpcResult) rate() float64 { return float64(r.results) / r.duration.Seconds() }

func (r rpcResult) failedTotal() int {
	n := 0
	for _, v := range r.failed {
		n += v
	}
	return n
}

// failedString lists the ERRORs by URI, most frequent first.
func (r rpcResult) failedString() string {
	if len(r.failed) == 0 {
		return "0"
	}
	var parts []string
	for uri, n := range r.failed {
		parts = append(parts, fmt.Sprintf("%d %s", n, uri))
	}
	return fmt.Sprintf("%d (%s)", r.failedTotal(), strings.Join(parts, ", "))
}

// rpcStall ends a run when no answer has arrived for this long: what is
// missing then is unanswered (stock nexus drops a RESULT when the caller's
// channel is full, and the call never returns).
const rpcStall = 3 * time.Second

// runRPC: one callee echoing its arguments; shape.callers callers, each its
// own session, keep shape.inFlight calls in flight until calls (split
// between them) have been answered. Each caller writes its CALLs from one
// goroutine and reads the answers in another, several CALLs per write when
// several answers came back, so calls are truly pipelined; the callee reads
// INVOCATIONs and writes YIELDs the same way.
func runRPC(url string, p *routerProc, calls int, shape rpcShape, timeout time.Duration) (rpcResult, error) {
	return runRPCAcross(url, url, p, calls, shape, timeout)
}

// runRPCAcross is runRPC with the callee on the router at calleeURL and the
// callers on the one at callerURL (nodes of a cluster); p, when not nil,
// is the router whose CPU is measured.
func runRPCAcross(calleeURL, callerURL string, p *routerProc, calls int, shape rpcShape, timeout time.Duration) (rpcResult, error) {
	res := rpcResult{failed: map[string]int{}}
	callee, err := dialWAMP(calleeURL, `"callee":{}`)
	if err != nil {
		return res, err
	}
	defer callee.close()
	if err := callee.send(`[64,1,{},"bench.echo"]`); err != nil {
		return res, err
	}
	if _, err := callee.expect(65); err != nil {
		return res, err
	}
	var outOfOrder atomic.Int64
	go serveEcho(callee, &outOfOrder)
	if calleeURL != callerURL {
		if err := awaitProcedure(callerURL, "bench.echo", 15*time.Second); err != nil {
			return res, err
		}
		outOfOrder.Store(0) // the probes' INVOCATIONs
	}

	callers, err := connectAll(callerURL, shape.callers, `"caller":{}`, nil)
	if err != nil {
		return res, err
	}
	defer func() {
		for _, c := range callers {
			c.close()
		}
	}()
	per := calls / shape.callers
	hist := newHistogram()
	stop := make(chan struct{})
	var mu sync.Mutex
	var last time.Time
	var wg sync.WaitGroup
	var firstErr error
	var before cpuUse
	cpuErr := errors.New("no router to measure")
	if p != nil {
		before, cpuErr = p.cpu()
	}
	start := time.Now()
	deadline := start.Add(timeout)
	for _, c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := runCaller(c, per, shape.inFlight, deadline, stop)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			res.calls += int(r.sent)
			res.results += r.results
			res.unanswered += r.unanswered
			for uri, n := range r.failed {
				res.failed[uri] += n
			}
			if r.last.After(last) {
				last = r.last
			}
			hist.merge(r.latency)
		}()
	}
	wg.Wait()
	close(stop)
	if firstErr != nil {
		return res, firstErr
	}
	if cpuErr == nil {
		if after, err := p.cpu(); err == nil {
			res.cpu, res.cpuKnown = after.sub(before), true
		}
	}
	res.notSent = per*shape.callers - res.calls
	if last.IsZero() {
		last = time.Now()
	}
	res.duration = last.Sub(start)
	res.outOfOrder = outOfOrder.Load()
	res.p50, res.p99 = hist.percentile(50), hist.percentile(99)
	return res, nil
}

// awaitProcedure calls procedure on the router at url until it answers
// (another node's registration has reached it), for at most wait.
func awaitProcedure(url, procedure string, wait time.Duration) error {
	c, err := dialWAMP(url, `"caller":{}`)
	if err != nil {
		return err
	}
	defer c.close()
	deadline := time.Now().Add(wait)
	for id := 1; ; id++ {
		if err := c.send(fmt.Sprintf(`[48,%d,{},%q,[0]]`, id, procedure)); err != nil {
			return err
		}
		msg, err := c.read(5 * time.Second)
		if err != nil {
			return fmt.Errorf("probe call of %s: %w", procedure, err)
		}
		if bytes.HasPrefix(msg, []byte("[50,")) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not callable at %s after %v: %.200s", procedure, url, wait, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// callerResult is one caller's share of a run.
type callerResult struct {
	sent, results, unanswered int64
	failed                    map[string]int
	latency                   map[int]int64 // histogram buckets of the RESULTs
	last                      time.Time     // last answer
}

// runCaller sends calls CALLs on c, at most inFlight unanswered, and reads
// the answers until every call is answered, nothing arrives for rpcStall,
// or the deadline.
func runCaller(c *wampConn, calls, inFlight int, deadline time.Time, stop <-chan struct{}) (callerResult, error) {
	r := callerResult{failed: map[string]int{}, latency: map[int]int64{}}
	sentAt := make([]atomic.Int64, calls+1) // by request ID
	tokens := make(chan struct{}, inFlight)
	for range inFlight {
		tokens <- struct{}{}
	}
	fw := newFrameWriter(c)
	sendErr := make(chan error, 1)
	var sent atomic.Int64
	go func() {
		var msg []byte
		for id := 1; id <= calls; id++ {
			select {
			case <-tokens:
			case <-stop:
				sendErr <- nil
				return
			}
			sentAt[id].Store(time.Now().UnixNano())
			msg = append(msg[:0], "[48,"...)
			msg = strconv.AppendInt(msg, int64(id), 10)
			msg = append(msg, `,{},"bench.echo",[`...)
			msg = strconv.AppendInt(msg, int64(id), 10)
			msg = append(msg, "]]"...)
			fw.frame(msg)
			sent.Add(1)
			// Write when no other call may go yet: the CALLs that the
			// answers just read allow go out together.
			if len(tokens) == 0 || id == calls {
				if err := fw.flush(); err != nil {
					sendErr <- err
					return
				}
			}
		}
		sendErr <- nil
	}()
	answered := 0
	for answered < calls {
		wait := min(rpcStall, time.Until(deadline))
		if wait <= 0 {
			break
		}
		msg, err := c.read(wait)
		if err != nil {
			break // stalled, past the deadline, or closed: the rest is unanswered
		}
		now := time.Now()
		switch {
		case bytes.HasPrefix(msg, []byte("[50,")):
			id, ok := leadingInt(msg[4:])
			if !ok || id < 1 || id > int64(calls) {
				return r, fmt.Errorf("unexpected RESULT %.200s", msg)
			}
			r.results++
			r.latency[bucketOf(time.Duration(now.UnixNano()-sentAt[id].Load()))]++
		case bytes.HasPrefix(msg, []byte("[8,48,")):
			var e []json.RawMessage
			var uri string
			if json.Unmarshal(msg, &e) != nil || len(e) < 5 || json.Unmarshal(e[4], &uri) != nil {
				return r, fmt.Errorf("bad ERROR %.200s", msg)
			}
			r.failed[uri]++
		default:
			return r, fmt.Errorf("unexpected message %.200s", msg)
		}
		answered++
		r.last = now
		tokens <- struct{}{}
	}
	// A caller that gave up leaves its sender waiting for a slot that
	// never comes back: what it sent so far is settled.
	r.sent = sent.Load()
	r.unanswered = r.sent - int64(answered)
	if answered == calls {
		if err := <-sendErr; err != nil {
			return r, fmt.Errorf("send CALL: %w", err)
		}
	}
	return r, nil
}

// leadingInt parses the decimal number at the start of b, up to a comma.
func leadingInt(b []byte) (int64, bool) {
	i := bytes.IndexByte(b, ',')
	if i <= 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(b[:i]), 10, 64)
	return n, err == nil
}

// serveEcho answers every INVOCATION [68, request, registration, details,
// args] on c with YIELD [70, request, {}, args] until c closes, counting
// in outOfOrder those whose request ID is not above the previous one's.
func serveEcho(c *wampConn, outOfOrder *atomic.Int64) {
	type yield struct{ request, args []byte }
	pending := make(chan yield, 1024)
	go func() {
		fw := newFrameWriter(c)
		var msg []byte
		for y := range pending {
			msg = append(msg[:0], "[70,"...)
			msg = append(msg, y.request...)
			msg = append(msg, ",{},"...)
			msg = append(msg, y.args...)
			msg = append(msg, ']')
			fw.frame(msg)
			if len(pending) == 0 {
				if fw.flush() != nil {
					for range pending { // drain until the reader stops
					}
					return
				}
			}
		}
	}()
	defer close(pending)
	last := int64(0)
	for {
		msg, err := c.read(0)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(msg, []byte("[68,")) {
			continue
		}
		// The arguments, a flat list, end the message: ",[...]]".
		rest := msg[4:]
		i := bytes.IndexByte(rest, ',')
		if id, ok := leadingInt(rest); ok {
			if id <= last {
				outOfOrder.Add(1)
			} else {
				last = id
			}
		}
		j := bytes.LastIndex(msg, []byte(",["))
		if i > 0 && j > 4+i && bytes.HasSuffix(msg, []byte("]]")) {
			pending <- yield{rest[:i], msg[j+1 : len(msg)-1]}
			continue
		}
		var inv []json.RawMessage
		if json.Unmarshal(msg, &inv) != nil || len(inv) < 5 {
			continue
		}
		pending <- yield{inv[1], inv[4]}
	}
}

// frameWriter writes masked client text frames to a wampConn's socket
// itself, buffered, so several messages go in one write. The connection's
// gorilla writer must not be used alongside (nothing else writes in an RPC
// run: neither router sends pings to the load tool).
type frameWriter struct {
	w    *bufio.Writer
	key  [4]byte
	buf  []byte
	fail error
}

func newFrameWriter(c *wampConn) *frameWriter {
	f := &frameWriter{w: bufio.NewWriterSize(c.ws.UnderlyingConn(), 64<<10)}
	binary.LittleEndian.PutUint32(f.key[:], rand.Uint32()|1)
	return f
}

// frame buffers payload as one masked text frame.
func (f *frameWriter) frame(payload []byte) {
	var hdr [14]byte
	hdr[0] = 0x81 // FIN, text
	n, i := len(payload), 2
	switch {
	case n < 126:
		hdr[1] = 0x80 | byte(n)
	case n <= 0xffff:
		hdr[1] = 0x80 | 126
		binary.BigEndian.PutUint16(hdr[2:], uint16(n))
		i = 4
	default:
		hdr[1] = 0x80 | 127
		binary.BigEndian.PutUint64(hdr[2:], uint64(n))
		i = 10
	}
	i += copy(hdr[i:], f.key[:])
	f.buf = append(f.buf[:0], payload...)
	for j := range f.buf {
		f.buf[j] ^= f.key[j&3]
	}
	if f.fail == nil {
		_, f.fail = f.w.Write(hdr[:i])
	}
	if f.fail == nil {
		_, f.fail = f.w.Write(f.buf)
	}
}

// flush writes what is buffered.
func (f *frameWriter) flush() error {
	if f.fail == nil {
		f.fail = f.w.Flush()
	}
	if f.fail != nil {
		return fmt.Errorf("write frames: %w", f.fail)
	}
	return nil
}

// cpuUse is CPU time spent by the router process and the load tool.
type cpuUse struct {
	router, tool time.Duration
}

func (a cpuUse) sub(b cpuUse) cpuUse { return cpuUse{a.router - b.router, a.tool - b.tool} }

// cpu reads the router process's and the load tool's CPU time so far.
func (p *routerProc) cpu() (cpuUse, error) {
	r, err := processCPU(p.cmd.Process.Pid)
	if err != nil {
		return cpuUse{}, fmt.Errorf("router CPU time: %w", err)
	}
	t, err := selfCPU()
	if err != nil {
		return cpuUse{}, fmt.Errorf("load tool CPU time: %w", err)
	}
	return cpuUse{router: r, tool: t}, nil
}

var errNoCPUTime = errors.New("CPU times need Linux")

// runRPCShape runs shape on every router for o.rpcRounds rounds, the
// routers taking turns (short runs on a shared machine vary a lot), and
// adds the medians to the table, with the failed and unanswered calls of
// all rounds.
func runRPCShape(o *options, shape rpcShape, add addFunc) error {
	type tally struct {
		rate, p50, p99, routerCPU, toolCPU, perCall    []float64
		calls, failed, unanswered, notSent, outOfOrder int
		errors                                         map[string]int
	}
	tallies := map[string]*tally{}
	for _, r := range o.routers {
		tallies[r] = &tally{errors: map[string]int{}}
	}
	for round := 1; round <= o.rpcRounds; round++ {
		for _, r := range o.routers {
			res, err := withRouter(o.spec(r), o.pin, func(url string, p *routerProc) (rpcResult, error) {
				return runRPC(url, p, o.rpcCalls, shape, o.timeout)
			})
			if err != nil {
				return fmt.Errorf("rpc %v on %s: %w", shape, r, err)
			}
			t := tallies[r]
			cpu := "CPU n/a"
			if res.cpuKnown {
				wall := res.duration.Seconds()
				rc, tc := 100*res.cpu.router.Seconds()/wall, 100*res.cpu.tool.Seconds()/wall
				cpu = fmt.Sprintf("CPU router %.0f%% load tool %.0f%%", rc, tc)
				t.routerCPU, t.toolCPU = append(t.routerCPU, rc), append(t.toolCPU, tc)
				if res.results > 0 {
					t.perCall = append(t.perCall, float64(res.cpu.router.Microseconds())/float64(res.results))
				}
			}
			fmt.Printf("rpc %-5v %-11s round %d %8.0f calls/s  p50 %-9v p99 %-9v failed %s  unanswered %d  not sent %d  out of order %d  %s\n",
				shape, r, round, res.rate(), res.p50.Round(time.Microsecond), res.p99.Round(time.Microsecond),
				res.failedString(), res.unanswered, res.notSent, res.outOfOrder, cpu)
			t.rate = append(t.rate, res.rate())
			t.p50 = append(t.p50, float64(res.p50.Microseconds()))
			t.p99 = append(t.p99, float64(res.p99.Microseconds()))
			t.calls += res.calls
			t.failed += res.failedTotal()
			t.unanswered += int(res.unanswered)
			t.notSent += res.notSent
			t.outOfOrder += int(res.outOfOrder)
			for uri, n := range res.failed {
				t.errors[uri] += n
			}
		}
	}
	values := func(f func(t *tally) float64) map[string]float64 {
		m := map[string]float64{}
		for r, t := range tallies {
			m[r] = f(t)
		}
		return m
	}
	for _, r := range o.routers {
		t := tallies[r]
		fmt.Printf("rpc %-5v %-11s all rounds: %d calls sent, %d failed (%.2f%%), %d unanswered, %d not sent, %d INVOCATIONs out of order",
			shape, r, t.calls, t.failed, 100*float64(t.failed)/float64(max(t.calls, 1)), t.unanswered, t.notSent, t.outOfOrder)
		for uri, n := range t.errors {
			fmt.Printf(", %d %s", n, uri)
		}
		fmt.Println()
	}
	s := fmt.Sprintf("RPC %d caller(s) x %d in flight", shape.callers, shape.inFlight)
	med := fmt.Sprintf("median of %d", o.rpcRounds)
	add(s, "calls/s, "+med, values(func(t *tally) float64 { return median(t.rate) }), "", true)
	add(s, "p50 latency (us), "+med, values(func(t *tally) float64 { return median(t.p50) }), "", false)
	add(s, "p99 latency (us), "+med, values(func(t *tally) float64 { return median(t.p99) }), "", false)
	add(s, "failed calls (ERROR), all rounds", values(func(t *tally) float64 { return float64(t.failed) }), "", false)
	add(s, "unanswered calls, all rounds", values(func(t *tally) float64 { return float64(t.unanswered) }), "", false)
	add(s, "INVOCATIONs out of order, all rounds", values(func(t *tally) float64 { return float64(t.outOfOrder) }), "", false)
	if tallies[o.routers[0]].routerCPU != nil {
		add(s, "router CPU (% of a core), "+med, values(func(t *tally) float64 { return median(t.routerCPU) }), "", false)
		add(s, "load tool CPU (% of a core), "+med, values(func(t *tally) float64 { return median(t.toolCPU) }), "", false)
		add(s, "router CPU per call (us), "+med, values(func(t *tally) float64 { return median(t.perCall) }), "", false)
	}
	return nil
}
