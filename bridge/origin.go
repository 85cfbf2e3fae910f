package bridge

import (
	"net/http"
	"strings"

	"github.com/switchboard-wamp/switchboard/origins"
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
		if origins.Allowed(allowed, origin) {
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
