package router

import (
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// errHostNotAllowed is the error URI of a request to a loopback listener
// that names another host.
const errHostNotAllowed = "switchboard.error.host_not_allowed"

// loopbackAddress reports whether a listener address ("host:port") binds
// loopback only: localhost, 127.0.0.0/8 or ::1. Unix sockets and wildcard
// addresses are not.
func loopbackAddress(address string) bool {
	host, _, err := net.SplitHostPort(address)
	return err == nil && loopbackHost(host)
}

// loopbackHost reports whether host (without port, brackets allowed) names
// this machine's loopback interface.
func loopbackHost(host string) bool {
	host = strings.ToLower(host)
	if host == "localhost" || host == "localhost." {
		return true
	}
	ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return ip != nil && ip.IsLoopback()
}

// hostCheck guards a loopback listener against DNS rebinding: a page on
// evil.example whose name the attacker re-points at 127.0.0.1 makes the
// browser send it requests as same-origin, with Host: evil.example (and a
// matching Origin). Only a Host naming loopback (any port) is served;
// others get 421 with a JSON error body. This covers every HTTP request of
// the listener: WebSocket upgrades, the bridge, health and metrics.
func hostCheck(h http.Handler, refused prometheus.Counter, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if name, _, err := net.SplitHostPort(host); err == nil {
			host = name
		}
		if loopbackHost(host) {
			h.ServeHTTP(w, r)
			return
		}
		refused.Inc()
		log.Info("http request refused: host is not loopback", "host", r.Host, "path", r.URL.Path, "remote_addr", r.RemoteAddr)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusMisdirectedRequest)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"error":  errHostNotAllowed,
			"args":   []any{"this listener serves loopback host names only (localhost, 127.0.0.1, [::1]), not " + r.Host},
			"kwargs": map[string]any{},
		})
	})
}
