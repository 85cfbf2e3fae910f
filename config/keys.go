package config

import "reflect"

// Keys returns the path of every configuration key, with "[]" for list
// elements: "listeners[].websocket.path".
func Keys() []string {
	var out []string
	walkKeys(func(key string, _ reflect.Type, _ reflect.StructField) { out = append(out, key) })
	return out
}

// walkKeys calls fn for every key of the schema, sections first, with the
// struct type that holds the key's field.
func walkKeys(fn func(key string, owner reflect.Type, f reflect.StructField)) {
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			name := f.Tag.Get("mapstructure")
			if !f.IsExported() || name == "" {
				continue
			}
			key := prefix + name
			fn(key, t, f)
			switch section(f.Type) {
			case reflect.Struct:
				walk(f.Type, key+".")
			case reflect.Pointer:
				walk(f.Type.Elem(), key+".")
			case reflect.Slice:
				walk(f.Type.Elem(), key+"[].")
			case reflect.Map:
				walk(f.Type.Elem(), key+".<name>.")
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
}
