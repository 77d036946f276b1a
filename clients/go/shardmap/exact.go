package shardmap

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
)

// jsonKeys are the keys of a wire struct's fields, as its tags spell them.
func jsonKeys(v any) []string {
	t := reflect.TypeOf(v)
	keys := make([]string, t.NumField())
	for i := range keys {
		keys[i], _, _ = strings.Cut(t.Field(i).Tag.Get("json"), ",")
	}
	return keys
}

var (
	mapKeys      = jsonKeys(wireMap{})
	endpointKeys = jsonKeys(wireEndpoint{})
	shardKeys    = jsonKeys(wireShard{})
)

// decodeExact decodes the JSON object raw into v, a pointer to a wire struct whose keys are keys,
// reading each key only as spelled. encoding/json alone matches keys case-insensitively (with
// Unicode folding: "VERSION", "ID" or "Ready" fill version, id and ready), while JSON.parse in the
// TypeScript client does not: there such a key is unknown, so a body without "version" is not a
// shard map and a "Ready": false does not make an owner unready. Both clients must read a map
// alike. A body whose every string is plainly no other spelling of a key (keyway's, always) takes
// the plain decode; any other drops the keys not spelled exactly first.
//
// A key given twice is read as JSON.parse reads it, the last value: encoding/json keeps the last
// too, but fails the whole decode on an earlier value of the wrong type, so such a body (a type
// error from the plain decode) is decoded again with each key once.
func decodeExact(raw []byte, v any, keys []string) error {
	var plainErr error
	if !mayFoldKey(raw, keys) {
		plainErr = json.Unmarshal(raw, v)
		var typeErr *json.UnmarshalTypeError
		if !errors.As(plainErr, &typeErr) {
			return plainErr
		}
		reflect.ValueOf(v).Elem().SetZero() // the first decode's fields, before the second fills them
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return cmp.Or(plainErr, err) // not an object: the plain decode names the wire type
	}
	if obj == nil { // null: nothing to fill, as json.Unmarshal leaves v
		return nil
	}
	exact := make(map[string]json.RawMessage, len(keys))
	for _, k := range keys {
		if value, ok := obj[k]; ok {
			exact[k] = value
		}
	}
	text, err := json.Marshal(exact)
	if err != nil {
		return err
	}
	return json.Unmarshal(text, v)
}

// mayFoldKey: some string of raw (a key or a value: it does not tell them apart) is another
// spelling of one of keys as encoding/json matches them, or holds an escape that might spell one.
func mayFoldKey(raw []byte, keys []string) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '"' {
			continue
		}
		start, end, escaped := i, i+1, false
		for end < len(raw) && raw[end] != '"' {
			if raw[end] == '\\' {
				escaped = true
				end++
			}
			end++
		}
		if end >= len(raw) {
			return false // not JSON: json.Unmarshal says so
		}
		token := raw[i+1 : end]
		i = end
		if escaped {
			var s string
			if json.Unmarshal(raw[start:end+1], &s) != nil {
				return true
			}
			token = []byte(s)
		}
		for _, k := range keys {
			// Unicode folding lets a key be up to 3 times its length in bytes ("K" as U+212A).
			if len(token) >= len(k) && len(token) <= 3*len(k) && bytes.EqualFold(token, []byte(k)) && string(token) != k {
				return true
			}
		}
	}
	return false
}
