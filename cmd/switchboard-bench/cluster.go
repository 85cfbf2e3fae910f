package main

import (
	"fmt"
	"os"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// runClusterScenario (issue 17): the fan-out with its subscribers split
// over two nodes and the publisher on a third, the nodes sharing a NATS
// server run in this process, against the same load on one node, in the
// same run, rounds taking turns. On a 2-core machine the figure is the
// cost of crossing nodes, not scale: NATS messages per publication (one
// per interested node) and the latency added.
func runClusterScenario(o *options) error {
	ns, natsCounts, err := startNATS()
	if err != nil {
		return err
	}
	defer ns.Shutdown()
	n := o.clusterSubscribers
	type tally struct{ rate, p50, p99, lost, natsIn, natsOut []float64 }
	one, three := &tally{}, &tally{}
	record := func(t *tally, res fanoutResult, in, out int64) {
		t.rate = append(t.rate, res.rate())
		t.p50 = append(t.p50, float64(res.p50.Microseconds()))
		t.p99 = append(t.p99, float64(res.p99.Microseconds()))
		t.lost = append(t.lost, float64(res.lost+res.duplicates))
		t.natsIn = append(t.natsIn, float64(in)/float64(res.published))
		t.natsOut = append(t.natsOut, float64(out)/float64(res.published))
	}
	spec := o.switchboard()
	node := spec
	node.extra = append(append([]string(nil), spec.extra...), "-cluster-url", ns.ClientURL())
	for round := 1; round <= o.rounds; round++ {
		res, err := withRouter(spec, o.pin, func(url string, _ *routerProc) (fanoutResult, error) {
			return runFanoutAcross([]string{url}, url, n, o.events, o.payload, o.window, time.Second, o.timeout)
		})
		if err != nil {
			return fmt.Errorf("cluster scenario, one node: %w", err)
		}
		fmt.Printf("cross-node one node    round %d  %10.0f deliveries/s  lost %d  dup %d  p50 %v  p99 %v\n",
			round, res.rate(), res.lost, res.duplicates, res.p50, res.p99)
		record(one, res, 0, 0)

		var in, out int64
		res, err = withRouter(node, o.pin, func(a string, _ *routerProc) (fanoutResult, error) {
			return withRouter(node, o.pin, func(b string, _ *routerProc) (fanoutResult, error) {
				return withRouter(node, o.pin, func(c string, _ *routerProc) (fanoutResult, error) {
					in0, out0 := natsCounts()
					res, err := runFanoutAcross([]string{a, b}, c, n, o.events, o.payload, o.window, time.Second, o.timeout)
					in1, out1 := natsCounts()
					in, out = in1-in0, out1-out0
					return res, err
				})
			})
		})
		if err != nil {
			return fmt.Errorf("cluster scenario, three nodes: %w", err)
		}
		fmt.Printf("cross-node three nodes round %d  %10.0f deliveries/s  lost %d  dup %d  p50 %v  p99 %v  NATS messages in %d out %d\n",
			round, res.rate(), res.lost, res.duplicates, res.p50, res.p99, in, out)
		record(three, res, in, out)
	}
	s := fmt.Sprintf("fan-out, %d subscribers (two nodes) and the publisher (a third)", n)
	med := fmt.Sprintf("median of %d", o.rounds)
	cols := []string{"one node", "three nodes"}
	rows := []row{
		{s, "deliveries/s, " + med, map[string]float64{"one node": median(one.rate), "three nodes": median(three.rate)}, "", true},
		{s, "p50 latency (us), " + med, map[string]float64{"one node": median(one.p50), "three nodes": median(three.p50)}, "", false},
		{s, "p99 latency (us), " + med, map[string]float64{"one node": median(one.p99), "three nodes": median(three.p99)}, "", false},
		{s, "lost or duplicated events, all rounds", map[string]float64{"one node": sum(one.lost), "three nodes": sum(three.lost)}, "", false},
		{s, "NATS messages out per publication, " + med, map[string]float64{"one node": 0, "three nodes": median(three.natsOut)}, "", false},
		{s, "NATS messages in per publication, " + med, map[string]float64{"one node": 0, "three nodes": median(three.natsIn)}, "", false},
	}
	printTableVs(os.Stdout, cols, rows)
	return nil
}

func sum(v []float64) float64 {
	t := 0.0
	for _, x := range v {
		t += x
	}
	return t
}

// startNATS starts a NATS server in this process, and returns it with a
// reader of its message counts.
func startNATS() (*natsserver.Server, func() (in, out int64), error) {
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		return nil, nil, fmt.Errorf("nats server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, nil, fmt.Errorf("nats server did not start")
	}
	counts := func() (in, out int64) {
		v, err := ns.Varz(nil)
		if err != nil {
			return 0, 0
		}
		return v.InMsgs, v.OutMsgs
	}
	return ns, counts, nil
}

// runClusterRPCScenario: calls from callers on one node to a callee on
// another, the nodes sharing a NATS server run in this process, against
// the same calls on one node, in the same run, rounds taking turns. The
// figure is the cost of crossing nodes: NATS messages per call (a relayed
// CALL and its RESULT) and the latency added.
func runClusterRPCScenario(o *options) error {
	ns, natsCounts, err := startNATS()
	if err != nil {
		return err
	}
	defer ns.Shutdown()
	shape := o.clusterRPCShape
	type tally struct {
		rate, p50, p99, natsIn, natsOut []float64
		failed, unanswered, outOfOrder  int
	}
	one, two := &tally{}, &tally{}
	record := func(t *tally, res rpcResult, in, out int64) {
		t.rate = append(t.rate, res.rate())
		t.p50 = append(t.p50, float64(res.p50.Microseconds()))
		t.p99 = append(t.p99, float64(res.p99.Microseconds()))
		t.failed += res.failedTotal()
		t.unanswered += int(res.unanswered) + res.notSent
		t.outOfOrder += int(res.outOfOrder)
		if res.results > 0 {
			t.natsIn = append(t.natsIn, float64(in)/float64(res.results))
			t.natsOut = append(t.natsOut, float64(out)/float64(res.results))
		}
	}
	spec := o.switchboard()
	node := spec
	node.extra = append(append([]string(nil), spec.extra...), "-cluster-url", ns.ClientURL())
	for round := 1; round <= o.rounds; round++ {
		res, err := withRouter(spec, o.pin, func(url string, p *routerProc) (rpcResult, error) {
			return runRPCAcross(url, url, p, o.rpcCalls, shape, o.timeout)
		})
		if err != nil {
			return fmt.Errorf("cluster rpc scenario, one node: %w", err)
		}
		fmt.Printf("cross-node rpc %v one node  round %d %8.0f calls/s  p50 %-9v p99 %-9v failed %s  unanswered %d\n",
			shape, round, res.rate(), res.p50.Round(time.Microsecond), res.p99.Round(time.Microsecond), res.failedString(), res.unanswered)
		record(one, res, 0, 0)

		var in, out int64
		res, err = withRouter(node, o.pin, func(callers string, _ *routerProc) (rpcResult, error) {
			return withRouter(node, o.pin, func(callee string, _ *routerProc) (rpcResult, error) {
				if err := awaitProcedure(callers, "bench.echo", 0); err == nil {
					return rpcResult{}, fmt.Errorf("bench.echo answers before its callee joined")
				}
				in0, out0 := natsCounts()
				res, err := runRPCAcross(callee, callers, nil, o.rpcCalls, shape, o.timeout)
				in1, out1 := natsCounts()
				in, out = in1-in0, out1-out0
				return res, err
			})
		})
		if err != nil {
			return fmt.Errorf("cluster rpc scenario, two nodes: %w", err)
		}
		fmt.Printf("cross-node rpc %v two nodes round %d %8.0f calls/s  p50 %-9v p99 %-9v failed %s  unanswered %d  NATS messages in %d out %d\n",
			shape, round, res.rate(), res.p50.Round(time.Microsecond), res.p99.Round(time.Microsecond), res.failedString(), res.unanswered, in, out)
		record(two, res, in, out)
	}
	s := fmt.Sprintf("RPC %d caller(s) x %d in flight, callers on one node, callee on another", shape.callers, shape.inFlight)
	med := fmt.Sprintf("median of %d", o.rounds)
	cols := []string{"one node", "two nodes"}
	both := func(f func(t *tally) float64) map[string]float64 {
		return map[string]float64{"one node": f(one), "two nodes": f(two)}
	}
	rows := []row{
		{s, "calls/s, " + med, both(func(t *tally) float64 { return median(t.rate) }), "", true},
		{s, "p50 latency (us), " + med, both(func(t *tally) float64 { return median(t.p50) }), "", false},
		{s, "p99 latency (us), " + med, both(func(t *tally) float64 { return median(t.p99) }), "", false},
		{s, "failed calls (ERROR), all rounds", both(func(t *tally) float64 { return float64(t.failed) }), "", false},
		{s, "unanswered or unsent calls, all rounds", both(func(t *tally) float64 { return float64(t.unanswered) }), "", false},
		{s, "INVOCATIONs out of order, all rounds", both(func(t *tally) float64 { return float64(t.outOfOrder) }), "", false},
		{s, "NATS messages in per call, " + med, both(func(t *tally) float64 { return median(t.natsIn) }), "", false},
		{s, "NATS messages out per call, " + med, both(func(t *tally) float64 { return median(t.natsOut) }), "", false},
	}
	printTableVs(os.Stdout, cols, rows)
	return nil
}
