// Package config is switchboard's one YAML schema: the Config struct (one
// struct per section), the embedded default configuration, Load, and Validate,
// which reports every problem at once with the file and key path.
//
// Each section's types and their validation share a file (config.go for the
// top level, listener.go, bridge.go, realm.go, auth.go); every key's default
// is a `default` struct tag beside its `mapstructure` tag (defaults.go);
// secrets are resolved by secrets.go, and the key files a config names are
// read once, by validation, and kept parsed beside their keys (files.go).
package config
