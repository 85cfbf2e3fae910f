package config

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// leafDefaults returns the default tag of every key with a value of its own
// (not a section), by key path; keys without a tag map to "(none)".
func leafDefaults() map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	walkKeys(func(key string, _ reflect.Type, f reflect.StructField) {
		if section(f.Type) == reflect.Invalid {
			out[key] = f
		}
	})
	return out
}

// literalDefault returns the default a key's tag states as a value other
// than the zero value, normalized; ok is false for "-" and zero defaults.
func literalDefault(f reflect.StructField) (string, bool) {
	tag := f.Tag.Get(defaultTag)
	if tag == "-" {
		return "", false
	}
	v, err := parseDefault(f.Type, tag)
	if err != nil || v.IsZero() || (v.Kind() == reflect.Slice && v.Len() == 0) {
		return "", false
	}
	return normalize(tag), true
}

// normalize drops what differs between ways of writing one value: quotes,
// brackets, backquotes, spaces.
func normalize(s string) string {
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune("\"[]` ", r) {
			return -1
		}
		return r
	}, s)
}

// TestEveryKeyHasADefault fails when a key has no default tag (a value, ""
// for the zero value, or "-" for none) or a tag that does not parse.
func TestEveryKeyHasADefault(t *testing.T) {
	t.Parallel()
	for key, f := range leafDefaults() {
		tag, ok := f.Tag.Lookup(defaultTag)
		switch {
		case !ok:
			t.Errorf("%s (%s) has no `default` tag: add the default, `default:\"\"` for the zero value or `default:\"-\"` for none", key, f.Name)
		case tag == "-":
		default:
			if _, err := parseDefault(f.Type, tag); err != nil {
				t.Errorf("%s: default tag %q: %v", key, tag, err)
			}
		}
	}
}

// TestDefaultsFillEverySection: a config with every section enabled and no
// key set gets each tag's default; a key set in the file keeps its value.
func TestDefaultsFillEverySection(t *testing.T) {
	t.Parallel()
	var c Config
	c.Listeners = []Listener{{WebSocket: &WebSocket{}, RawSocket: &RawSocket{},
		Bridge: &Bridge{Keys: []BridgeKey{{}}, Webhooks: []Webhook{{}}, Forwards: []Forward{{}}, Callees: []HTTPCallee{{}}}}}
	c.Realms = []Realm{{Anonymous: &Anonymous{}, Auth: Auth{Anonymous: &Anonymous{}, Ticket: &TicketAuth{Principals: map[string]TicketPrincipal{"a": {}}},
		JWT: &JWTAuth{}, Webhook: &WebhookAuth{}, WAMPCRA: &WAMPCRAAuth{Users: map[string]CRAUser{"a": {}}},
		Cryptosign: &CryptosignAuth{Principals: map[string]CryptosignPrincipal{"a": {}}}, Dynamic: &DynamicAuth{}},
		Roles: []Role{{Permissions: []Permission{{}}}}, Options: RealmOptions{EventHistory: []EventHistory{{}}}}}
	c.Listeners[0].WebSocket.MaxMessageSize = 7
	set := map[string]bool{"listeners[0].websocket.max_message_size": true}
	if ps := c.applyDefaults(set); len(ps) > 0 {
		t.Fatal(ps)
	}
	if c.Listeners[0].WebSocket.MaxMessageSize != 7 {
		t.Errorf("a key set in the file was overwritten: %d", c.Listeners[0].WebSocket.MaxMessageSize)
	}
	checks := map[string]any{
		"shutdown_timeout":                         c.ShutdownTimeout.String(),
		"log.level":                                c.Log.Level,
		"metrics.enabled":                          c.Metrics.Enabled,
		"listeners[].rawsocket.max_message_size":   c.Listeners[0].RawSocket.MaxMessageSize,
		"listeners[].websocket.serializers":        strings.Join(c.Listeners[0].WebSocket.Serializers, ","),
		"listeners[].bridge.forwards[].timeout":    c.Listeners[0].Bridge.Forwards[0].Timeout.String(),
		"listeners[].bridge.callees[].timeout":     c.Listeners[0].Bridge.Callees[0].Timeout.String(),
		"realms[].auth.jwt.algorithms":             strings.Join(c.Realms[0].Auth.JWT.Algorithms, ","),
		"realms[].auth.webhook.forward_headers":    strings.Join(c.Realms[0].Auth.Webhook.ForwardHeaders, ","),
		"realms[].roles[].permissions[].match":     c.Realms[0].Roles[0].Permissions[0].Match,
		"realms[].roles[].authorizer_cache":        c.Realms[0].Roles[0].AuthorizerCache.String(),
		"realms[].options.event_history[].match":   c.Realms[0].Options.EventHistory[0].Match,
		"realms[].options.max_retained_bytes":      c.Realms[0].Options.MaxRetainedBytes,
		"listeners[].bridge.timestamp_delta_limit": c.Listeners[0].Bridge.TimestampDeltaLimit.String(),
	}
	leaves := leafDefaults()
	for key, got := range checks {
		v, err := parseDefault(leaves[key].Type, leaves[key].Tag.Get(defaultTag))
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		want := fmt.Sprint(v.Interface())
		if s, ok := v.Interface().([]string); ok {
			want = strings.Join(s, ",")
		}
		if fmt.Sprint(got) != want {
			t.Errorf("%s = %v, want the default %s", key, got, want)
		}
	}
}

// TestDefaultsMatchComments fails when a field's doc comment states another
// default than its tag ("Default 1048576." over `default:"4194304"`).
func TestDefaultsMatchComments(t *testing.T) {
	t.Parallel()
	comments := fieldComments(t)
	stated := regexp.MustCompile(`(?:^|[ .(])Default:? ([^;(]*)`)
	seen := map[string]bool{}
	walkKeys(func(key string, owner reflect.Type, f reflect.StructField) {
		want, ok := literalDefault(f)
		id := owner.Name() + "." + f.Name
		if section(f.Type) != reflect.Invalid || !ok || seen[id] {
			return
		}
		seen[id] = true
		comment := comments[id]
		for _, m := range stated.FindAllStringSubmatch(comment, -1) {
			if strings.HasPrefix(normalize(m[1]), want) {
				return
			}
		}
		t.Errorf("%s (%s): the comment does not say \"Default %s\", as the tag does: %q", key, id, f.Tag.Get(defaultTag), comment)
	})
}

// fieldComments returns the doc comment of every struct field of the
// package, joined into one line, by "Type.Field".
func fieldComments(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return false
			}
			for _, field := range st.Fields.List {
				text := strings.Join(strings.Fields(field.Doc.Text()), " ")
				for _, n := range field.Names {
					out[ts.Name.Name+"."+n.Name] = text
				}
			}
			return false
		})
	}
	return out
}

// TestDefaultsMatchDocs fails when docs/config.md gives a key another
// default than its tag.
func TestDefaultsMatchDocs(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{}
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\| ([^|]*) \\|")
	for _, m := range row.FindAllStringSubmatch(string(data), -1) {
		docs[m[1]] = normalize(m[2])
	}
	for key, f := range leafDefaults() {
		if want, ok := literalDefault(f); ok && docs[key] != want {
			t.Errorf("docs/config.md gives `%s` the default %q, the code %q", key, docs[key], f.Tag.Get(defaultTag))
		}
	}
}

// TestDefaultYAMLRepeatsNoDefault: the embedded default config states only
// what makes it what it is, no value that is already the key's default.
func TestDefaultYAMLRepeatsNoDefault(t *testing.T) {
	t.Parallel()
	var doc map[string]any
	if err := yaml.Unmarshal(defaultYAML, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(t reflect.Type, raw map[string]any, path string)
	walk = func(typ reflect.Type, raw map[string]any, path string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name := f.Tag.Get("mapstructure")
			v, ok := raw[name]
			if !f.IsExported() || !ok {
				continue
			}
			key := joinKey(path, name)
			switch section(f.Type) {
			case reflect.Struct:
				m, _ := v.(map[string]any)
				walk(f.Type, m, key)
			case reflect.Pointer:
				m, _ := v.(map[string]any)
				walk(f.Type.Elem(), m, key)
			case reflect.Slice:
				items, _ := v.([]any)
				for j, item := range items {
					m, _ := item.(map[string]any)
					walk(f.Type.Elem(), m, fmt.Sprintf("%s[%d]", key, j))
				}
			case reflect.Invalid:
				got := fmt.Sprint(v)
				if items, ok := v.([]any); ok {
					parts := make([]string, len(items))
					for j, item := range items {
						parts[j] = fmt.Sprint(item)
					}
					got = strings.Join(parts, ",")
				}
				if want, ok := literalDefault(f); ok && normalize(got) == want {
					t.Errorf("default.yaml sets %s to its default %s: leave it out", key, got)
				}
			}
		}
	}
	walk(reflect.TypeFor[Config](), doc, "")
}
