package state

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzWithSystem: for any JSON object, withSystem gives a JSON object with
// _key (and _rev) first and every member of the input unchanged.
func FuzzWithSystem(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, ` { "a" : [1,{"b":null}] } `, `{"holder":"m","epoch":3}`, `[]`, `"x"`, `{`} {
		f.Add([]byte(s), "leader", "_rev1")
	}
	f.Fuzz(func(t *testing.T, in []byte, key, rev string) {
		if !utf8.ValidString(key) || !utf8.ValidString(rev) {
			return // keys and revisions are ArangoDB's: valid UTF-8
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(in, &obj) != nil || obj == nil {
			return // withSystem takes marshalled values: only objects matter
		}
		if _, ok := obj["_key"]; ok {
			return
		}
		if _, ok := obj["_rev"]; ok {
			return
		}
		out, err := withSystem(json.RawMessage(in), key, rev)
		if err != nil {
			t.Fatalf("withSystem(%s): %v", in, err)
		}
		var got map[string]json.RawMessage
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("withSystem(%s) = %s: not JSON: %v", in, out, err)
		}
		var k string
		if err := json.Unmarshal(got["_key"], &k); err != nil || k != key {
			t.Fatalf("_key %s, want %q", got["_key"], key)
		}
		if !bytes.HasPrefix(out, []byte(`{"_key":`)) {
			t.Fatalf("_key is not first: %s", out)
		}
		if rev != "" {
			var r string
			if err := json.Unmarshal(got["_rev"], &r); err != nil || r != rev {
				t.Fatalf("_rev %s, want %q", got["_rev"], rev)
			}
		}
		for name, v := range obj {
			var a, b any
			_ = json.Unmarshal(v, &a)
			_ = json.Unmarshal(got[name], &b)
			if !jsonEqual(a, b) {
				t.Fatalf("member %q: %s became %s", name, v, got[name])
			}
		}
	})
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
