package router

import (
	nexusauth "github.com/gammazero/nexus/v3/router/auth"

	"github.com/switchboard-wamp/switchboard/auth"
)

// guardAuthenticator is what nexus calls for one of a realm's
// authenticators: refusals are counted (switchboard_auth_failures_total)
// and failed attempts per address are limited (auth_limits), except for
// anonymous joins that no webhook or dynamic authenticator decides, which
// check no credential.
func (s *Server) guardAuthenticator(realm string, a nexusauth.Authenticator) nexusauth.Authenticator {
	counted := countingAuthenticator{Authenticator: a, failures: s.metrics.AuthFailures, realm: realm}
	if anon, ok := a.(*auth.Anonymous); ok && anon.Decider == nil {
		return counted
	}
	method := a.AuthMethod()
	throttled := s.metrics.AuthThrottled.WithLabelValues(realm, method)
	return &auth.Limited{
		Authenticator: counted,
		Limiter:       s.authLimiter,
		OnThrottled:   func(string) { throttled.Inc() },
		OnBlocked: func(addr string) {
			// Once per address and window; the attempts refused later are
			// counted by the metric only. Never the credentials.
			s.log.Warn("failed authentications limited: further attempts are refused unchecked for up to a minute",
				"remote_addr", addr, "realm", realm, "authmethod", method)
		},
	}
}
