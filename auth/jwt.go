package auth

import (
	"crypto"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWTVerifier checks JWT tickets issued by the web app.
type JWTVerifier struct {
	Algorithms []string
	Secret     []byte           // HS*
	PublicKey  crypto.PublicKey // RS256, ES256, EdDSA
	// JWKS holds keys by "kid" (from a JWKS file); a token's kid header
	// picks one.
	JWKS        map[string]crypto.PublicKey
	Issuer      string
	Audience    string
	AuthIDClaim string
	RoleClaim   string
	DefaultRole string
	Leeway      time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Identity is who a verified credential says the client is.
type Identity struct {
	AuthID string
	Role   string
	Extra  map[string]any
}

// Verify checks the token's signature, algorithm, expiry, issuer and
// audience, and returns the identity its claims give.
func (v *JWTVerifier) Verify(token string) (Identity, error) {
	opts := []jwt.ParserOption{jwt.WithValidMethods(v.Algorithms), jwt.WithLeeway(v.Leeway), jwt.WithExpirationRequired()}
	if v.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.Issuer))
	}
	if v.Audience != "" {
		opts = append(opts, jwt.WithAudience(v.Audience))
	}
	if v.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(v.Now))
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		switch t.Method.(type) {
		case *jwt.SigningMethodHMAC:
			if len(v.Secret) == 0 {
				return nil, errors.New("no secret for HMAC tokens")
			}
			return v.Secret, nil
		default:
			if kid, _ := t.Header["kid"].(string); kid != "" && v.JWKS != nil {
				if key, ok := v.JWKS[kid]; ok {
					return key, nil
				}
				return nil, fmt.Errorf("unknown key id %q", kid)
			}
			if v.PublicKey == nil {
				return nil, errors.New("no public key")
			}
			return v.PublicKey, nil
		}
	}, opts...)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: invalid JWT: %w", ErrAuthFailed, err)
	}
	authid, _ := claims[v.AuthIDClaim].(string)
	if authid == "" {
		return Identity{}, fmt.Errorf("%w: invalid JWT: no %q claim", ErrAuthFailed, v.AuthIDClaim)
	}
	role, _ := claims[v.RoleClaim].(string)
	if role == "" {
		role = v.DefaultRole
	}
	if role == "" {
		return Identity{}, fmt.Errorf("%w: invalid JWT: no %q claim and no default role", ErrAuthFailed, v.RoleClaim)
	}
	return Identity{AuthID: authid, Role: role}, nil
}
