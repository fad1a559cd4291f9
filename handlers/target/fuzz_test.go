package target

import (
	"encoding/json"
	"strings"
	"testing"
)

func FuzzConflictingKey(f *testing.F) {
	f.Add("unique constraint violated - in index idx_1 of type persistent over 'u'; conflicting key: abc")
	f.Add("unique constraint violated")
	f.Add("conflicting key: ")
	f.Fuzz(func(t *testing.T, msg string) {
		k, ok := conflictingKey(msg)
		if ok && (k == "" || !strings.Contains(msg, k)) {
			t.Fatalf("conflictingKey(%q) = %q", msg, k)
		}
	})
}

func FuzzRecordDecode(f *testing.F) {
	f.Add(`{"_key":"pos:s:d:1:0","_rev":"_x","sync":"s","shard":"d/1/0","epoch":"3","tick":"18446744073709551615","sub":2,"leader":"PRMR-1","partition":3,"offset":9,"updatedAt":"2026-11-25T18:00:00Z"}`)
	f.Add(`{"shard":"d//0","epoch":"x"}`)
	f.Fuzz(func(t *testing.T, s string) {
		var w wireRecord
		if json.Unmarshal([]byte(s), &w) != nil {
			return
		}
		rec, err := w.record()
		if err != nil {
			return
		}
		// What decodes re-encodes to the same record.
		p := &Positions{}
		var w2 wireRecord
		if err := json.Unmarshal(p.wire("k", rec), &w2); err != nil {
			t.Fatal(err)
		}
		rec2, err := w2.record()
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		rec.UpdatedAt, rec2.UpdatedAt = rec.UpdatedAt.UTC(), rec2.UpdatedAt.UTC()
		if !rec.UpdatedAt.Equal(rec2.UpdatedAt) {
			t.Fatalf("updatedAt %v vs %v", rec.UpdatedAt, rec2.UpdatedAt)
		}
		rec.UpdatedAt = rec2.UpdatedAt
		if rec != rec2 {
			t.Fatalf("round trip %+v → %+v", rec, rec2)
		}
	})
}

func FuzzParseItems(f *testing.F) {
	f.Add(`[{"_key":"a"},{"error":true,"errorNum":1210,"errorMessage":"x"}]`, 2)
	f.Add(`{}`, 1)
	f.Fuzz(func(t *testing.T, body string, n int) {
		items, err := parseItems(Request{}, &Response{Body: []byte(body)}, n)
		if err == nil && len(items) != n {
			t.Fatalf("%d items for n=%d", len(items), n)
		}
	})
}

// FuzzOpKey: the fast key reader agrees with a full parse whenever the
// document is valid JSON with a string _key.
func FuzzOpKey(f *testing.F) {
	f.Add(`{"_key":"abc","_rev":"_x"}`)
	f.Add(`{"_key":"a\"b"}`)
	f.Add(`{"_key":"a\u0041"}`)
	f.Add(`{"x":1,"_key":"k"}`)
	f.Fuzz(func(t *testing.T, doc string) {
		var v struct {
			Key *string `json:"_key"`
		}
		if json.Unmarshal([]byte(doc), &v) != nil || v.Key == nil {
			return
		}
		// Only documents with one field that encoding/json takes for _key
		// (it matches names case-insensitively and keeps the last).
		var m map[string]json.RawMessage
		if json.Unmarshal([]byte(doc), &m) != nil {
			return
		}
		n := 0
		for k := range m {
			if strings.EqualFold(k, "_key") {
				n++
			}
		}
		if n != 1 || strings.Count(doc, `_key"`) != 1 {
			return
		}
		if got := opKey(op{doc: []byte(doc)}); got != *v.Key {
			t.Fatalf("opKey(%s) = %q, want %q", doc, got, *v.Key)
		}
	})
}
