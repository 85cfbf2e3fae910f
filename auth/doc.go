// Package auth holds switchboard's authenticators: each implements nexus's
// Authenticator seam for one WAMP authentication method.
package auth
