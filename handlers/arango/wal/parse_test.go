package wal

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/dc2dc/dc2dc/events"
)

func TestParseMarkers(t *testing.T) {
	doc := `{"_key":"k1","_id":"orders/k1","_rev":"_l6zhVDW---","a":[1,2,{"b":"x"}],"big":1e400}`
	cases := []struct {
		line string
		want events.Event
	}{
		{`{"tick":"1","type":1100,"db":"test","data":{"database":337,"id":"337","name":"test"}}`,
			&events.DatabaseCreate{Database: "test", Data: json.RawMessage(`{"database":337,"id":"337","name":"test"}`)}},
		{`{"tick":"2","type":1101,"db":"test"}`, &events.DatabaseDrop{Database: "test"}},
		{`{"tick":"3","db":"shop","cuid":"c8010045/s8010046","type":2000,"data":{"name":"s8010046"}}`,
			&events.CollectionCreate{Database: "shop", CUID: "c8010045/s8010046", Data: json.RawMessage(`{"name":"s8010046"}`)}},
		{`{"tick":"4","type":2001,"db":"_system","cuid":"h5C3DDE5391BF/74577"}`,
			&events.CollectionDrop{Database: "_system", CUID: "h5C3DDE5391BF/74577"}},
		{`{"tick":"5","db":"shop","cuid":"c1/s2","type":2002,"data":{"name":"orders2"}}`,
			&events.CollectionRename{Database: "shop", CUID: "c1/s2", NewName: "orders2"}},
		{`{"tick":"6","db":"shop","cuid":"c1/s2","type":2003,"data":{"waitForSync":true}}`,
			&events.CollectionChange{Database: "shop", CUID: "c1/s2", Data: json.RawMessage(`{"waitForSync":true}`)}},
		{`{"tick":"7","type":2004,"db":"shop","cuid":"c1/s2"}`, &events.CollectionTruncate{Database: "shop", CUID: "c1/s2"}},
		{`{"tick":"8","type":2100,"db":"shop","cuid":"c1/s2","data":{"id":"77","type":"persistent","fields":["a"]}}`,
			&events.IndexCreate{Database: "shop", CUID: "c1/s2", Data: json.RawMessage(`{"id":"77","type":"persistent","fields":["a"]}`)}},
		{`{"tick":"9","type":2101,"db":"shop","cuid":"c1/s2","data":{"id":"77"}}`, &events.IndexDrop{Database: "shop", CUID: "c1/s2", IndexID: "77"}},
		{`{"tick":"10","type":2101,"db":"shop","cuid":"c1/s2","data":{"id":78}}`, &events.IndexDrop{Database: "shop", CUID: "c1/s2", IndexID: "78"}},
		{`{"tick":"11","db":"shop","cuid":"v1","data":{"type":"arangosearch"},"type":2110}`,
			&events.ViewCreate{Database: "shop", CUID: "v1", Data: json.RawMessage(`{"type":"arangosearch"}`)}},
		{`{"tick":"12","type":2111,"db":"shop","cuid":"v1"}`, &events.ViewDrop{Database: "shop", CUID: "v1"}},
		{`{"tick":"13","db":"shop","cuid":"v1","data":{"name":"v2"},"type":2112}`,
			&events.ViewChange{Database: "shop", CUID: "v1", Data: json.RawMessage(`{"name":"v2"}`)}},
		{`{"tick":"14","type":2200,"tid":"4711","db":"shop"}`, &events.TransactionStart{Database: "shop", TID: "4711"}},
		{`{"tick":"15","type":2201,"tid":"4711","db":"shop"}`, &events.TransactionCommit{Database: "shop", TID: "4711"}},
		{`{"tick":"16","type":2202,"tid":"4712","db":"shop"}`, &events.TransactionAbort{Database: "shop", TID: "4712"}},
		{`{"tick":"17","type":2300,"db":"shop","cuid":"c1/s2","tid":"0","data":` + doc + `}`,
			&events.Document{TID: "0", Key: "k1", Rev: "_l6zhVDW---", Doc: json.RawMessage(doc)}},
		{`{"tick":"18","type":2302,"db":"shop","cuid":"c1/s2","tid":"4711","data":{"_key":"k1","_rev":"_l6zhVDW--A"}}`,
			&events.Remove{TID: "4711", Key: "k1", Rev: "_l6zhVDW--A"}},
		{`{"tick":"19","type":2302,"db":"shop","cuid":"c1/s2","tid":"0","data":{"_key":"k2"}}`,
			&events.Remove{TID: "0", Key: "k2"}},
	}
	var body bytes.Buffer
	for _, tc := range cases {
		rec, err := ParseMarker([]byte(tc.line))
		if err != nil {
			t.Fatalf("%s: %v", tc.line, err)
		}
		if !reflect.DeepEqual(rec.Event, tc.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", tc.line, rec.Event, tc.want)
		}
		body.WriteString(tc.line)
		body.WriteByte('\n')
	}
	recs, err := Parse(body.Bytes(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(cases) {
		t.Fatalf("%d records, want %d", len(recs), len(cases))
	}
	for i, r := range recs {
		if r.Tick != uint64(i+1) {
			t.Errorf("record %d tick %d", i, r.Tick)
		}
	}
	// The document bytes are verbatim, down to a number Go cannot represent.
	if d := recs[16].Event.(*events.Document); string(d.Doc) != doc {
		t.Errorf("doc not verbatim: %s", d.Doc)
	}
}

func TestParseErrors(t *testing.T) {
	cases := map[string]string{
		`{"tick":"1","type":9999,"db":"x"}`:                                                        "unknown WAL marker type 9999",
		`{"tick":"1","type":2301,"db":"x"}`:                                                        "unknown WAL marker type 2301",
		`{"tick":"1","type":9001,"db":"x"}`:                                                        "unknown WAL marker type 9001",
		`{"type":2300}`:                                                                            "no tick",
		`{"tick":"abc","type":2300}`:                                                               "not a positive integer",
		`{"tick":"0","type":2300}`:                                                                 "not a positive integer",
		`{"tick":"1"}`:                                                                             "no type",
		`{"tick":"1","type":2300,"db":"x","cuid":"c","data":{"a":1}}`:                              "without _key",
		`{"tick":"1","type":2300,"db":"x","data":{"_key":"a"}}`:                                    "no cuid",
		`{"tick":"1","type":2300,"db":"x","cuid":"c"}`:                                             "no data",
		`{"tick":"1","type":2300,"db":"x","cuid":"c","data":[1]}`:                                  "not an object",
		`{"tick":"1","type":2200,"db":"x"}`:                                                        "without tid",
		`{"tick":"1","type":2002,"db":"x","cuid":"c","data":{}}`:                                   "without data.name",
		`{"tick":"1","type":2101,"db":"x","cuid":"c","data":{}}`:                                   "without data.id",
		`{"tick":"2","type":2001,"db":"x","cuid":"c"}{"tick":"2","type":2001,"db":"x","cuid":"c"}`: "does not follow",
		`{"tick":"1","type":2001,"db":"x","cuid":"c"} garbage`:                                     "malformed",
		`[1,2]`: "malformed",
	}
	for body, want := range cases {
		_, err := Parse([]byte(body), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", body, err, want)
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v does not match ErrMalformed", body, err)
		}
	}
	var ue *UnknownMarkerError
	if _, err := Parse([]byte(`{"tick":"5","type":1234}`), nil); !errors.As(err, &ue) || ue.Type != 1234 || ue.Tick != 5 {
		t.Errorf("unknown marker: %v", err)
	}
}

// TestParseFixtures parses the bodies ArangoDB 3.12.10 sent (pretty-printed
// by the documentation build, which Parse accepts as well).
func TestParseFixtures(t *testing.T) {
	for _, name := range []string{"RestWalAccessTailingSome_single", "RestWalAccessTailingBufferLimit_single"} {
		f := loadFixture(t, name)
		recs, err := Parse(f.body, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(recs) != 1 {
			t.Fatalf("%s: %d records", name, len(recs))
		}
		if _, ok := recs[0].Event.(*events.CollectionDrop); !ok {
			t.Errorf("%s: %#v", name, recs[0].Event)
		}
		if got := f.header.Get(HeaderLastIncluded); got == "" || recs[0].Tick == 0 {
			t.Errorf("%s: lastincluded %q tick %d", name, got, recs[0].Tick)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"tick":"17","type":2300,"db":"shop","cuid":"c1/s2","tid":"0","data":{"_key":"k1","_rev":"_l6zhVDW---","a":1}}` + "\n"))
	f.Add([]byte(`{"tick":"1","type":2200,"tid":"4711","db":"shop"}` + "\n" + `{"tick":"2","type":2302,"db":"shop","cuid":"c","tid":"4711","data":{"_key":"k"}}` + "\n"))
	f.Add([]byte(`{"tick":"5","type":2101,"db":"shop","cuid":"c1/s2","data":{"id":77}}`))
	f.Add([]byte(`{"tick":"5","type":2002,"db":"shop","cuid":"c1/s2","data":{"name":"x"}}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, body []byte) {
		if fast, ok, ferr := parseLines(body, nil); ok && ferr == nil {
			slow, serr := parseStream(body, nil)
			if serr != nil || len(slow) != len(fast) {
				t.Fatalf("line parser: %d records; stream parser: %d records, %v", len(fast), len(slow), serr)
			}
		}
		recs, err := Parse(body, nil)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not match ErrMalformed", err)
			}
			return
		}
		var prev uint64
		for _, r := range recs {
			if r.Tick <= prev || r.Event == nil || !r.Event.Kind().IsWALMarker() {
				t.Fatalf("bad record %+v after %d", r, prev)
			}
			prev = r.Tick
			if d, ok := r.Event.(*events.Document); ok && (d.Key == "" || !json.Valid(d.Doc)) {
				t.Fatalf("document without key or invalid bytes: %+v", d)
			}
		}
	})
}

// keyRevReference is the straightforward decoder-based KeyRev the fast
// scanner must agree with.
func keyRevReference(data []byte) (key, rev string, err error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", "", errors.New("not an object")
	}
	haveKey, haveRev := false, false
	for dec.More() && (!haveKey || !haveRev) {
		t, err := dec.Token()
		if err != nil {
			return "", "", err
		}
		switch t.(string) {
		case "_key":
			if err := dec.Decode(&key); err != nil {
				return "", "", err
			}
			haveKey = true
		case "_rev":
			if err := dec.Decode(&rev); err != nil {
				return "", "", err
			}
			haveRev = true
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return "", "", err
			}
		}
	}
	if key == "" {
		return "", "", errors.New("no _key")
	}
	return key, rev, nil
}

func FuzzKeyRev(f *testing.F) {
	f.Add([]byte(`{"_key":"k1","_id":"orders/k1","_rev":"_l6zhVDW---","a":[1,{"b":"}"}]}`))
	f.Add([]byte(` { "a" : "x\"y" , "_rev" : "r" , "_key" : "k\u00e9" } `))
	f.Add([]byte(`{"_key":1}`))
	f.Add([]byte(`{"x":{"_key":"inner"},"_key":"outer"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		k1, r1, err1 := KeyRev(data)
		if !json.Valid(data) {
			if err1 == nil {
				t.Fatalf("KeyRev accepted invalid JSON %q", data)
			}
			return
		}
		k2, r2, err2 := keyRevReference(data)
		if (err1 == nil) != (err2 == nil) || k1 != k2 || r1 != r2 {
			t.Fatalf("%q: fast (%q, %q, %v) vs reference (%q, %q, %v)", data, k1, r1, err1, k2, r2, err2)
		}
	})
}
