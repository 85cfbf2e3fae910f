package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts every environment variable that overrides a config key:
// SWITCHBOARD_LOG_LEVEL overrides log.level, SWITCHBOARD_LISTENERS_0_ADDRESS
// overrides listeners[0].address.
const EnvPrefix = "SWITCHBOARD_"

// DefaultName is the file name reported in problems with the embedded default.
const DefaultName = "(default config)"

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the embedded default configuration as YAML.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// Default returns the embedded default configuration, with environment
// overrides applied.
func Default() (*Config, error) {
	return Parse(DefaultName, defaultYAML, os.LookupEnv)
}

// Load reads, decodes and validates the YAML file at path, with environment
// overrides applied. Every problem found is reported in one *Error.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data, os.LookupEnv)
}

// LookupEnv looks up an environment variable, like os.LookupEnv.
type LookupEnv func(key string) (string, bool)

// Parse decodes and validates YAML data; name is the file name used in
// problems. lookupEnv supplies overrides (nil means none) and the values
// of "${NAME}" secrets (nil means the process environment).
func Parse(name string, data []byte, lookupEnv LookupEnv) (*Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return nil, &Error{File: name, Problems: []Problem{{Message: fmt.Sprintf("not valid YAML: %v", err)}}}
	}
	raw := v.AllSettings()
	if err := restoreKeyCase(raw, data); err != nil {
		return nil, &Error{File: name, Problems: []Problem{{Message: fmt.Sprintf("not valid YAML: %v", err)}}}
	}
	if ps := stringKeys(raw, ""); len(ps) > 0 {
		return nil, &Error{File: name, Problems: ps}
	}
	enableEmptySections(raw)
	if lookupEnv != nil {
		applyEnv(raw, reflect.TypeFor[Config](), EnvPrefix, lookupEnv)
	}

	var cfg Config
	var meta mapstructure.Metadata
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook:  mapstructure.ComposeDecodeHookFunc(durationHook, mapstructure.StringToSliceHookFunc(",")),
		ErrorUnused: true,
		Metadata:    &meta,
		Result:      &cfg,
	})
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var problems []Problem
	if err := dec.Decode(raw); err != nil {
		problems = decodeProblems(err)
	}
	set := make(map[string]bool, len(meta.Keys))
	for _, k := range meta.Keys {
		set[k] = true
	}
	problems = append(problems, cfg.applyDefaults(set)...)
	secretsEnv := lookupEnv
	if secretsEnv == nil {
		secretsEnv = os.LookupEnv
	}
	problems = append(problems, cfg.resolveSecrets(secretsEnv)...)
	for _, p := range cfg.validate(set) {
		if !coveredBy(p, problems) {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		return nil, &Error{File: name, Problems: problems}
	}
	return &cfg, nil
}

// coveredBy reports whether p is about a section that already has a decode
// problem inside it: a section that failed to decode is left half-filled, and
// complaining about that too would only confuse.
func coveredBy(p Problem, decodeProblems []Problem) bool {
	for _, d := range decodeProblems {
		if p.Key != "" && strings.HasPrefix(d.Key, p.Key+".") {
			return true
		}
	}
	return false
}

// restoreKeyCase puts back the user-chosen keys viper lowercases: the
// authids of realms[].auth.{ticket.principals,wampcra.users,cryptosign.principals}.
func restoreKeyCase(raw map[string]any, data []byte) error {
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return err
	}
	origRealms, _ := doc["realms"].([]any)
	realms, _ := raw["realms"].([]any)
	for i := range min(len(realms), len(origRealms)) {
		for _, p := range [][2]string{{"ticket", "principals"}, {"wampcra", "users"}, {"cryptosign", "principals"}} {
			orig := childMap(childMap(childMap(origRealms[i], "auth"), p[0]), p[1])
			dst := childMap(childMap(realms[i], "auth"), p[0])
			if orig != nil && dst != nil {
				dst[p[1]] = orig
			}
		}
	}
	return nil
}

func childMap(v any, key string) map[string]any {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	c, _ := m[key].(map[string]any)
	return c
}

// enableEmptySections turns "websocket:" (YAML null) into an empty section, so
// that naming a transport enables it with defaults.
func enableEmptySections(raw map[string]any) {
	listeners, _ := raw["listeners"].([]any)
	for _, l := range listeners {
		m, ok := l.(map[string]any)
		if !ok {
			continue
		}
		for _, key := range []string{"websocket", "rawsocket"} {
			if v, ok := m[key]; ok && v == nil {
				m[key] = map[string]any{}
			}
		}
	}
}

var durationType = reflect.TypeFor[time.Duration]()

// durationHook decodes durations from strings only ("10s"), so that a bare
// number is not silently taken as nanoseconds.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType {
		return data, nil
	}
	s, ok := data.(string)
	if !ok {
		return nil, fmt.Errorf("want a duration like \"10s\", got %s", describe(data))
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return nil, fmt.Errorf("want a duration like \"10s\", got %q", s)
	}
	return d, nil
}

// applyEnv overrides values of raw from environment variables named after
// the key path of every scalar in the schema t. List elements are reached
// by index (SWITCHBOARD_REALMS_0_NAME) for the elements the file has.
func applyEnv(raw map[string]any, t reflect.Type, prefix string, lookupEnv LookupEnv) {
	for i := range t.NumField() {
		f := t.Field(i)
		key := f.Tag.Get("mapstructure")
		if !f.IsExported() || key == "" {
			continue
		}
		env := prefix + strings.ToUpper(key)
		ft := f.Type
		switch {
		case ft.Kind() == reflect.Struct && ft != durationType:
			sub, ok := raw[key].(map[string]any)
			if !ok {
				sub = map[string]any{}
			}
			applyEnv(sub, ft, env+"_", lookupEnv)
			if len(sub) > 0 {
				raw[key] = sub
			}
		case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct:
			// Optional sections are only overridden where the file enables them.
			if sub, ok := raw[key].(map[string]any); ok {
				applyEnv(sub, ft.Elem(), env+"_", lookupEnv)
			}
		case ft.Kind() == reflect.Map:
			// Maps keyed by user data (principals) have no fixed key paths.
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			items, _ := raw[key].([]any)
			for j, item := range items {
				if sub, ok := item.(map[string]any); ok {
					applyEnv(sub, ft.Elem(), fmt.Sprintf("%s_%d_", env, j), lookupEnv)
				}
			}
		default:
			if v, ok := lookupEnv(env); ok {
				raw[key] = envValue(v, ft)
			}
		}
	}
}

// envValue converts an environment string to the kind of its key; a string
// that does not convert is left as it is for the decoder to report.
func envValue(v string, t reflect.Type) any {
	switch t.Kind() {
	case reflect.Bool:
		if b, err := strconv.ParseBool(v); err == nil {
			return b
		}
	case reflect.Int, reflect.Int64:
		if t == durationType {
			return v
		}
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return v
}

// stringKeys rewrites, in place and at every depth, the YAML mappings whose
// keys are not all strings (`123: {...}` under users, `{0}`) into mappings
// by the keys' text, which is what a key means in this schema; two keys with
// one text are a problem. The decoder would panic on them.
func stringKeys(v any, path string) []Problem {
	var ps []Problem
	switch m := v.(type) {
	case map[string]any:
		for k, child := range m {
			if conv, ok := child.(map[any]any); ok {
				child = convertKeys(conv, joinKey(path, k), &ps)
				m[k] = child
			}
			ps = append(ps, stringKeys(child, joinKey(path, k))...)
		}
	case []any:
		for i, child := range m {
			p := fmt.Sprintf("%s[%d]", path, i)
			if conv, ok := child.(map[any]any); ok {
				child = convertKeys(conv, p, &ps)
				m[i] = child
			}
			ps = append(ps, stringKeys(child, p)...)
		}
	}
	return ps
}

// convertKeys returns m keyed by the text of its keys.
func convertKeys(m map[any]any, path string, ps *[]Problem) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		key := fmt.Sprint(k)
		if _, dup := out[key]; dup {
			*ps = append(*ps, Problem{Key: joinKey(path, key), Message: "duplicate key"})
			continue
		}
		out[key] = v
	}
	return out
}

// decodeProblems turns mapstructure's errors into problems with key paths.
func decodeProblems(err error) []Problem {
	var out []Problem
	var walk func(error)
	walk = func(err error) {
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range joined.Unwrap() {
				walk(e)
			}
			return
		}
		de, ok := err.(*mapstructure.DecodeError)
		if !ok {
			if inner := errors.Unwrap(err); inner != nil {
				walk(inner)
				return
			}
			out = append(out, Problem{Message: err.Error()})
			return
		}
		inner := de.Unwrap()
		if msg := inner.Error(); strings.HasPrefix(msg, "has invalid keys: ") {
			for _, k := range strings.Split(strings.TrimPrefix(msg, "has invalid keys: "), ", ") {
				out = append(out, Problem{Key: joinKey(de.Name(), k), Message: "unknown key"})
			}
			return
		}
		out = append(out, Problem{Key: de.Name(), Message: typeMessage(inner, isSecretKey(de.Name()))})
	}
	walk(err)
	return out
}

func joinKey(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// secretKeys are the last components of the keys whose values are secrets.
var secretKeys = map[string]bool{"secret": true, "ticket": true, "bearer_token": true, "github_secret": true}

// isSecretKey reports whether the value at key path is a secret, which no
// problem may repeat.
func isSecretKey(key string) bool {
	last := key[strings.LastIndexAny(key, ".]")+1:]
	return secretKeys[last]
}

// typeMessage rewrites a mapstructure type error as "want X, got Y"; for a
// secret, Y names the kind of value only (a mistyped secret, such as a bare
// number, is still a secret).
func typeMessage(err error, secret bool) string {
	show := describe
	if secret {
		show = describeKind
	}
	var ute *mapstructure.UnconvertibleTypeError
	if errors.As(err, &ute) {
		return fmt.Sprintf("want %s, got %s", kindName(ute.Expected.Type()), show(ute.Value))
	}
	var pe *mapstructure.ParseError
	if errors.As(err, &pe) {
		return fmt.Sprintf("want %s, got %s", kindName(pe.Expected.Type()), show(pe.Value))
	}
	msg := err.Error()
	if got, ok := strings.CutPrefix(msg, "source data must be an array or slice, got "); ok {
		return "want a list, got " + kindWord(got)
	}
	if got, ok := strings.CutPrefix(msg, "expected a map or struct, got "); ok {
		return "want a mapping, got " + kindWord(strings.Trim(got, "'\""))
	}
	return msg
}

// kindWord names a reflect kind as YAML users know it.
func kindWord(kind string) string {
	switch kind {
	case "map", "struct":
		return "a mapping"
	case "slice", "array":
		return "a list"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	}
	return kind
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Uint32:
		return "an integer"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return "a mapping"
	}
	return t.String()
}

// describeKind names the kind of a value without showing it.
func describeKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case nil:
		return "nothing"
	case bool:
		return "true or false"
	case int, int64, uint64, float64:
		return "a number (quote it)"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return "another kind of value"
}

func describe(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("%q", v)
	case nil:
		return "nothing"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	default:
		return fmt.Sprintf("%v", v)
	}
}
