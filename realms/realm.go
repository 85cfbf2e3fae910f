package realms

import (
	nexusrouter "github.com/gammazero/nexus/v3/router"
	nexusauth "github.com/gammazero/nexus/v3/router/auth"
	"github.com/gammazero/nexus/v3/wamp"
)

// Realm is one realm's definition.
type Realm struct {
	// Name is the realm URI.
	Name string
	// Authenticators admit sessions; none means nobody can join.
	Authenticators []nexusauth.Authenticator
	// Roles are the realm's roles.
	Roles []Role
	// StrictURI enforces strict URIs in messages.
	StrictURI bool
	// EnableMetaKill offers wamp.session.kill, kill_by_authid and
	// kill_by_authrole.
	EnableMetaKill bool
}

// NexusConfig returns the nexus configuration that serves r, enforcing
// authz (built with NewAuthorizer(r.Roles)) for calls and registrations.
func (r Realm) NexusConfig(authz *Authorizer) *nexusrouter.RealmConfig {
	return &nexusrouter.RealmConfig{
		URI:            wamp.URI(r.Name),
		StrictURI:      r.StrictURI,
		AllowDisclose:  true, // the authorizer decides disclosure per role
		Authenticators: r.Authenticators,
		Authorizer:     authz,
		// Session meta events and procedures report the spec's details only.
		MetaStrict:     true,
		EnableMetaKill: r.EnableMetaKill,
	}
}
