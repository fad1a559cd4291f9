package wal

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/dc2dc/dc2dc/events"
)

// slowMarker is decodeMarker's reference: encoding/json alone.
func slowMarker(raw []byte) (marker, error) {
	var m marker
	var jm jsonMarker
	if err := json.Unmarshal(raw, &jm); err != nil {
		return m, err
	}
	if jm.Tick != nil {
		m.tick, m.hasTick = []byte(*jm.Tick), true
	}
	if jm.Type != nil {
		m.typ, m.hasType = *jm.Type, true
	}
	m.db, m.cuid, m.TID, m.Data = []byte(jm.DB), []byte(jm.CUID), jm.TID, jm.Data
	return m, nil
}

func sameMarker(a, b marker) bool {
	return bytes.Equal(a.tick, b.tick) && a.hasTick == b.hasTick && a.typ == b.typ && a.hasType == b.hasType &&
		bytes.Equal(a.db, b.db) && bytes.Equal(a.cuid, b.cuid) && bytes.Equal(a.TID, b.TID) && bytes.Equal(a.Data, b.Data) &&
		(a.TID == nil) == (b.TID == nil) && (a.Data == nil) == (b.Data == nil)
}

func TestDecodeMarkerMatchesEncodingJSON(t *testing.T) {
	for _, in := range markerSeeds {
		checkDecodeMarker(t, []byte(in))
	}
}

func checkDecodeMarker(t *testing.T, raw []byte) {
	t.Helper()
	want, werr := slowMarker(raw)
	var got marker
	gerr := decodeMarker(raw, &got)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%q: decodeMarker error %v, encoding/json error %v", raw, gerr, werr)
	}
	if werr == nil && !sameMarker(got, want) {
		t.Fatalf("%q:\n got %+v\nwant %+v", raw, got, want)
	}
	if werr != nil && gerr.Error() != werr.Error() {
		t.Fatalf("%q: error %q, want encoding/json's %q", raw, gerr, werr)
	}
}

var markerSeeds = []string{
	`{"tick":"17","type":2300,"db":"shop","cuid":"c1/s2","tid":"0","data":{"_key":"k1","_rev":"_l6zhVDW---","a":1}}`,
	` { "tick" : "1" , "type" : 2200 , "tid" : "4711" , "db" : "shop" } `,
	`{"tick":"5","type":2101,"db":"shop","cuid":"c1/s2","data":{"id":77}}`,
	`{"TICK":"5","type":2101}`,
	`{"tick":"5","Type":2101,"type":7}`,
	`{"tick":"\u0035","type":2101}`,
	`{"ti\u0063k":"5","type":2101}`,
	`{"tick":5,"type":2101}`,
	`{"tick":"5","type":"2101"}`,
	`{"tick":"5","type":2101.0}`,
	`{"tick":"5","type":1e3}`,
	`{"tick":"5","type":-7}`,
	`{"tick":"5","type":99999999999999999999999}`,
	`{"tick":"5","type":null,"db":null,"cuid":null,"tid":null,"data":null}`,
	`{"tick":"5","tick":"6","data":[1],"data":{"b":2}}`,
	`{"tick":"5","db":"sh\xffop"}`,
	`{"tick":"5","db":"schön"}`,
	`{"tick":"5","ſ":1,"tıck":"9"}`,
	`{"tick":"5"`,
	`[1]`,
	`"x"`,
	``,
	`{}`,
	`{"tick":"5"}x`,
	`{"tick":"5","data":{"a":"}\"{"}}`,
}

func FuzzDecodeMarker(f *testing.F) {
	for _, s := range markerSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkDecodeMarker(t, raw) })
}

var validSeeds = []string{
	`{"a":[1,-0,0.5,-1.25e+10,1E-3,true,false,null,"x\"\\\/\b\f\n\r\t\u00e9"],"b":{}}`,
	` [ ] `, `{}`, `""`, `"abcdefghijklmnopqrstuvwxyz0123456789"`, `"abcdefgh\u12"`, `"abcdefgh` + "\x01" + `"`,
	"\"\xff\xfeabcdefgh\"", `01`, `1.`, `1e`, `-`, `tru`, `nul`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{1:2}`,
	`[1 2]`, `"\x"`, "\"\t\"", `1 2`, ``, ` `, `{"a":"b"}}`,
}

func FuzzValid(f *testing.F) {
	for _, s := range validSeeds {
		f.Add([]byte(s))
	}
	for _, s := range markerSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := valid(b), json.Valid(b); got != want {
			t.Fatalf("valid(%q) = %v, json.Valid = %v", b, got, want)
		}
	})
}

func TestValidMatchesEncodingJSON(t *testing.T) {
	deep := func(n int, open, close string) string {
		var b bytes.Buffer
		for range n {
			b.WriteString(open)
		}
		for range n {
			b.WriteString(close)
		}
		return b.String()
	}
	cases := append([]string{deep(10000, "[", "]"), deep(10001, "[", "]"), deep(10001, `{"a":`, "}")}, validSeeds...)
	for _, s := range cases {
		if got, want := valid([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("valid(%.40q…) = %v, json.Valid = %v", s, got, want)
		}
	}
}

// TestParseDetachesFromBody: changing the body after Parse changes no record.
func TestParseDetachesFromBody(t *testing.T) {
	body := []byte(`{"tick":"1","type":2300,"db":"shop","cuid":"c1/s2","tid":"0","data":{"_key":"k1","_rev":"r","a":1}}` + "\n" +
		`{"tick":"2","type":2000,"db":"shop","cuid":"c1/s2","data":{"name":"s2"}}` + "\n" +
		`{"tick":"3","type":2300,"db":"shop","cuid":"c1/s2","tid":"0","data":{"_key":"k2","_rev":"r","b":2}}` + "\n")
	recs, err := Parse(body, nil)
	if err != nil || len(recs) != 3 {
		t.Fatal(len(recs), err)
	}
	for i := range body {
		body[i] = 'X'
	}
	d1, d2 := recs[0].Event.(*events.Document), recs[2].Event.(*events.Document)
	c := recs[1].Event.(*events.CollectionCreate)
	if string(d1.Doc) != `{"_key":"k1","_rev":"r","a":1}` || string(d2.Doc) != `{"_key":"k2","_rev":"r","b":2}` || string(c.Data) != `{"name":"s2"}` {
		t.Fatalf("records changed with the body: %s %s %s", d1.Doc, d2.Doc, c.Data)
	}
	if cap(d1.Doc) != len(d1.Doc) {
		t.Fatal("a document's slice reaches into the next one")
	}
}
