package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"time"

	nexusrouter "github.com/gammazero/nexus/v3/router"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router"
)

// serveOptions tune the switchboard router under test (stock nexus has
// neither setting).
type serveOptions struct {
	writeDelay    time.Duration // listeners[].websocket.write_delay
	maxHandshakes int           // limits.max_handshakes; < 0: the default
	clusterURL    string        // cluster.nats.url; "": a single node
}

// serve runs one router under test on 127.0.0.1:0, prints "ADDR <ws url>",
// and then obeys commands on stdin: "gc" (collect garbage, answer "ok") and
// EOF (shut down). With BENCH_CPU_PROFILE=PREFIX in its environment it
// writes a CPU profile of its whole life to PREFIX.<router>.<pid>.
func serve(kind string, so serveOptions) error {
	if os.Getenv("BENCH_HEAP_PROFILE") != "" {
		runtime.MemProfileRate = 1 // every allocation, for an exact profile
	}
	if prefix := os.Getenv("BENCH_CPU_PROFILE"); prefix != "" {
		f, err := os.Create(fmt.Sprintf("%s.%s.%d", prefix, kind, os.Getpid()))
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	var url string
	var stop func()
	switch kind {
	case "switchboard":
		limits := ""
		if so.maxHandshakes >= 0 {
			limits = fmt.Sprintf(", max_handshakes: %d", so.maxHandshakes)
		}
		cluster := ""
		if so.clusterURL != "" {
			cluster = "cluster: { nats: { url: \"" + so.clusterURL + "\" } }\n"
		}
		cfg, err := config.Parse("bench", []byte(`
listeners:
  - address: "127.0.0.1:0"
    websocket: { path: /ws, ping_interval: 0s, write_delay: "`+so.writeDelay.String()+`" }
    bridge: { realm: realm1 }
realms:
  - name: realm1
    anonymous: { role: anonymous }
    roles:
      - name: anonymous
        permissions:
          - { uri: "", match: prefix, allow: { call: true, register: true, publish: true, subscribe: true } }
# Every load-tool session comes from 127.0.0.1: no connection limits.
limits: { max_connections: 0, max_connections_per_ip: 0`+limits+` }
`+cluster), nil)
		if err != nil {
			return err
		}
		srv, err := router.New(cfg, router.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return err
		}
		if err := srv.Start(context.Background()); err != nil {
			return err
		}
		url = fmt.Sprintf("ws://%s/ws", srv.Addrs()[0])
		stop = func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
		}
	case "nexus":
		// Stock nexus: its own router and WebsocketServer, default settings.
		r, err := nexusrouter.NewRouter(&nexusrouter.Config{RealmConfigs: []*nexusrouter.RealmConfig{{
			URI: "realm1", AnonymousAuth: true, AllowDisclose: true,
		}}}, log.New(io.Discard, "", 0))
		if err != nil {
			return err
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		hs := &http.Server{Handler: nexusrouter.NewWebsocketServer(r)}
		go func() { _ = hs.Serve(l) }()
		url = fmt.Sprintf("ws://%s/", l.Addr())
		stop = func() { _ = hs.Close(); r.Close() }
	default:
		return fmt.Errorf("unknown router %q (want switchboard or nexus)", kind)
	}
	fmt.Printf("ADDR %s\n", url)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "gc" {
			// Several collections, as a router idle for minutes has had:
			// each one may halve the stacks of goroutines using little.
			for range 4 {
				runtime.GC()
			}
			debug.FreeOSMemory()
			if os.Getenv("BENCH_MEMSTATS") != "" {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				fmt.Fprintf(os.Stderr, "%s memstats heap_inuse=%d stack_inuse=%d goroutines=%d\n",
					kind, ms.HeapInuse, ms.StackInuse, runtime.NumGoroutine())
			}
			if f := os.Getenv("BENCH_HEAP_PROFILE"); f != "" {
				out, _ := os.Create(f)
				_ = pprof.WriteHeapProfile(out)
				out.Close()
			}
			fmt.Println("ok")
		}
	}
	stop()
	return nil
}
