package arangosim

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func FuzzObjectFields(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":{"b":[1,2,{"c":"}"}]},"d":"x\"y"}`, `{ "k" : null , "z":true}`, `{"a":`, `[1]`, `{"\u0041":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fs, err := objectFields(b)
		var want map[string]any
		if json.Unmarshal(b, &want) != nil {
			return // invalid input: any answer but a panic is fine
		}
		if err != nil {
			t.Fatalf("valid object %q rejected: %v", b, err)
		}
		got := map[string]any{}
		for _, fl := range fs {
			var v any
			if err := json.Unmarshal(fl.Val, &v); err != nil {
				t.Fatalf("member %q value %q invalid: %v", fl.Key, fl.Val, err)
			}
			got[fl.Key] = v
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("objectFields(%q) = %v, want %v", b, got, want)
		}
		// Re-rendering gives the same object.
		var again map[string]any
		if err := json.Unmarshal(fieldsToObject(fs), &again); err != nil || !reflect.DeepEqual(again, want) {
			t.Fatalf("fieldsToObject round trip of %q: %v %v", b, again, err)
		}
	})
}

func FuzzArrayElems(f *testing.F) {
	for _, s := range []string{`[]`, `[1,"a",{"b":[2]}]`, `[ 1 , 2 ]`, `[`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		elems, err := arrayElems(b)
		var want []any
		if json.Unmarshal(b, &want) != nil {
			return
		}
		if err != nil {
			t.Fatalf("valid array %q rejected: %v", b, err)
		}
		if len(elems) != len(want) {
			t.Fatalf("arrayElems(%q) has %d elements, want %d", b, len(elems), len(want))
		}
		for i, e := range elems {
			var v any
			if err := json.Unmarshal(e, &v); err != nil || !reflect.DeepEqual(v, want[i]) {
				t.Fatalf("element %d of %q = %q", i, b, e)
			}
		}
	})
}

func FuzzDecodeRev(f *testing.F) {
	for _, s := range []string{"_l6zhVDW---", "-", "", "9999999999999", "_mfNigde---"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := DecodeRev(s)
		if !ok {
			return
		}
		// Leading '-' digits are zeros: the canonical encoding drops them.
		if got, ok2 := DecodeRev(EncodeRev(v)); v != 0 && (!ok2 || got != v) {
			t.Fatalf("round trip of %q: %d → %q → %d", s, v, EncodeRev(v), got)
		}
	})
}

func FuzzSplitDBPath(f *testing.F) {
	for _, s := range []string{"/_db/x/_api/version", "/_api/version", "/_db/%2F/a", "/_db//", "/_db/a%zz/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		db, rest, ok := splitDBPath(p)
		if ok && (db == "" || len(rest) == 0 || rest[0] != '/') {
			t.Fatalf("splitDBPath(%q) = %q, %q", p, db, rest)
		}
	})
}

func TestRevCodecMatchesGoDriver(t *testing.T) {
	// Values from ArangoDB 3.12.10 captures: consecutive revisions of one batch.
	a, _ := DecodeRev("_l6zhVTu---")
	b, _ := DecodeRev("_l6zhVTu--_")
	c, _ := DecodeRev("_l6zhVTu--A")
	if b != a+1 || c != a+2 {
		t.Fatalf("consecutive revisions decode to %d %d %d", a, b, c)
	}
	if EncodeRev(a) != "_l6zhVTu---" || EncodeRev(0) != "" {
		t.Fatalf("EncodeRev(%d) = %q", a, EncodeRev(a))
	}
	if _, ok := DecodeRev("abc def"); ok {
		t.Fatal("space accepted")
	}
}

func TestMergePatch(t *testing.T) {
	old, _ := objectFields([]byte(`{"a":1,"o":{"x":1,"y":2},"n":3}`))
	patch, _ := objectFields([]byte(`{"a":2,"o":{"y":null,"z":3},"n":null,"new":true}`))
	cases := []struct {
		keepNull, merge bool
		want            string
	}{
		{true, true, `{"a":2,"o":{"x":1,"y":null,"z":3},"n":null,"new":true}`},
		{false, true, `{"a":2,"o":{"x":1,"z":3},"new":true}`},
		{false, false, `{"a":2,"o":{"z":3},"new":true}`},
		{true, false, `{"a":2,"o":{"y":null,"z":3},"n":null,"new":true}`},
	}
	for _, tc := range cases {
		got, err := mergePatch(old, patch, tc.keepNull, tc.merge)
		if err != nil || string(fieldsToObject(got)) != tc.want {
			t.Errorf("keepNull=%v mergeObjects=%v: %s, want %s (%v)", tc.keepNull, tc.merge, fieldsToObject(got), tc.want, err)
		}
	}
}

func FuzzValidateJSON(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `{"a":1}`, ` [1, 2.5e-3, -0, "x\"y\\u00e9", true, false, null] `, `{"a":`, `[01]`, `"\u12G4"`,
		"\"a\tb\"", `1.`, `-`, `1e+`, `{"a" : {"b":[{}]}}`, `tru`, `nulls`, "\"\xff\xfe\"", `"abcdefghijklmnop\"qrstuvwx"`, `"abcdefgh\\"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		valid, compact := validateJSON(b)
		if want := json.Valid(b); valid != want {
			t.Fatalf("validateJSON(%q) = %v, json.Valid = %v", b, valid, want)
		}
		if !valid {
			return
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			t.Fatalf("json.Compact(%q): %v", b, err)
		}
		if isCompact := bytes.Equal(buf.Bytes(), b); compact != isCompact {
			t.Fatalf("validateJSON(%q) compact = %v, json.Compact changes it: %v", b, compact, !isCompact)
		}
	})
}

func TestValidateJSONDepth(t *testing.T) {
	for _, n := range []int{maxJSONDepth - 1, maxJSONDepth, maxJSONDepth + 1} {
		b := []byte(strings.Repeat("[", n) + strings.Repeat("]", n))
		if got, want := func() bool { v, _ := validateJSON(b); return v }(), json.Valid(b); got != want {
			t.Errorf("depth %d: validateJSON %v, json.Valid %v", n, got, want)
		}
		o := []byte(strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n))
		if got, want := func() bool { v, _ := validateJSON(o); return v }(), json.Valid(o); got != want {
			t.Errorf("object depth %d: validateJSON %v, json.Valid %v", n, got, want)
		}
	}
}
