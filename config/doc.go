// Package config is switchboard's one YAML schema: the Config struct (one
// struct per section), the embedded default configuration, Load, and Validate,
// which reports every problem at once with the file and key path.
package config
