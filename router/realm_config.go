package router

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	nexusauth "github.com/gammazero/nexus/v3/router/auth"

	"github.com/switchboard-wamp/switchboard/auth"
	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/realms"
)

// realmFromConfig turns a realm's configuration into the realms package's
// definition, with its authenticators.
func (s *Server) realmFromConfig(r config.Realm) (realms.Realm, error) {
	out := realms.Realm{Name: r.Name, StrictURI: r.Options.StrictURI, EnableMetaKill: r.Options.EnableMetaKill}
	authenticators, err := authenticators(r, s.callIn(r.Name))
	if err != nil {
		return out, err
	}
	out.Authenticators = authenticators
	for _, role := range r.Roles {
		rr := realms.Role{Name: role.Name}
		if role.Authorizer != "" {
			rr.Authorizer = &realms.DynamicAuthorizer{Procedure: role.Authorizer, CacheTTL: role.AuthorizerCache,
				Call: realms.Caller(s.callIn(r.Name)), Timeout: 5 * time.Second}
		}
		for _, p := range role.Permissions {
			rr.Permissions = append(rr.Permissions, realms.Permission{
				URI:   p.URI,
				Match: p.Match,
				Allow: realms.Actions{
					Call: p.Allow.Call, Register: p.Allow.Register,
					Publish: p.Allow.Publish, Subscribe: p.Allow.Subscribe,
				},
				Disclose: realms.Disclose{Caller: p.Disclose.Caller, Publisher: p.Disclose.Publisher},
			})
		}
		out.Roles = append(out.Roles, rr)
	}
	return out, nil
}

// authenticators builds a realm's authentication methods; call reaches
// WAMP procedures of the realm (for the dynamic authenticator).
func authenticators(r config.Realm, call auth.Caller) ([]nexusauth.Authenticator, error) {
	var out []nexusauth.Authenticator
	a := r.Auth
	// The webhook or the dynamic authenticator decides, per method.
	deciders := map[string]auth.Decider{}
	if w := a.Webhook; w != nil {
		hook := &auth.Webhook{URL: w.URL, Realm: r.Name, ForwardHeaders: w.ForwardHeaders, Timeout: w.Timeout,
			Client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true},
				// A 307/308 would re-POST the client's ticket elsewhere: a
				// redirect is an answer (not 200), so a service failure.
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
		for _, m := range w.Methods {
			deciders[m] = hook
		}
	}
	if d := a.Dynamic; d != nil {
		dyn := &auth.Dynamic{Realm: r.Name, Procedure: d.Procedure, Timeout: d.Timeout, Call: call}
		for _, m := range d.Methods {
			deciders[m] = dyn
		}
	}
	switch {
	case deciders["anonymous"] != nil:
		out = append(out, &auth.Anonymous{Decider: deciders["anonymous"]})
	case r.Anonymous != nil:
		out = append(out, &auth.Anonymous{Role: r.Anonymous.Role})
	}
	if w := a.WAMPCRA; w != nil {
		users := map[string]auth.CRAUser{}
		for authid, u := range w.Users {
			users[authid] = auth.CRAUser{Secret: u.Secret, Role: u.Role, Salt: u.Salt, Iterations: u.Iterations, KeyLen: u.KeyLen}
		}
		out = append(out, auth.NewWAMPCRA(users, 10*time.Second))
	}
	if cs := a.Cryptosign; cs != nil {
		c := &auth.Cryptosign{Principals: map[string]auth.CryptosignPrincipal{}}
		for authid, p := range cs.Principals {
			cp := auth.CryptosignPrincipal{Role: p.Role}
			for _, k := range p.AuthorizedKeys {
				b, err := hex.DecodeString(k)
				if err != nil || len(b) != ed25519.PublicKeySize {
					return nil, fmt.Errorf("realm %s: cryptosign key of %s: not an Ed25519 public key", r.Name, authid)
				}
				cp.Keys = append(cp.Keys, ed25519.PublicKey(b))
			}
			c.Principals[authid] = cp
		}
		out = append(out, c)
	}
	if a.Ticket != nil || a.JWT != nil || deciders["ticket"] != nil {
		t := &auth.Ticket{Principals: map[string]auth.Principal{}}
		if a.Ticket != nil {
			for authid, p := range a.Ticket.Principals {
				t.Principals[authid] = auth.Principal{Ticket: p.Ticket, Role: p.Role}
			}
		}
		if j := a.JWT; j != nil {
			// The key files were read by config validation.
			v := &auth.JWTVerifier{Algorithms: j.Algorithms, Secret: []byte(j.Secret), Issuer: j.Issuer, Audience: j.Audience,
				AuthIDClaim: j.AuthIDClaim, RoleClaim: j.RoleClaim, DefaultRole: j.DefaultRole, Leeway: j.Leeway,
				PublicKey: j.PublicKey(), JWKS: j.JWKS()}
			t.JWT = v
		}
		t.Decider = deciders["ticket"]
		out = append(out, t)
	}
	return out, nil
}
