package bridge

import (
	"net/http"
	"net/url"
	"strings"
)

// checkSite refuses requests a browser sent on behalf of a page, unless the
// page's origin is allowed: the bridge is for backends, and a page on any
// site can make a browser POST to it (a no-cors fetch needs no preflight).
// Browsers send Origin with every POST, same-origin ones included, so an
// Origin is accepted only when it matches allowed; without one, a
// Sec-Fetch-Site of cross-site or same-site still marks a page's request.
// Backends send neither header.
func checkSite(r *http.Request, allowed []string) *requestError {
	if origin := r.Header.Get("Origin"); origin != "" {
		if originAllowed(allowed, origin) {
			return nil
		}
		return refuse(http.StatusForbidden, ErrOriginNotAllowed,
			"origin %q is not allowed: the bridge is for backends (listeners[].bridge.allowed_origins)", origin).counted(ReasonOrigin)
	}
	switch site := strings.ToLower(r.Header.Get("Sec-Fetch-Site")); site {
	case "cross-site", "same-site":
		return refuse(http.StatusForbidden, ErrOriginNotAllowed,
			"Sec-Fetch-Site %s: requests from web pages are not allowed", site).counted(ReasonOrigin)
	}
	return nil
}

// originAllowed matches origin against patterns with "*" globs, each
// against the whole origin or its host, case-insensitively, as
// websocket.allowed_origins does.
func originAllowed(patterns []string, origin string) bool {
	origin = strings.ToLower(origin)
	host := ""
	if u, err := url.Parse(origin); err == nil {
		host = u.Host
	}
	for _, p := range patterns {
		p = strings.ToLower(p)
		if globMatch(p, origin) || (host != "" && globMatch(p, host)) {
			return true
		}
	}
	return false
}

// globMatch matches s against pattern, where * stands for any run of
// characters.
func globMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, part := range parts[1 : len(parts)-1] {
		i := strings.Index(s, part)
		if i < 0 {
			return false
		}
		s = s[i+len(part):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}
