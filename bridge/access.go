package bridge

import (
	"net"
	"net/http"
	"strings"
)

// clientIP returns the request's client address: the connection's, or,
// when the connection comes from a trusted proxy, the right-most untrusted
// address of X-Forwarded-For.
func clientIP(r *http.Request, trusted []*net.IPNet) net.IP {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !inAny(ip, trusted) {
		return ip
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := net.ParseIP(strings.TrimSpace(hops[i]))
		if hop == nil {
			return ip // malformed: trust only what we saw
		}
		ip = hop
		if !inAny(hop, trusted) {
			return hop
		}
	}
	return ip
}

// viaTLS reports whether the request arrived over TLS, directly or, from a
// trusted proxy, as X-Forwarded-Proto: https.
func viaTLS(r *http.Request, trusted []*net.IPNet) bool {
	if r.TLS != nil {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && inAny(ip, trusted) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func inAny(ip net.IP, nets []*net.IPNet) bool {
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// checkAccess applies require_tls and require_ip.
func (h *Handler) checkAccess(r *http.Request) *requestError {
	if h.opts.RequireTLS && !viaTLS(r, h.opts.TrustedProxies) {
		return refuse(http.StatusForbidden, ErrForbidden, "TLS required")
	}
	if len(h.opts.RequireIP) > 0 {
		ip := clientIP(r, h.opts.TrustedProxies)
		if ip == nil || !inAny(ip, h.opts.RequireIP) {
			return refuse(http.StatusForbidden, ErrForbidden, "client address %v is not allowed", ip)
		}
	}
	return nil
}
