package main

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// fanoutResult is one fan-out run.
type fanoutResult struct {
	subscribers  int
	published    int
	delivered    int64
	lost         int64
	duplicates   int64
	disconnected int64
	duration     time.Duration
	p50, p99     time.Duration
}

func (r fanoutResult) rate() float64 { return float64(r.delivered) / r.duration.Seconds() }

// connectAll dials n sessions with bounded parallelism.
func connectAll(url string, n int, roles string, setup func(i int, c *wampConn) error) ([]*wampConn, error) {
	conns := make([]*wampConn, n)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := dialWAMP(url, roles)
			if err == nil && setup != nil {
				if err = setup(i, c); err != nil {
					c.close()
				}
			}
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("session %d: %w", i, err)
				}
				mu.Unlock()
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	if firstErr != nil {
		for _, c := range conns {
			if c != nil {
				c.close()
			}
		}
		return nil, firstErr
	}
	return conns, nil
}

// subscribeAll connects n sessions, each subscribed to topic.
func subscribeAll(url string, n int, topic string) ([]*wampConn, error) {
	return connectAll(url, n, `"subscriber":{}`, func(_ int, c *wampConn) error {
		if err := c.send(`[32,1,{},"` + topic + `"]`); err != nil {
			return err
		}
		_, err := c.expect(33)
		return err
	})
}

// runFanout: n subscribers on one topic, one publisher sending events
// publishes of payload bytes, acknowledged every window publishes.
func runFanout(url string, n, events, payload, window int, timeout time.Duration) (fanoutResult, error) {
	return runFanoutAcross([]string{url}, url, n, events, payload, window, 0, timeout)
}

// runFanoutAcross is runFanout with the subscribers split over subURLs
// (round robin) and the publisher on pubURL; settle is how long to wait
// after subscribing before publishing (for a cluster: the subscribers'
// interest reaching the publisher's node).
func runFanoutAcross(subURLs []string, pubURL string, n, events, payload, window int, settle, timeout time.Duration) (fanoutResult, error) {
	res := fanoutResult{subscribers: n, published: events}
	var subs []*wampConn
	for i, url := range subURLs {
		share := n / len(subURLs)
		if i < n%len(subURLs) {
			share++
		}
		more, err := subscribeAll(url, share, "bench.fanout")
		if err != nil {
			return res, err
		}
		subs = append(subs, more...)
	}
	pub, err := dialWAMP(pubURL, `"publisher":{}`)
	if err != nil {
		return res, err
	}
	defer pub.close()
	time.Sleep(settle)

	hist := newHistogram()
	var rx deliveries
	var disconnected atomic.Int64
	var stopping atomic.Bool // set before the harness closes connections
	var wg sync.WaitGroup
	for _, c := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.close()
			if rx.receive(c, events, events, hist) != nil && !stopping.Load() {
				disconnected.Add(1) // closed by the router
			}
		}()
	}

	body := strings.Repeat("x", payload)
	start := time.Now()
	for seq := range events {
		opts := "{}"
		ack := (seq+1)%window == 0 || seq == events-1
		if ack {
			opts = `{"acknowledge":true}`
		}
		msg := `[16,` + strconv.Itoa(seq+1) + `,` + opts + `,"bench.fanout",[` + strconv.Itoa(seq) + `,` +
			strconv.FormatInt(time.Now().UnixNano(), 10) + `,"` + body + `"]]`
		if err := pub.send(msg); err != nil {
			return res, fmt.Errorf("publish %d: %w", seq, err)
		}
		if ack {
			if _, err := pub.expect(17); err != nil {
				return res, fmt.Errorf("publish %d: %w", seq, err)
			}
		}
	}

	// Wait for delivery, bounded: stop when done, when nothing arrived for
	// 5s (what is missing is lost), or at the timeout.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	deadline := time.After(timeout)
	stall := time.NewTicker(5 * time.Second)
	defer stall.Stop()
	prev := int64(-1)
wait:
	for {
		select {
		case <-done:
			break wait
		case <-deadline:
			break wait
		case <-stall.C:
			cur := rx.delivered.Load()
			if cur == prev {
				break wait
			}
			prev = cur
		}
	}
	stopping.Store(true)
	for _, c := range subs {
		c.close()
	}
	<-done
	res.delivered = rx.delivered.Load()
	res.lost = int64(n)*int64(events) - res.delivered
	res.duplicates = rx.duplicates.Load()
	res.disconnected = disconnected.Load()
	if last := rx.lastNanos.Load(); last > 0 {
		res.duration = time.Duration(last - start.UnixNano())
	} else {
		res.duration = time.Since(start)
	}
	res.p50, res.p99 = hist.percentile(50), hist.percentile(99)
	return res, nil
}

// bridgeResult is one HTTP bridge run.
type bridgeResult struct {
	requests     int
	delivered    int64
	lost         int64
	duplicates   int64
	duration     time.Duration // first request to last delivery
	p50, p99     time.Duration // of the HTTP requests
	dp50, dp99   time.Duration // publish (request sent) to delivery, per delivery
	routerCPU    time.Duration // the router process's CPU time over the run
	toolCPU      time.Duration // the load tool's
	routerCPUSet bool
	writes       int64 // the router's write system calls over the run, -1 unknown
}

// runBridge: n WebSocket subscribers, and concurrency HTTP clients POSTing
// requests publications to /publish, one event [seq, send_time_ns,
// payload] per request: as fast as the clients go, or, with rate > 0,
// request i handed to a client at start + i/rate (fewer when the clients
// lag). Each subscriber counts distinct sequence numbers;
// the run ends when every subscriber has every event, when nothing arrived
// for 5s, or at the timeout.
func runBridge(wsURL string, p *routerProc, n, requests, concurrency, payload int, rate float64, timeout time.Duration) (bridgeResult, error) {
	res := bridgeResult{requests: requests}
	base := "http://" + strings.TrimPrefix(strings.TrimSuffix(wsURL, "/ws"), "ws://")
	subs, err := subscribeAll(wsURL, n, "bench.bridge")
	if err != nil {
		return res, err
	}
	var rx deliveries
	delivery := newHistogram()
	var wg sync.WaitGroup
	for _, c := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.close()
			_ = rx.receive(c, requests, requests, delivery)
		}()
	}
	httpClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}, Timeout: 10 * time.Second}
	body := strings.Repeat("x", payload)
	hist := newHistogram()
	jobs := make(chan int)
	errs := make(chan error, concurrency)
	var senders sync.WaitGroup
	var before cpuUse
	cpuErr := errNoCPUTime
	res.writes = -1
	writesBefore, writesErr := int64(0), errNoCPUTime
	if p != nil {
		before, cpuErr = p.cpu()
		writesBefore, writesErr = processWrites(p.cmd.Process.Pid)
	}
	start := time.Now()
	for range concurrency {
		senders.Add(1)
		go func() {
			defer senders.Done()
			local := map[int]int64{}
			defer hist.merge(local)
			for seq := range jobs {
				t0 := time.Now()
				msg := `{"topic":"bench.bridge","args":[` + strconv.Itoa(seq) + `,` +
					strconv.FormatInt(t0.UnixNano(), 10) + `,"` + body + `"]}`
				resp, err := httpClient.Post(base+"/publish", "application/json", strings.NewReader(msg))
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("publish %d: HTTP %d", seq, resp.StatusCode)
					return
				}
				local[bucketOf(time.Since(t0))]++
			}
		}()
	}
	var sendErr error
feed:
	for seq := range requests {
		if rate > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(float64(seq) / rate * float64(time.Second)))))
		}
		select {
		case jobs <- seq:
		case sendErr = <-errs:
			break feed
		}
	}
	close(jobs)
	senders.Wait()
	if sendErr != nil {
		for _, c := range subs {
			c.close()
		}
		wg.Wait()
		return res, sendErr
	}
	waitDeliveries(&wg, &rx.delivered, timeout, 5*time.Second)
	if p != nil && cpuErr == nil {
		if after, err := p.cpu(); err == nil {
			res.routerCPU, res.routerCPUSet = after.router-before.router, true
			res.toolCPU = after.tool - before.tool
		}
	}
	if p != nil && writesErr == nil {
		if after, err := processWrites(p.cmd.Process.Pid); err == nil {
			res.writes = after - writesBefore
		}
	}
	for _, c := range subs {
		c.close()
	}
	wg.Wait()
	res.delivered = rx.delivered.Load()
	res.duplicates = rx.duplicates.Load()
	res.lost = int64(n)*int64(requests) - res.delivered
	if last := rx.lastNanos.Load(); last > 0 {
		res.duration = time.Duration(last - start.UnixNano())
	} else {
		res.duration = time.Since(start)
	}
	res.p50, res.p99 = hist.percentile(50), hist.percentile(99)
	res.dp50, res.dp99 = delivery.percentile(50), delivery.percentile(99)
	return res, nil
}

// waitDeliveries waits, bounded, for the subscribers' goroutines in wg:
// until they are done, until delivered has not grown for stall (what is
// missing then is lost), or until timeout.
func waitDeliveries(wg *sync.WaitGroup, delivered *atomic.Int64, timeout, stall time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	deadline := time.After(timeout)
	tick := time.NewTicker(stall)
	defer tick.Stop()
	prev := int64(-1)
	for {
		select {
		case <-done:
			return
		case <-deadline:
			return
		case <-tick.C:
			cur := delivered.Load()
			if cur == prev {
				return
			}
			prev = cur
		}
	}
}

// deliveries counts what a run's subscribers received, all together.
type deliveries struct {
	delivered, duplicates atomic.Int64
	lastNanos             atomic.Int64 // when the last new event arrived
}

// receive reads c until want distinct EVENTs with seq in [0, events) have
// arrived, recording each one's latency in hist; it returns the read error
// that ended it early.
func (d *deliveries) receive(c *wampConn, events, want int, hist *histogram) error {
	seen := make([]bool, events)
	local := map[int]int64{}
	defer hist.merge(local)
	for got := 0; got < want; {
		msg, err := c.read(0)
		if err != nil {
			return err
		}
		seq, ts, ok := eventArgs(msg)
		if !ok || seq < 0 || seq >= int64(events) {
			continue
		}
		now := time.Now().UnixNano()
		if seen[seq] {
			d.duplicates.Add(1)
			continue
		}
		seen[seq] = true
		got++
		d.delivered.Add(1)
		local[bucketOf(time.Duration(now-ts))]++
		storeMax(&d.lastNanos, now)
	}
	return nil
}

// storeMax raises v to now unless it is already later.
func storeMax(v *atomic.Int64, now int64) {
	for {
		last := v.Load()
		if now <= last || v.CompareAndSwap(last, now) {
			return
		}
	}
}

// runAckPublish is the bridge's baseline: concurrency WAMP sessions each
// publishing with acknowledge, one at a time (request and response, as an
// HTTP client does), to n subscribers. It returns publishes/s.
func runAckPublish(wsURL string, n, publishes, concurrency, payload int) (float64, error) {
	subs, err := subscribeAll(wsURL, n, "bench.ackpub")
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	for _, c := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range publishes {
				if _, err := c.read(30 * time.Second); err != nil {
					return
				}
			}
		}()
	}
	defer func() {
		for _, c := range subs {
			c.close()
		}
		wg.Wait()
	}()
	pubs, err := connectAll(wsURL, concurrency, `"publisher":{}`, nil)
	if err != nil {
		return 0, err
	}
	defer func() {
		for _, p := range pubs {
			p.close()
		}
	}()
	body := strings.Repeat("x", payload)
	jobs := make(chan int)
	errs := make(chan error, concurrency)
	var senders sync.WaitGroup
	start := time.Now()
	for _, p := range pubs {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for seq := range jobs {
				if err := p.send(`[16,` + strconv.Itoa(seq+1) + `,{"acknowledge":true},"bench.ackpub",[` + strconv.Itoa(seq) + `,"` + body + `"]]`); err != nil {
					errs <- err
					return
				}
				if _, err := p.expect(17); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for seq := range publishes {
		select {
		case jobs <- seq:
		case err := <-errs:
			close(jobs)
			senders.Wait()
			return 0, err
		}
	}
	close(jobs)
	senders.Wait()
	return float64(publishes) / time.Since(start).Seconds(), nil
}
