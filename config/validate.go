package config

import (
	"fmt"
	"strings"

	"github.com/gammazero/nexus/v3/wamp"
)

// problems collects problems with key paths.
type problems []Problem

func (ps *problems) add(key, format string, args ...any) {
	*ps = append(*ps, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
}

// Validate checks a configuration built in code (not read from a file), or
// changed since Parse, and returns every problem in one *Error, or nil. It
// reads the key files whose paths it has not read yet (see files.go); no
// defaults are applied to a configuration built in code.
func (c *Config) Validate() error {
	ps := c.validate(nil)
	if len(ps) == 0 {
		return nil
	}
	return &Error{File: "config", Problems: ps}
}

// validate checks c section by section; set holds the key paths a file set
// (nil for a configuration built in code).
func (c *Config) validate(set map[string]bool) []Problem {
	var ps problems
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		ps.add("log.level", "want debug|info|warn|error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		ps.add("log.format", "want text|json, got %q", c.Log.Format)
	}
	if c.ShutdownTimeout <= 0 && (set == nil || set["shutdown_timeout"]) {
		ps.add("shutdown_timeout", "want a positive duration, got %q", c.ShutdownTimeout.String())
	}
	if len(c.Listeners) == 0 {
		ps.add("listeners", "want at least one listener")
	}
	if c.Limits.MaxConnections < 0 {
		ps.add("limits.max_connections", "want a number >= 0 (0: no bound), got %d", c.Limits.MaxConnections)
	}
	if c.Limits.MaxHandshakes < 0 {
		ps.add("limits.max_handshakes", "want a number >= 0 (0: no bound), got %d", c.Limits.MaxHandshakes)
	}
	if c.Limits.MaxConnectionsPerIP < 0 {
		ps.add("limits.max_connections_per_ip", "want a number >= 0 (0: no bound), got %d", c.Limits.MaxConnectionsPerIP)
	}
	if c.Limits.MessageReadTimeout <= 0 && (set == nil || set["limits.message_read_timeout"]) {
		ps.add("limits.message_read_timeout", "want a positive duration, got %q", c.Limits.MessageReadTimeout.String())
	}
	if (c.Limits.MaxNestingDepth < 8 || c.Limits.MaxNestingDepth > MaxNestingDepthCeiling) && (set == nil || set["limits.max_nesting_depth"]) {
		ps.add("limits.max_nesting_depth", "want 8..%d, got %d", MaxNestingDepthCeiling, c.Limits.MaxNestingDepth)
	}
	if c.Limits.MaxMessageItems < 100 && (set == nil || set["limits.max_message_items"]) {
		ps.add("limits.max_message_items", "want at least 100, got %d", c.Limits.MaxMessageItems)
	}
	if c.Limits.MaxURILength < 64 && (set == nil || set["limits.max_uri_length"]) {
		ps.add("limits.max_uri_length", "want at least 64 bytes, got %d", c.Limits.MaxURILength)
	}
	if c.Limits.MaxOpeningMessageSize < 1024 && (set == nil || set["limits.max_opening_message_size"]) {
		ps.add("limits.max_opening_message_size", "want at least 1024 bytes, got %d", c.Limits.MaxOpeningMessageSize)
	}
	switch c.ShutdownMode {
	case ShutdownRestart, ShutdownGoodbye:
	default:
		ps.add("shutdown_mode", "want %q or %q, got %q", ShutdownRestart, ShutdownGoodbye, c.ShutdownMode)
	}
	if c.ShutdownCloseSpread < 0 {
		ps.add("shutdown_close_spread", "want a duration >= 0, got %q", c.ShutdownCloseSpread.String())
	}
	if c.ShutdownDrainDelay < 0 {
		ps.add("shutdown_drain_delay", "want a duration >= 0, got %q", c.ShutdownDrainDelay.String())
	}
	if c.Metrics.Enabled {
		if !strings.HasPrefix(c.Metrics.Path, "/") {
			ps.add("metrics.path", "want a path starting with /, got %q", c.Metrics.Path)
		}
		if l := c.MetricsListener(); l < 0 && c.Metrics.Listener != "" {
			ps.add("metrics.listener", "no websocket or bridge listener has address %q", c.Metrics.Listener)
		}
	}
	if n := c.AuthLimits.MaxFailuresPerMinute; n < 0 {
		ps.add("auth_limits.max_failures_per_minute", "want 0 (no limit) or more, got %d", n)
	}
	if d := c.AuthLimits.FailureDelay; d < 0 || d > MaxAuthFailureDelay {
		ps.add("auth_limits.failure_delay", "want a duration from 0s to %s, got %q", MaxAuthFailureDelay, d.String())
	}
	addresses := map[string]int{}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		key := fmt.Sprintf("listeners[%d]", i)
		c.validateListener(&ps, key, l, set)
		if l.MaxConnections < 0 {
			ps.add(key+".max_connections", "want a number >= 0 (0: no bound of its own), got %d", l.MaxConnections)
		}
		if l.Address != "" && !strings.HasSuffix(l.Address, ":0") {
			if first, dup := addresses[l.Address]; dup {
				ps.add(key+".address", "%q is also the address of listeners[%d]", l.Address, first)
			} else {
				addresses[l.Address] = i
			}
		}
	}
	c.validateCalleeRealms(&ps)
	c.validateCluster(&ps)
	if len(c.Realms) == 0 {
		ps.add("realms", "want at least one realm")
	}
	realmNames := map[string]int{}
	for i, r := range c.Realms {
		key := fmt.Sprintf("realms[%d]", i)
		validateRealm(&ps, key, r)
		if r.Name != "" {
			if first, dup := realmNames[r.Name]; dup {
				ps.add(key+".name", "duplicate realm %q (also realms[%d])", r.Name, first)
			} else {
				realmNames[r.Name] = i
			}
		}
	}
	return ps
}

// MetricsListener returns the index of the listener serving the metrics,
// or -1.
func (c *Config) MetricsListener() int {
	for i, l := range c.Listeners {
		if l.WebSocket == nil && l.Bridge == nil {
			continue
		}
		if c.Metrics.Listener == "" || c.Metrics.Listener == l.Address {
			return i
		}
	}
	return -1
}

func validateMatch(ps *problems, key, match string) bool {
	switch match {
	case MatchExact, MatchPrefix, MatchWildcard:
		return true
	}
	ps.add(key, "want exact|prefix|wildcard, got %q", match)
	return false
}

// validPattern checks a URI for its match policy with the loose WAMP rules;
// permissions are checked loosely whatever the realm's strict_uri.
func validPattern(uri, match string) bool {
	return wamp.URI(uri).ValidURI(false, match)
}
