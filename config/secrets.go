package config

import (
	"fmt"
	"os"
	"strings"
)

// MinSecretLength is the shortest secret accepted: bridge secrets and
// bearer tokens, static tickets, WAMP-CRA secrets, webhook secrets.
const MinSecretLength = 16

// resolveSecrets reads bridge secrets given as "${NAME}" or secret_file.
// Parse runs it once, before validation; the values are never reported.
func (c *Config) resolveSecrets(lookupEnv LookupEnv) []Problem {
	var ps problems
	for i := range c.Realms {
		a := &c.Realms[i].Auth
		if t := a.Ticket; t != nil {
			for authid, p := range t.Principals {
				pkey := fmt.Sprintf("realms[%d].auth.ticket.principals.%s", i, authid)
				p.Ticket = secretValue(&ps, lookupEnv, pkey, "ticket", p.Ticket, p.TicketFile)
				t.Principals[authid] = p
			}
		}
		if j := a.JWT; j != nil {
			j.Secret = expandSecret(&ps, lookupEnv, fmt.Sprintf("realms[%d].auth.jwt.secret", i), j.Secret)
		}
		if w := a.WAMPCRA; w != nil {
			for authid, u := range w.Users {
				u.Secret = expandSecret(&ps, lookupEnv, fmt.Sprintf("realms[%d].auth.wampcra.users.%s.secret", i, authid), u.Secret)
				w.Users[authid] = u
			}
		}
	}
	for i := range c.Listeners {
		b := c.Listeners[i].Bridge
		if b == nil {
			continue
		}
		for j := range b.Keys {
			k := &b.Keys[j]
			kkey := fmt.Sprintf("listeners[%d].bridge.keys[%d]", i, j)
			k.Secret = secretValue(&ps, lookupEnv, kkey, "secret", k.Secret, k.SecretFile)
			k.BearerToken = expandSecret(&ps, lookupEnv, kkey+".bearer_token", k.BearerToken)
		}
		for j := range b.Webhooks {
			w := &b.Webhooks[j]
			w.GitHubSecret = expandSecret(&ps, lookupEnv, fmt.Sprintf("listeners[%d].bridge.webhooks[%d].github_secret", i, j), w.GitHubSecret)
		}
		for j := range b.Forwards {
			f := &b.Forwards[j]
			f.Secret = expandSecret(&ps, lookupEnv, fmt.Sprintf("listeners[%d].bridge.forwards[%d].secret", i, j), f.Secret)
		}
		for j := range b.Callees {
			c := &b.Callees[j]
			c.Secret = expandSecret(&ps, lookupEnv, fmt.Sprintf("listeners[%d].bridge.callees[%d].secret", i, j), c.Secret)
		}
	}
	return ps
}

// secretValue resolves a secret set as a value ("${NAME}" reads the
// environment) or as <name>_file, at key.<name>.
func secretValue(ps *problems, lookupEnv LookupEnv, key, name, value, file string) string {
	if file != "" {
		if value != "" {
			ps.add(key, "want %s or %s_file, not both", name, name)
			return ""
		}
		data, err := os.ReadFile(file)
		if err != nil {
			ps.add(key+"."+name+"_file", "cannot read: %v", err)
			return ""
		}
		return strings.TrimSpace(string(data))
	}
	return expandSecret(ps, lookupEnv, key+"."+name, value)
}

// expandSecret resolves a "${NAME}" value from the environment.
func expandSecret(ps *problems, lookupEnv LookupEnv, key, v string) string {
	name, ok := strings.CutPrefix(v, "${")
	if !ok || !strings.HasSuffix(name, "}") {
		return v
	}
	name = strings.TrimSuffix(name, "}")
	val, set := lookupEnv(name)
	if !set || val == "" {
		ps.add(key, "environment variable %s is not set", name)
		return ""
	}
	return val
}
