// Command switchboard-bench drives WAMP routers over real WebSockets on
// loopback and compares switchboard with stock nexus (its own router and
// WebsocketServer, built in) in one run: fan-out deliveries/s, lost events
// and latency for N subscribers; RPC calls/s, latency, failed and
// unanswered calls for several callers x calls in flight; and memory per
// idle session.
//
//	switchboard-bench                       every scenario, both routers
//	switchboard-bench -n 1000 -events 2000  one fan-out size
//	switchboard-bench -scenarios rpc -rpc-shapes 16x4 -routers switchboard,nexus,before=/tmp/old-bench
//	switchboard-bench serve -router nexus   (internal) the router process
//
// Each router runs in its own process, started fresh for every scenario and
// pinned to CPU 0 with taskset when the machine has 2+ cores; the load
// generator pins itself to CPU 1. Every loop is bounded in count and time,
// and only 127.0.0.1 is targeted.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "serve" {
		fs := flag.NewFlagSet("serve", flag.ExitOnError)
		kind := fs.String("router", "switchboard", "switchboard or nexus")
		var so serveOptions
		fs.DurationVar(&so.writeDelay, "write-delay", 0, "switchboard: listeners[].websocket.write_delay")
		fs.IntVar(&so.maxHandshakes, "max-handshakes", -1, "switchboard: limits.max_handshakes (-1: the default)")
		fs.StringVar(&so.clusterURL, "cluster-url", "", "switchboard: cluster.nats.url (\"\": a single node)")
		_ = fs.Parse(os.Args[2:])
		if err := serve(*kind, so); err != nil {
			fmt.Fprintln(os.Stderr, "serve:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "switchboard-bench:", err)
		os.Exit(1)
	}
}

type options struct {
	clusterSubscribers int                   // subscribers of the cluster scenario
	clusterRPCShape    rpcShape              // the load of the cluster-rpc scenario
	routers            []string              // names, in table column order
	specs              map[string]routerSpec // by name
	shapes             []rpcShape
	scenarios          map[string]bool
	sizes              []int
	events             int
	payload            int
	window             int
	rpcCalls           int
	concurrency        int // HTTP clients in the bridge scenario
	idle               int
	timeout            time.Duration

	bridgeRequests, bridgeSubscribers int
	pin                               bool
	rpcRounds                         int

	writeDelay    time.Duration // switchboard's write_delay in every scenario
	maxHandshakes int           // switchboard's limits.max_handshakes; < 0: the default
	rounds        int           // runs per router in the users, bridge1 and storm scenarios

	users, usersEvents, usersSharedEvery                int
	bridgeDelays                                        []time.Duration
	bridge1Clients, bridge1Subscribers, bridge1Requests int
	bridge1Rate                                         float64
	stormSessions, stormDials                           int
	stormRetry                                          time.Duration
}

// median returns the middle value (the mean of the two middle ones for an
// even count).
func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func run() error {
	var o options
	routers := flag.String("routers", "switchboard,nexus",
		"routers to compare: switchboard, nexus, or NAME=PATH[:FLAG...] for switchboard as served by another build of this tool (e.g. before=/tmp/old-bench; PATH self: this build) with serve flags (e.g. nogate=self:-max-handshakes=0)")
	scenarios := flag.String("scenarios", "fanout,rpc,idle,bridge", "scenarios to run")
	sizes := flag.String("n", "1,100,1000,5000", "fan-out subscriber counts")
	flag.IntVar(&o.events, "events", 2000, "publishes per fan-out run")
	flag.IntVar(&o.payload, "payload", 64, "payload bytes per event")
	flag.IntVar(&o.window, "window", 100, "the publisher waits for an acknowledgement every this many publishes")
	flag.IntVar(&o.rpcCalls, "calls", 100000, "calls per RPC run (split between the callers)")
	flag.IntVar(&o.concurrency, "concurrency", 16, "HTTP clients in the bridge scenario")
	shapes := flag.String("rpc-shapes", "1x16,16x4,4x64,64x4", "RPC loads, CALLERSxINFLIGHT: caller sessions, each keeping INFLIGHT calls in flight")
	flag.IntVar(&o.rpcRounds, "rpc-rounds", 5, "RPC runs per router and shape, taken in turns (the median is reported)")
	flag.IntVar(&o.idle, "idle", 2000, "idle sessions for the memory scenario")
	flag.IntVar(&o.bridgeRequests, "bridge-requests", 5000, "HTTP bridge publish requests")
	flag.IntVar(&o.bridgeSubscribers, "bridge-subscribers", 100, "WebSocket subscribers in the bridge scenario")
	flag.DurationVar(&o.timeout, "timeout", 60*time.Second, "bound on each run")
	flag.DurationVar(&o.writeDelay, "write-delay", 0, "switchboard's listeners[].websocket.write_delay in every scenario but bridge1 (0s: off, the config default)")
	flag.IntVar(&o.maxHandshakes, "max-handshakes", -1, "switchboard's limits.max_handshakes (-1: the config default, 10000; 0: no bound)")
	flag.IntVar(&o.clusterSubscribers, "cluster-subscribers", 1000, "subscribers in the cluster scenario (split over two nodes)")
	clusterRPC := flag.String("cluster-rpc-shape", "4x16", "the RPC load of the cluster-rpc scenario, CALLERSxINFLIGHT")
	flag.IntVar(&o.rounds, "rounds", 3, "runs per router (or write_delay, or cluster layout) in the users, bridge1, storm, cluster and cluster-rpc scenarios, taken in turns (the median is reported)")
	flag.IntVar(&o.users, "users", 1000, "sessions in the users scenario, each with a prefix topic of its own")
	flag.IntVar(&o.usersEvents, "users-events", 20000, "publishes per users run")
	flag.IntVar(&o.usersSharedEvery, "users-shared-every", 100, "in the users scenario every this many-th publish goes to the shared topic, the others to one user's topic (round robin)")
	delays := flag.String("bridge1-delays", "0s,500us,1ms,2ms,5ms,10ms", "write_delay values the bridge1 scenario compares (the first is the baseline)")
	flag.IntVar(&o.bridge1Clients, "bridge1-clients", 4, "HTTP clients in the bridge1 scenario")
	flag.IntVar(&o.bridge1Subscribers, "bridge1-subscribers", 1000, "WebSocket subscribers in the bridge1 scenario")
	flag.IntVar(&o.bridge1Requests, "bridge1-requests", 2000, "publish requests (one event each) per bridge1 run")
	flag.Float64Var(&o.bridge1Rate, "bridge1-rate", 0, "publish requests/s in the bridge1 scenario (0: as fast as the clients go)")
	flag.IntVar(&o.stormSessions, "storm-sessions", 10000, "sessions in the reconnect storm")
	flag.IntVar(&o.stormDials, "storm-dials", 10000, "storm sessions connecting at a time (dial to joined)")
	flag.DurationVar(&o.stormRetry, "storm-retry", 100*time.Millisecond, "a storm session refused (503) or failed retries after a uniformly random wait of half to 1.5 times this")
	flag.BoolVar(&o.pin, "pin", true, "pin router and load generator to different CPUs (needs 2 cores and taskset)")
	flag.Parse()
	o.specs = map[string]routerSpec{}
	for _, r := range strings.Split(*routers, ",") {
		spec, err := parseRouter(r)
		if err != nil {
			return err
		}
		if _, dup := o.specs[spec.name]; dup {
			return fmt.Errorf("-routers: %q twice", spec.name)
		}
		o.routers = append(o.routers, spec.name)
		o.specs[spec.name] = spec
	}
	var err error
	if o.shapes, err = parseShapes(*shapes); err != nil {
		return fmt.Errorf("-rpc-shapes: %w", err)
	}
	clusterShapes, err := parseShapes(*clusterRPC)
	if err != nil || len(clusterShapes) != 1 {
		return fmt.Errorf("-cluster-rpc-shape: want one CALLERSxINFLIGHT, got %q", *clusterRPC)
	}
	o.clusterRPCShape = clusterShapes[0]
	o.scenarios = map[string]bool{}
	for _, s := range strings.Split(*scenarios, ",") {
		o.scenarios[s] = true
	}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return fmt.Errorf("-n: bad subscriber count %q", s)
		}
		o.sizes = append(o.sizes, n)
	}
	for _, d := range strings.Split(*delays, ",") {
		v, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil || v < 0 {
			return fmt.Errorf("-bridge1-delays: bad duration %q", d)
		}
		o.bridgeDelays = append(o.bridgeDelays, v)
	}
	if o.rounds < 1 || o.users < 1 || o.usersEvents < 1 || o.stormSessions < 1 || o.stormDials < 1 || o.bridge1Clients < 1 {
		return errors.New("-rounds, -users, -users-events, -storm-sessions, -storm-dials and -bridge1-clients want at least 1")
	}
	if o.rpcRounds < 1 {
		return fmt.Errorf("-rpc-rounds: want at least 1, got %d", o.rpcRounds)
	}
	if o.pin && runtime.NumCPU() < 2 {
		o.pin = false
	}
	if o.pin {
		if _, err := exec.LookPath("taskset"); err != nil {
			o.pin = false
		}
	}
	if o.pin {
		if err := pinToCPU1(); err != nil {
			return fmt.Errorf("pin load generator: %w", err)
		}
		runtime.GOMAXPROCS(1)
	}
	fmt.Printf("switchboard-bench: routers %v, pinned %v, %d events x %d bytes per fan-out run\n\n",
		o.routers, o.pin, o.events, o.payload)

	var rows []row
	add := func(scenario, metric string, values map[string]float64, unit string, higherBetter bool) {
		rows = append(rows, row{scenario, metric, values, unit, higherBetter})
	}
	if o.scenarios["fanout"] {
		for _, n := range o.sizes {
			rate, lost, p50, p99 := map[string]float64{}, map[string]float64{}, map[string]float64{}, map[string]float64{}
			for _, r := range o.routers {
				res, err := withRouter(o.spec(r), o.pin, func(url string, _ *routerProc) (fanoutResult, error) {
					return runFanout(url, n, o.events, o.payload, o.window, o.timeout)
				})
				if err != nil {
					return fmt.Errorf("fanout N=%d on %s: %w", n, r, err)
				}
				fmt.Printf("fanout N=%-5d %-11s %10.0f deliveries/s  lost %d  dup %d  disconnected %d  p50 %v  p99 %v\n",
					n, r, res.rate(), res.lost, res.duplicates, res.disconnected, res.p50, res.p99)
				rate[r], lost[r] = res.rate(), float64(res.lost)
				p50[r], p99[r] = float64(res.p50.Microseconds()), float64(res.p99.Microseconds())
			}
			s := fmt.Sprintf("fan-out N=%d", n)
			add(s, "deliveries/s", rate, "", true)
			add(s, "lost events", lost, "", false)
			add(s, "p50 latency (us)", p50, "", false)
			add(s, "p99 latency (us)", p99, "", false)
		}
	}
	if o.scenarios["rpc"] {
		for _, shape := range o.shapes {
			if err := runRPCShape(&o, shape, add); err != nil {
				return err
			}
		}
	}
	if o.scenarios["idle"] {
		mem := map[string]float64{}
		for _, r := range o.routers {
			perSession, err := withRouter(o.spec(r), o.pin, func(url string, p *routerProc) (float64, error) {
				return runIdle(url, p, o.idle)
			})
			if err != nil {
				return fmt.Errorf("idle on %s: %w", r, err)
			}
			fmt.Printf("idle %-11s %8.1f KiB RSS per session (%d sessions)\n", r, perSession/1024, o.idle)
			mem[r] = perSession / 1024
		}
		add(fmt.Sprintf("%d idle sessions", o.idle), "RSS per session (KiB)", mem, "", false)
	}
	if o.scenarios["bridge"] {
		// Stock nexus has no HTTP bridge: this row is switchboard's alone.
		res, err := withRouter(o.switchboard(), o.pin, func(url string, p *routerProc) (bridgeResult, error) {
			return runBridge(url, p, o.bridgeSubscribers, o.bridgeRequests, o.concurrency, o.payload, 0, o.timeout)
		})
		if err != nil {
			return fmt.Errorf("bridge: %w", err)
		}
		// Baseline in the same run: the same publications over WAMP, each
		// acknowledged before the next, from as many sessions as HTTP clients.
		wampRate, err := withRouter(o.switchboard(), o.pin, func(url string, _ *routerProc) (float64, error) {
			return runAckPublish(url, o.bridgeSubscribers, o.bridgeRequests, o.concurrency, o.payload)
		})
		if err != nil {
			return fmt.Errorf("bridge baseline: %w", err)
		}
		reqRate := float64(res.requests) / res.duration.Seconds()
		delRate := float64(res.delivered) / res.duration.Seconds()
		fmt.Printf("bridge switchboard %8.0f publish requests/s -> %8.0f delivered events/s (%d subscribers, lost %d, request p50 %v p99 %v)\n",
			reqRate, delRate, o.bridgeSubscribers, res.lost, res.p50, res.p99)
		fmt.Printf("bridge baseline    %8.0f acknowledged WAMP publishes/s: the bridge does %.2fx\n", wampRate, reqRate/wampRate)
		s := fmt.Sprintf("HTTP bridge, %d subscribers", o.bridgeSubscribers)
		add(s, "publish requests/s", map[string]float64{"switchboard": reqRate}, "", true)
		add(s, "delivered events/s", map[string]float64{"switchboard": delRate}, "", true)
		add(s, "lost events", map[string]float64{"switchboard": float64(res.lost)}, "", false)
		add(s, "request p99 (us)", map[string]float64{"switchboard": float64(res.p99.Microseconds())}, "", false)
	}
	if o.scenarios["users"] {
		if err := runUsersScenario(&o, add); err != nil {
			return err
		}
	}
	if o.scenarios["storm"] {
		if err := runStormScenario(&o, add); err != nil {
			return err
		}
	}
	if len(rows) > 0 {
		printTable(os.Stdout, o.routers, rows)
	}
	if o.scenarios["bridge1"] {
		if err := runBridgeDelays(&o); err != nil {
			return err
		}
	}
	if o.scenarios["cluster"] {
		if err := runClusterScenario(&o); err != nil {
			return err
		}
	}
	if o.scenarios["cluster-rpc"] {
		if err := runClusterRPCScenario(&o); err != nil {
			return err
		}
	}
	return nil
}

type row struct {
	scenario, metric string
	values           map[string]float64
	unit             string
	higherBetter     bool
}

// printTable prints rows as a Markdown table, with the ratio of the first
// router to each of the others.
func printTable(w io.Writer, routers []string, rows []row) {
	fmt.Fprintln(w)
	fmt.Fprintf(w, "| scenario | metric | %s |", strings.Join(routers, " | "))
	for _, other := range routers[1:] {
		fmt.Fprintf(w, " %s / %s |", routers[0], other)
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, "| --- | --- |"+strings.Repeat(" ---: |", 2*len(routers)-1))
	fmt.Fprintln(w)
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s |", r.scenario, r.metric)
		for _, name := range routers {
			if v, ok := r.values[name]; ok && v < 100 && v != math.Trunc(v) {
				fmt.Fprintf(w, " %.1f |", v)
			} else if ok {
				fmt.Fprintf(w, " %.0f |", v)
			} else {
				fmt.Fprint(w, " n/a |")
			}
		}
		a := r.values[routers[0]]
		for _, other := range routers[1:] {
			b, hasB := r.values[other]
			switch {
			case !hasB:
				fmt.Fprint(w, " - |")
			case b != 0:
				fmt.Fprintf(w, " %.2fx |", a/b)
			case a == 0:
				fmt.Fprint(w, " = |")
			default:
				fmt.Fprint(w, " - |")
			}
		}
		fmt.Fprintln(w)
	}
}

// routerProc is a router under test in its own process.
type routerProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

// routerSpec is a router under test: kind (switchboard or nexus) as
// served by exe, a build of this tool ("" for this one), with switchboard's
// write_delay and max_handshakes (passed to serve only when set, so that
// older builds without those flags serve the other scenarios).
type routerSpec struct {
	name, exe, kind string
	writeDelay      time.Duration
	maxHandshakes   int      // < 0: the default
	extra           []string // more serve flags, after the others (they win)
}

// parseRouter reads a -routers entry: switchboard, nexus or
// NAME=PATH[:FLAG...], PATH "self" meaning this build, each FLAG a serve
// flag such as -max-handshakes=0.
func parseRouter(s string) (routerSpec, error) {
	if name, exe, ok := strings.Cut(s, "="); ok {
		exe, flags, _ := strings.Cut(exe, ":")
		if name == "" || exe == "" {
			return routerSpec{}, fmt.Errorf("-routers: bad entry %q (want NAME=PATH[:FLAG...])", s)
		}
		if exe == "self" {
			exe = ""
		}
		spec := routerSpec{name: name, exe: exe, kind: "switchboard", maxHandshakes: -1}
		if flags != "" {
			spec.extra = strings.Split(flags, ":")
		}
		return spec, nil
	}
	if s != "switchboard" && s != "nexus" {
		return routerSpec{}, fmt.Errorf("-routers: unknown router %q (want switchboard, nexus or NAME=PATH)", s)
	}
	return routerSpec{name: s, kind: s, maxHandshakes: -1}, nil
}

func withRouter[T any](spec routerSpec, pin bool, f func(url string, p *routerProc) (T, error)) (T, error) {
	var zero T
	exe := spec.exe
	if exe == "" {
		self, err := os.Executable()
		if err != nil {
			return zero, err
		}
		exe = self
	}
	args := []string{exe, "serve", "-router", spec.kind}
	if spec.kind == "switchboard" && spec.writeDelay > 0 {
		args = append(args, "-write-delay", spec.writeDelay.String())
	}
	if spec.kind == "switchboard" && spec.maxHandshakes >= 0 {
		args = append(args, "-max-handshakes", strconv.Itoa(spec.maxHandshakes))
	}
	args = append(args, spec.extra...)
	if pin {
		args = append([]string{"taskset", "-c", "0"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return zero, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return zero, err
	}
	if err := cmd.Start(); err != nil {
		return zero, err
	}
	p := &routerProc{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	defer func() {
		_ = stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	if !p.out.Scan() {
		return zero, errors.New("router process printed no address")
	}
	url, ok := strings.CutPrefix(p.out.Text(), "ADDR ")
	if !ok {
		return zero, fmt.Errorf("router process printed %q", p.out.Text())
	}
	return f(url, p)
}

// rss returns the router process's resident memory after a full GC.
func (p *routerProc) rss() (float64, error) {
	if _, err := io.WriteString(p.stdin, "gc\n"); err != nil {
		return 0, err
	}
	if !p.out.Scan() || p.out.Text() != "ok" {
		return 0, errors.New("router process did not answer gc")
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) * 1024, err
		}
	}
	return 0, errors.New("no VmRSS")
}

// browserRoles are the roles and features autobahn.js announces in HELLO.
const browserRoles = `"caller":{"features":{"caller_identification":true,"progressive_call_results":true}},` +
	`"callee":{"features":{"caller_identification":true,"pattern_based_registration":true,"shared_registration":true,"progressive_call_results":true,"registration_revocation":true}},` +
	`"publisher":{"features":{"publisher_identification":true,"subscriber_blackwhite_listing":true,"publisher_exclusion":true}},` +
	`"subscriber":{"features":{"publisher_identification":true,"pattern_based_subscription":true,"subscription_revocation":true}}`

// runIdle opens n sessions that greet like autobahn.js and subscribe (like
// a browser tab: a topic shared by all and one of their own), then do
// nothing, and returns the
// router's RSS growth per session.
func runIdle(url string, p *routerProc, n int) (float64, error) {
	subscribe := func(i int, c *wampConn) error {
		for req, topic := range []string{"com.bench.idle.all", fmt.Sprintf("com.bench.idle.user%d", i)} {
			if err := c.send(fmt.Sprintf(`[32,%d,{},%q]`, req+1, topic)); err != nil {
				return err
			}
			if _, err := c.expect(33); err != nil {
				return err
			}
		}
		return nil
	}
	// Warm up allocator and runtime with a few sessions first.
	warm, err := connectAll(url, 50, browserRoles, subscribe)
	if err != nil {
		return 0, err
	}
	before, err := p.rss()
	if err != nil {
		return 0, err
	}
	conns, err := connectAll(url, n, browserRoles, func(i int, c *wampConn) error { return subscribe(50+i, c) })
	if err != nil {
		return 0, err
	}
	// Let the sessions settle: switchboard's writer goroutines exit after
	// a second without anything to write.
	time.Sleep(2 * time.Second)
	after, err := p.rss()
	for _, c := range append(conns, warm...) {
		c.close()
	}
	if err != nil {
		return 0, err
	}
	return (after - before) / float64(n), nil
}
