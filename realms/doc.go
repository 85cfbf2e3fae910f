// Package realms turns realm definitions into nexus realm configurations:
// roles, URI permissions with exact/prefix/wildcard matching (most specific
// wins), identity disclosure, and the authorizer that enforces them.
package realms
