package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Every key's default is its field's `default` struct tag, beside its
// `mapstructure` tag, so that a renamed key keeps its default:
//
//   - `default:"10s"`, `default:"4194304"`, `default:"true"`: the value, as
//     in YAML; a list is comma-separated (`default:"json,msgpack,cbor"`).
//   - `default:""`: the zero value ("", false, 0, an empty list).
//   - `default:"-"`: no default. The key is required, or its default is
//     derived from other keys (deriveDefaults) or left to the package that
//     uses it; the field's comment says which.
//
// A test fails when a key has no `default` tag, when a tag does not parse,
// and when a tag disagrees with the field's comment or docs/config.md.
const defaultTag = "default"

// applyDefaults fills every key the file did not set with its default, in
// every section the file enables; set holds the key paths that were decoded,
// as mapstructure names them ("listeners[0].websocket.path"). An empty string
// counts as not set: no string key with a default means anything by "".
func (c *Config) applyDefaults(set map[string]bool) []Problem {
	var ps problems
	fillDefaults(&ps, reflect.ValueOf(c).Elem(), "", set)
	c.deriveDefaults()
	return ps
}

// fillDefaults applies the default tags of struct v, whose key path is path.
func fillDefaults(ps *problems, v reflect.Value, path string, set map[string]bool) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("mapstructure")
		if !f.IsExported() || name == "" {
			continue
		}
		key := joinKey(path, name)
		fv := v.Field(i)
		switch section(f.Type) {
		case reflect.Struct:
			fillDefaults(ps, fv, key, set)
		case reflect.Pointer:
			if !fv.IsNil() {
				fillDefaults(ps, fv.Elem(), key, set)
			}
		case reflect.Slice:
			for j := range fv.Len() {
				fillDefaults(ps, fv.Index(j), fmt.Sprintf("%s[%d]", key, j), set)
			}
		case reflect.Map:
			for _, k := range fv.MapKeys() {
				elem := reflect.New(f.Type.Elem()).Elem()
				elem.Set(fv.MapIndex(k))
				fillDefaults(ps, elem, fmt.Sprintf("%s[%s]", key, k.String()), set)
				fv.SetMapIndex(k, elem)
			}
		default:
			tag := f.Tag.Get(defaultTag)
			if tag == "-" || (set[key] && !(fv.Kind() == reflect.String && fv.String() == "")) {
				continue
			}
			d, err := parseDefault(f.Type, tag)
			if err != nil {
				// A bug in this package, which TestEveryKeyHasADefault catches.
				ps.add(key, "internal error: default %q: %v", tag, err)
				continue
			}
			fv.Set(d)
		}
	}
}

// section returns the kind of container a field of type t is (Struct,
// Pointer to a struct, Slice of structs, Map of structs), or Invalid for a
// key with a value of its own.
func section(t reflect.Type) reflect.Kind {
	switch {
	case t == durationType:
		return reflect.Invalid
	case t.Kind() == reflect.Struct:
		return reflect.Struct
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct:
		return reflect.Pointer
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		return reflect.Slice
	case t.Kind() == reflect.Map && t.Elem().Kind() == reflect.Struct:
		return reflect.Map
	}
	return reflect.Invalid
}

// parseDefault parses a default tag as a value of type t.
func parseDefault(t reflect.Type, tag string) (reflect.Value, error) {
	v := reflect.New(t).Elem()
	var err error
	switch {
	case t == durationType:
		var d time.Duration
		d, err = time.ParseDuration(tag)
		v.SetInt(int64(d))
	case t.Kind() == reflect.String:
		v.SetString(tag)
	case t.Kind() == reflect.Bool:
		var b bool
		b, err = strconv.ParseBool(tag)
		v.SetBool(b)
	case t.Kind() == reflect.Int:
		var n int
		n, err = strconv.Atoi(tag)
		v.SetInt(int64(n))
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		if tag != "" {
			v.Set(reflect.ValueOf(strings.Split(tag, ",")))
		}
	default:
		err = fmt.Errorf("no default tags for %s keys", t)
	}
	return v, err
}

// deriveDefaults fills the keys whose default is another key's value.
func (c *Config) deriveDefaults() {
	for i := range c.Realms {
		// auth.anonymous and the realm's anonymous are one setting.
		if r := &c.Realms[i]; r.Auth.Anonymous != nil && r.Anonymous == nil {
			r.Anonymous = r.Auth.Anonymous
		}
	}
	for _, l := range c.Listeners {
		b := l.Bridge
		if b == nil {
			continue
		}
		for j := range b.Keys {
			if b.Keys[j].AuthID == "" {
				b.Keys[j].AuthID = b.Keys[j].Key
			}
		}
		if b.Role == "" && len(b.Keys) == 0 {
			for _, r := range c.Realms {
				if r.Name == b.Realm && r.Anonymous != nil {
					b.Role = r.Anonymous.Role
				}
			}
		}
	}
}
