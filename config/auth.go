package config

import (
	"crypto"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
)

// Auth lists a realm's authentication methods; several may be on at once.
type Auth struct {
	// Anonymous admits clients that do not authenticate (authmethod
	// anonymous). Same as the realm's anonymous key.
	Anonymous *Anonymous `mapstructure:"anonymous"`
	// Ticket admits static principals with their tickets (authmethod
	// ticket).
	Ticket *TicketAuth `mapstructure:"ticket"`
	// JWT admits tickets that are JWTs signed by the web app (authmethod
	// ticket, tried after the static principals).
	JWT *JWTAuth `mapstructure:"jwt"`
	// Webhook asks the web app, forwarding the WebSocket upgrade's headers
	// (its session cookie), whether and as what to admit a client.
	Webhook *WebhookAuth `mapstructure:"webhook"`
	// WAMPCRA admits users by WAMP challenge-response (authmethod wampcra).
	WAMPCRA *WAMPCRAAuth `mapstructure:"wampcra"`
	// Cryptosign admits principals holding an Ed25519 key (authmethod
	// cryptosign).
	Cryptosign *CryptosignAuth `mapstructure:"cryptosign"`
	// Dynamic asks a WAMP procedure (Crossbar's dynamic authenticator).
	Dynamic *DynamicAuth `mapstructure:"dynamic"`
}

// DynamicAuth is Crossbar's dynamic authenticator: the router calls
// procedure(realm, authid, details) and the answer (a role, or
// {role, authid?, extra?}) admits the client; an error refuses it.
type DynamicAuth struct {
	// Procedure is registered by your backend. Required. Give only that
	// backend's role the register permission on it.
	Procedure string `mapstructure:"procedure" default:"-"`
	// Methods are the HELLO authmethods it decides: ticket and/or
	// anonymous. Default [ticket].
	Methods []string `mapstructure:"methods" default:"ticket"`
	// Timeout bounds the call. Default "5s".
	Timeout time.Duration `mapstructure:"timeout" default:"5s"`
}

// WAMPCRAAuth holds WAMP-CRA users.
type WAMPCRAAuth struct {
	// Users maps authid to its secret and role.
	Users map[string]CRAUser `mapstructure:"users"`
}

// CRAUser is one WAMP-CRA user.
type CRAUser struct {
	// Secret is the shared secret; with salt, the derived key that
	// `switchboard hash-secret` prints. "${NAME}" reads the environment.
	// Required.
	Secret string `mapstructure:"secret" default:"-"`
	// Role of the user. Required.
	Role string `mapstructure:"role" default:"-"`
	// Salt, Iterations and KeyLen are the PBKDF2 parameters of a salted
	// secret, sent in the challenge. Default: unsalted (iterations 1000,
	// keylen 32 when salted).
	Salt       string `mapstructure:"salt" default:""`
	Iterations int    `mapstructure:"iterations" default:"-"`
	KeyLen     int    `mapstructure:"keylen" default:"-"`
}

// CryptosignAuth holds Ed25519 principals.
type CryptosignAuth struct {
	// Principals maps authid to its keys and role.
	Principals map[string]CryptosignPrincipal `mapstructure:"principals"`
}

// CryptosignPrincipal is one Ed25519 principal.
type CryptosignPrincipal struct {
	// AuthorizedKeys are hex Ed25519 public keys (64 hex digits), as
	// `switchboard keygen` prints. Required.
	AuthorizedKeys []string `mapstructure:"authorized_keys" default:"-"`
	// Role of the principal. Required.
	Role string `mapstructure:"role" default:"-"`
}

// TicketAuth holds static ticket principals.
type TicketAuth struct {
	// Principals maps authid to its ticket and role.
	Principals map[string]TicketPrincipal `mapstructure:"principals"`
}

// TicketPrincipal is one static principal.
type TicketPrincipal struct {
	// Ticket is the secret; "${NAME}" reads the environment. Required unless
	// ticket_file is set.
	Ticket string `mapstructure:"ticket" default:"-"`
	// TicketFile reads the ticket from a file. Default "".
	TicketFile string `mapstructure:"ticket_file" default:""`
	// Role of the principal. Required; one of the realm's roles.
	Role string `mapstructure:"role" default:"-"`
}

// JWTAuth verifies JWT tickets.
type JWTAuth struct {
	// Algorithms allowed, from HS256, HS384, HS512, RS256, ES256, EdDSA.
	// Default [HS256].
	Algorithms []string `mapstructure:"algorithms" default:"HS256"`
	// Secret is the HMAC key for HS* algorithms; "${NAME}" reads the
	// environment. At least 32 characters.
	Secret string `mapstructure:"secret" default:""`
	// PublicKeyFile is a PEM public key for RS256, ES256 or EdDSA.
	PublicKeyFile string `mapstructure:"public_key_file" default:""`
	// JWKSFile is a JSON Web Key Set; a token's "kid" picks the key.
	// Default "".
	JWKSFile string `mapstructure:"jwks_file" default:""`
	// publicKey and jwks are what validation read from the files.
	publicKey *fromFiles[crypto.PublicKey]
	jwks      *fromFiles[map[string]crypto.PublicKey]
	// Issuer, when set, must equal the token's iss. Default "".
	Issuer string `mapstructure:"issuer" default:""`
	// Audience, when set, must be in the token's aud. Default "".
	Audience string `mapstructure:"audience" default:""`
	// AuthIDClaim names the claim that is the session's authid. Default "sub".
	AuthIDClaim string `mapstructure:"authid_claim" default:"sub"`
	// RoleClaim names the claim that is the session's role. Default "role".
	RoleClaim string `mapstructure:"role_claim" default:"role"`
	// DefaultRole is the role of tokens without the role claim. Default ""
	// (such tokens are refused).
	DefaultRole string `mapstructure:"default_role" default:""`
	// Leeway tolerates clock skew for exp and nbf. Default "30s".
	Leeway time.Duration `mapstructure:"leeway" default:"30s"`
}

// WebhookAuth asks the web app over HTTP.
type WebhookAuth struct {
	// URL receives POST {realm, authid, authmethod, ticket?, session,
	// transport: {peer, headers}}. Required.
	URL string `mapstructure:"url" default:"-"`
	// Methods are the HELLO authmethods the webhook decides: anonymous
	// and/or ticket. Default [ticket].
	Methods []string `mapstructure:"methods" default:"ticket"`
	// ForwardHeaders are the upgrade request headers sent along. Default
	// [Cookie, Authorization].
	ForwardHeaders []string `mapstructure:"forward_headers" default:"Cookie,Authorization"`
	// Timeout bounds the request; a timeout rejects the client. Default "3s".
	Timeout time.Duration `mapstructure:"timeout" default:"3s"`
}

// Anonymous configures anonymous authentication for a realm.
type Anonymous struct {
	// Role is the role given to anonymous sessions. Required; must be one of
	// the realm's roles.
	Role string `mapstructure:"role" default:"-"`
}

// JWTAlgorithms are the JWT signing algorithms switchboard verifies.
var JWTAlgorithms = []string{"HS256", "HS384", "HS512", "RS256", "ES256", "EdDSA"}

// MinJWTSecretLength is the shortest HMAC secret accepted for JWTs.
const MinJWTSecretLength = 32

// requireRole reports a role that is missing or not one of the realm's.
func requireRole(ps *problems, key, role string, hasRole func(string) bool) {
	if role == "" {
		ps.add(key, "required")
	} else if !hasRole(role) {
		ps.add(key, "role %q is not defined in the realm's roles", role)
	}
}

func validateAuth(ps *problems, key string, a Auth, hasRole func(string) bool) {
	if t := a.Ticket; t != nil {
		for authid, p := range t.Principals {
			pkey := fmt.Sprintf("%s.ticket.principals.%s", key, authid)
			if p.Ticket == "" {
				ps.add(pkey+".ticket", "required (or ticket_file)")
			} else if len(p.Ticket) < MinSecretLength {
				// The value itself is never printed.
				ps.add(pkey+".ticket", "too short: want at least %d characters", MinSecretLength)
			}
			requireRole(ps, pkey+".role", p.Role, hasRole)
		}
	}
	if w := a.WAMPCRA; w != nil {
		for authid, u := range w.Users {
			ukey := fmt.Sprintf("%s.wampcra.users.%s", key, authid)
			if u.Secret == "" {
				ps.add(ukey+".secret", "required")
			} else if len(u.Secret) < MinSecretLength {
				ps.add(ukey+".secret", "too short: want at least %d characters", MinSecretLength)
			}
			requireRole(ps, ukey+".role", u.Role, hasRole)
			if u.Iterations < 0 || u.KeyLen < 0 {
				ps.add(ukey, "iterations and keylen must not be negative")
			}
		}
	}
	if cs := a.Cryptosign; cs != nil {
		for authid, p := range cs.Principals {
			pkey := fmt.Sprintf("%s.cryptosign.principals.%s", key, authid)
			if len(p.AuthorizedKeys) == 0 {
				ps.add(pkey+".authorized_keys", "want at least one hex Ed25519 public key")
			}
			for i, k := range p.AuthorizedKeys {
				if b, err := hex.DecodeString(k); err != nil || len(b) != 32 {
					ps.add(fmt.Sprintf("%s.authorized_keys[%d]", pkey, i), "want 64 hex digits (an Ed25519 public key), got %q", k)
				}
			}
			requireRole(ps, pkey+".role", p.Role, hasRole)
		}
	}
	if j := a.JWT; j != nil {
		jkey := key + ".jwt"
		var hmacAlg, keyAlg bool
		for i, alg := range j.Algorithms {
			switch {
			case !slices.Contains(JWTAlgorithms, alg):
				ps.add(fmt.Sprintf("%s.algorithms[%d]", jkey, i), "want one of %s, got %q", strings.Join(JWTAlgorithms, "|"), alg)
			case strings.HasPrefix(alg, "HS"):
				hmacAlg = true
			default:
				keyAlg = true
			}
		}
		if len(j.Algorithms) == 0 {
			ps.add(jkey+".algorithms", "want at least one algorithm")
		}
		if hmacAlg && len(j.Secret) < MinJWTSecretLength {
			ps.add(jkey+".secret", "HS* algorithms need a secret of at least %d characters", MinJWTSecretLength)
		}
		if keyAlg {
			if j.PublicKeyFile == "" && j.JWKSFile == "" {
				ps.add(jkey+".public_key_file", "public_key_file or jwks_file required for RS256, ES256 and EdDSA")
			}
		}
		j.read(ps, jkey)
		if j.AuthIDClaim == "" {
			ps.add(jkey+".authid_claim", "required")
		}
		if j.DefaultRole != "" {
			requireRole(ps, jkey+".default_role", j.DefaultRole, hasRole)
		}
		if j.Leeway < 0 {
			ps.add(jkey+".leeway", "want a duration >= 0, got %q", j.Leeway.String())
		}
	}
	if d := a.Dynamic; d != nil {
		dkey := key + ".dynamic"
		if !wamp.URI(d.Procedure).ValidURI(false, "") {
			ps.add(dkey+".procedure", "want a procedure URI, got %q", d.Procedure)
		}
		for i, m := range d.Methods {
			if m != "anonymous" && m != "ticket" {
				ps.add(fmt.Sprintf("%s.methods[%d]", dkey, i), "want anonymous|ticket, got %q", m)
			}
		}
		if d.Timeout <= 0 {
			ps.add(dkey+".timeout", "want a positive duration, got %q", d.Timeout.String())
		}
		if w := a.Webhook; w != nil {
			for _, m := range d.Methods {
				if slices.Contains(w.Methods, m) {
					ps.add(dkey+".methods", "%s is also decided by auth.webhook: keep one", m)
				}
			}
		}
	}
	if w := a.Webhook; w != nil {
		wkey := key + ".webhook"
		if u, err := url.Parse(w.URL); w.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ps.add(wkey+".url", "want an http:// or https:// URL, got %q", w.URL)
		}
		if len(w.Methods) == 0 {
			ps.add(wkey+".methods", "want anonymous and/or ticket")
		}
		for i, m := range w.Methods {
			if m != "anonymous" && m != "ticket" {
				ps.add(fmt.Sprintf("%s.methods[%d]", wkey, i), "want anonymous|ticket, got %q", m)
			}
		}
		if w.Timeout <= 0 {
			ps.add(wkey+".timeout", "want a positive duration, got %q", w.Timeout.String())
		}
	}
}
