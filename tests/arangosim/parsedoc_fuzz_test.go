package arangosim

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// parseDocOpRef is parseDocOp as it was before it kept the user attributes as raw
// bytes: FuzzParseDocOp checks that both read every object the same way.
func (col *Collection) parseDocOpRef(kind opKind, raw []byte, keyHint string, o writeOptions) *docOp {
	op := &docOp{kind: kind, key: keyHint}
	k := jsonKind(raw)
	if kind == opRemove && k == 's' {
		s, err := unquote(raw)
		if err != nil {
			op.err = newErr(http.StatusBadRequest, errNumDocumentHandleBad, "illegal document identifier")
			return op
		}
		if i := strings.IndexByte(s, '/'); i >= 0 {
			if s[:i] != col.CurrentName() {
				op.err = notFoundErr() // a handle of another collection
				return op
			}
			s = s[i+1:]
		}
		op.key = s
		return op
	}
	if k != 'o' {
		op.err = newErr(http.StatusBadRequest, errNumDocumentTypeInvalid, "invalid document type")
		return op
	}
	fs, err := objectFields(raw)
	if err != nil {
		op.err = newErr(http.StatusBadRequest, errNumCorruptedJSON, "invalid JSON object")
		return op
	}
	attrs := fs[:0:0]
	for _, f := range fs {
		switch f.Key {
		case "_key":
			s, err := unquote(f.Val)
			if err != nil || jsonKind(f.Val) != 's' {
				op.err = errIllegalKey()
				return op
			}
			if keyHint == "" {
				op.key = s
			}
		case "_id":
		case "_rev":
			if s, err := unquote(f.Val); err == nil && s != "" {
				v, ok := DecodeRev(s)
				if !ok {
					if o.IsRestore {
						op.err = newErr(http.StatusBadRequest, errNumDocumentRevBad, "illegal document revision")
						return op
					}
					v = ^uint64(0) // matches no stored revision
				}
				op.hasRev, op.rev = true, v
			}
		case "_from", "_to":
			if col.Type == 3 {
				s, err := unquote(f.Val)
				if err != nil || !validHandle(s) {
					op.err = newErr(http.StatusBadRequest, errNumInvalidEdgeAttr, "edge attribute missing or invalid")
					return op
				}
				if f.Key == "_from" {
					op.from = s
				} else {
					op.to = s
				}
				op.edgeIn = true
			} else {
				attrs = append(attrs, f)
			}
		default:
			attrs = append(attrs, f)
		}
	}
	op.fields = attrs
	if col.Type == 3 && kind != opRemove && kind != opUpdate && (op.from == "" || op.to == "") {
		op.err = newErr(http.StatusBadRequest, errNumInvalidEdgeAttr, "edge attribute missing or invalid")
	}
	return op
}

func FuzzParseDocOp(f *testing.F) {
	for _, s := range []string{`{}`, `{"_key":"a","b":1}`, `{"b":1,"_key":"a","c":2}`, `{"_key":"a","_id":"x/a","_rev":"_abc","pad":"x","ts":1}`,
		`{"_from":"a/b","_to":"c/d","x":[1,{"y":2}]}`, `{"_rev":"!!","a":1}`, `{ "a" : 1 , "b":2}`, `{"\u005fkey":"k","é":1,"a<b":2}`,
		`{"a":1,"_rev":"","b":2}`, `{"_key":1}`, `{"_from":"bad","a":1}`, `{"a":1,"a":2}`} {
		f.Add([]byte(s), uint8(0))
	}
	f.Fuzz(func(t *testing.T, b []byte, flags uint8) {
		if ok, _ := validateJSON(b); !ok || jsonKind(b) != 'o' {
			return
		}
		col := &Collection{Type: 2}
		if flags&1 != 0 {
			col.Type = 3
		}
		kind := []opKind{opInsert, opReplace, opUpdate}[int(flags>>1)%3]
		o := writeOptions{IsRestore: flags&8 != 0}
		hint := ""
		if flags&16 != 0 {
			hint = "hint"
		}
		got, want := col.parseDocOp(kind, b, hint, o), col.parseDocOpRef(kind, b, hint, o)
		if (got.err == nil) != (want.err == nil) || (got.err != nil && (got.err.Num != want.err.Num || got.err.Message != want.err.Message)) {
			t.Fatalf("%s: error %v, want %v", b, got.err, want.err)
		}
		if got.err != nil {
			return
		}
		if got.key != want.key || got.hasRev != want.hasRev || got.rev != want.rev || got.from != want.from || got.to != want.to || got.edgeIn != want.edgeIn {
			t.Fatalf("%s: op %+v, want %+v", b, got, want)
		}
		if a, w := got.userAttrs(col), appendFields(nil, want.fields); !bytes.Equal(a, w) {
			t.Fatalf("%s: attrs %s, want %s (verbatim %v)", b, a, w, got.attrsOK)
		}
		if fs, w := got.userFields(col), want.fields; len(fs) != len(w) {
			t.Fatalf("%s: %d fields, want %d", b, len(fs), len(w))
		}
	})
}

// TestParseDocOpVerbatim: what the loader and dc2dc send is taken as it is (no copy).
func TestParseDocOpVerbatim(t *testing.T) {
	col := &Collection{Type: 2}
	for _, s := range []string{`{"_key":"k","pad":"x","ts":1}`, `{"_key":"k","_id":"c/k","_rev":"_abc","a":{"b":[1]}}`, `{"a":1,"b":2,"_key":"k"}`} {
		op := col.parseDocOp(opInsert, []byte(s), "", writeOptions{})
		if op.err != nil || !op.attrsOK || !strings.Contains(s, string(op.attrs)) {
			t.Errorf("%s: err %v, verbatim %v, attrs %s", s, op.err, op.attrsOK, op.attrs)
		}
	}
	op := col.parseDocOp(opInsert, []byte(`{"a":1,"_key":"k","b":2}`), "", writeOptions{})
	if op.attrsOK || string(op.userAttrs(col)) != `"a":1,"b":2` {
		t.Errorf("split attributes: verbatim %v, attrs %s", op.attrsOK, op.userAttrs(col))
	}
}
