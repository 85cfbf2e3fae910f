// Package origins matches browser Origin headers against allow-lists of
// patterns with "*" globs, for the WebSocket endpoint and the HTTP bridge.
package origins

import (
	"net/url"
	"strings"
)

// Allowed reports whether origin (an Origin header, such as
// "https://app.example.com") matches one of patterns, case-insensitively.
// A pattern is matched against the whole origin ("https://*.example.com")
// or against its host ("*.example.com", "localhost:*"); "*" stands for any
// run of characters.
func Allowed(patterns []string, origin string) bool {
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
	return strings.HasSuffix(s, last)
}
