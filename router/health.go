package router

import (
	"context"
	"net"
	"net/http"
	"time"
)

// healthz answers 200 while the process runs.
func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz answers 200 once every listener is bound and the realms are
// loaded, and 503 from the start of shutdown, and (in a cluster) while a
// round trip through NATS fails.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !s.ready.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready\n"))
		return
	}
	if s.cluster != nil {
		// A real round trip through NATS, not a flag.
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		if err := s.cluster.Ping(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: cannot reach the cluster\n"))
			return
		}
	}
	_, _ = w.Write([]byte("ready\n"))
}

// loopbackOnly refuses non-loopback clients with 403.
func loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			http.Error(w, "metrics are served to loopback clients only (metrics.allow_remote)", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}
