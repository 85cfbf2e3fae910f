package router

import (
	"net/http"
	"strconv"
	"time"
)

// statusRecorder captures the status code of a response.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController reach the connection (the bridge sets
// its body read deadline through it).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// observeHTTP counts, times and (if accessLog) logs the requests of an
// HTTP bridge endpoint.
func (s *Server) observeHTTP(endpoint string, accessLog bool, h http.Handler) http.Handler {
	duration := s.metrics.BridgeDuration.WithLabelValues(endpoint)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		elapsed := time.Since(start)
		duration.Observe(elapsed.Seconds())
		s.metrics.BridgeRequests.WithLabelValues(endpoint, strconv.Itoa(rec.status)).Inc()
		if accessLog {
			// The path only: query strings of signed requests carry signatures.
			s.log.Info("http request", "endpoint", endpoint, "method", r.Method, "path", r.URL.Path,
				"status", rec.status, "duration", elapsed.Round(time.Microsecond).String(), "remote_addr", r.RemoteAddr)
		}
	})
}

// logUpgrades logs WebSocket upgrade requests.
func (s *Server) logUpgrades(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h.ServeHTTP(w, r)
		s.log.Info("websocket upgrade", "path", r.URL.Path, "origin", r.Header.Get("Origin"),
			"duration", time.Since(start).Round(time.Microsecond).String(), "remote_addr", r.RemoteAddr)
	})
}
