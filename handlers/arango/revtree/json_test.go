package revtree

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	driver "github.com/arangodb/go-driver"
)

func TestJSONRoundTrip(t *testing.T) {
	tr, _ := New(2, LowerBound)
	_ = tr.Insert(LowerBound+1, LowerBound+100, LowerBound+100000)
	for _, onlyPopulated := range []bool{false, true} {
		data := tr.AppendJSON(nil, onlyPopulated)
		back, err := Parse(data)
		if err != nil {
			t.Fatalf("onlyPopulated=%v: %v\n%.300s", onlyPopulated, err, data)
		}
		if !back.Equal(tr) {
			t.Fatalf("onlyPopulated=%v: round trip changed the tree", onlyPopulated)
		}
	}
	full := string(tr.AppendJSON(nil, false))
	prefix := `{"version":1,"maxDepth":2,"rangeMax":"` + EncodeHLC(tr.RangeMax()) + `","rangeMin":"` +
		EncodeHLC(tr.RangeMin()) + `","initialRangeMin":"_bpq8a-----","count":3,"hash":`
	if !strings.HasPrefix(full, prefix) {
		t.Fatalf("serialized form starts %.200s, want %s", full, prefix)
	}
	if !strings.Contains(string(tr.AppendJSON(nil, true)), `,{},`) {
		t.Fatal("onlyPopulated does not write {} for empty buckets")
	}
	var via Tree
	if err := json.Unmarshal(full2(t, tr), &via); err != nil || !via.Equal(tr) {
		t.Fatalf("json.Unmarshal into Tree: %v", err)
	}
}

func full2(t *testing.T, tr *Tree) []byte {
	t.Helper()
	b, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGoDriverReadsOurTree decodes our serialization with go-driver's
// RevisionTree type, which is how dc2dc and other clients read it.
func TestGoDriverReadsOurTree(t *testing.T) {
	tr, _ := New(DefaultDepth, LowerBound)
	_ = tr.Insert(LowerBound+7, LowerBound+1<<20)
	var d driver.RevisionTree
	if err := json.Unmarshal(tr.AppendJSON(nil, false), &d); err != nil {
		t.Fatal(err)
	}
	// go-driver v1.6.9 declares rangeMin/rangeMax/initialRangeMin with the
	// ",string" option on a type with its own UnmarshalJSON: encoding/json
	// then hands it the unquoted text, and it strips the first and last
	// characters again, so those three values come out wrong for any server.
	// Only the other attributes can be compared.
	if d.Version != 1 || d.MaxDepth != 6 || d.Count != 2 || d.Hash != tr.RootHash() || len(d.Nodes) != 262144 {
		t.Fatalf("go-driver read version %d depth %d count %d hash %d nodes %d", d.Version, d.MaxDepth, d.Count, d.Hash, len(d.Nodes))
	}
	var sum uint64
	for i, nd := range d.Nodes {
		if nd.Count != tr.Node(uint64(i)).Count || nd.Hash != tr.Node(uint64(i)).Hash {
			t.Fatalf("go-driver node %d = %+v", i, nd)
		}
		sum += nd.Count
	}
	if sum != 2 {
		t.Fatalf("go-driver nodes count %d revisions", sum)
	}
	if brokenMin := uint64(d.RangeMin); brokenMin == tr.RangeMin() {
		t.Log("go-driver now decodes rangeMin correctly; the workaround note above can go")
	}
}

func TestParseAcceptsSkipAndShortArrays(t *testing.T) {
	tr, _ := New(2, 0)
	_ = tr.Insert(130, 131, 4000)
	n2 := tr.Node(2)
	n62 := tr.Node(62)
	doc := `{"version":1,"maxDepth":2,"rangeMax":"` + EncodeHLC(4096) + `","rangeMin":"","initialRangeMin":"",` +
		`"count":3,"hash":` + u(tr.RootHash()) + `,"nodes":[{},{"skip":1},{"count":2,"hash":` + u(n2.Hash) +
		`},{"skip":59},{"count":1,"hash":` + u(n62.Hash) + `}]}`
	back, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(tr) {
		t.Fatal("skip/short form parsed to a different tree")
	}
}

func u(v uint64) string { b, _ := json.Marshal(v); return string(b) }

func TestParseRejects(t *testing.T) {
	tr, _ := New(2, 0)
	_ = tr.Insert(5)
	good := string(tr.AppendJSON(nil, true))
	h := u(tr.RootHash())
	nodesAt := strings.Index(good, `"nodes":`)
	if nodesAt < 0 {
		t.Fatalf("no nodes key in %s", good)
	}
	cases := map[string]string{
		"empty":             ``,
		"not json":          `{"version":`,
		"array":             `[]`,
		"null":              `null`,
		"trailing":          good + `{}`,
		"version 2":         strings.Replace(good, `"version":1`, `"version":2`, 1),
		"version string":    strings.Replace(good, `"version":1`, `"version":"1"`, 1),
		"depth 1":           strings.Replace(good, `"maxDepth":2`, `"maxDepth":1`, 1),
		"depth 9":           strings.Replace(good, `"maxDepth":2`, `"maxDepth":9`, 1),
		"depth negative":    strings.Replace(good, `"maxDepth":2`, `"maxDepth":-2`, 1),
		"depth float":       strings.Replace(good, `"maxDepth":2`, `"maxDepth":2.5`, 1),
		"bad rangeMax":      strings.Replace(good, `"rangeMax":"`, `"rangeMax":"!`, 1),
		"rangeMax number":   strings.Replace(good, `"rangeMax":"`+EncodeHLC(4096)+`"`, `"rangeMax":4096`, 1),
		"missing initial":   strings.Replace(good, `"initialRangeMin":""`, `"x":""`, 1),
		"range not pow2":    strings.Replace(good, `"rangeMax":"`+EncodeHLC(4096)+`"`, `"rangeMax":"`+EncodeHLC(4095)+`"`, 1),
		"count mismatch":    strings.Replace(good, `"count":1,"hash":`+h+`,"nodes"`, `"count":2,"hash":`+h+`,"nodes"`, 1),
		"hash mismatch":     strings.Replace(good, `"count":1,"hash":`+h+`,"nodes"`, `"count":1,"hash":7,"nodes"`, 1),
		"count too big":     strings.Replace(good, `"count":1,"hash":`+h+`,"nodes"`, `"count":18446744073709551616,"hash":`+h+`,"nodes"`, 1),
		"nodes missing":     strings.Replace(good, `"nodes":`, `"nodez":`, 1),
		"nodes object":      good[:nodesAt] + `"nodes":{}}`,
		"node number":       strings.Replace(good, `{},`, `7,`, 1),
		"node half":         strings.Replace(good, `{},`, `{"count":1},`, 1),
		"zero count hash":   strings.Replace(good, `{},`, `{"count":0,"hash":9},`, 1),
		"too many nodes":    strings.Replace(good, `]}`, `,{}]}`, 1),
		"skip past the end": strings.Replace(good, `{},`, `{"skip":64},`, 1),
		"skip string":       strings.Replace(good, `{},`, `{"skip":"3"},`, 1),
	}
	for name, doc := range cases {
		if doc == good {
			t.Fatalf("%s: the replacement did not apply", name)
		}
		_, err := Parse([]byte(doc))
		if err == nil {
			t.Fatalf("%s: accepted", name)
		}
		var fe *FormatError
		if !errors.Is(err, ErrMalformed) || !errors.As(err, &fe) {
			t.Fatalf("%s: error %v is not a *FormatError", name, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	tr, _ := New(2, 0)
	_ = tr.Insert(1, 2, 3000)
	f.Add(tr.AppendJSON(nil, false))
	f.Add(tr.AppendJSON(nil, true))
	f.Add([]byte(`{"version":1,"maxDepth":2,"rangeMax":"-A--","rangeMin":"","initialRangeMin":"","count":0,"hash":0,"nodes":[{"skip":64}]}`))
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if err := p.checkSummary(); err != nil {
			t.Fatalf("accepted an inconsistent tree: %v", err)
		}
		again, err := Parse(p.AppendJSON(nil, false))
		if err != nil || !again.Equal(p) {
			t.Fatalf("re-serialization does not round-trip: %v", err)
		}
	})
}

func BenchmarkSerializeDepth6(b *testing.B) {
	tr, _ := New(DefaultDepth, LowerBound)
	for i := uint64(0); i < 100000; i++ {
		_ = tr.Insert(LowerBound + i*97)
	}
	var buf []byte
	for b.Loop() {
		buf = tr.AppendJSON(buf[:0], false)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkParseDepth6(b *testing.B) {
	tr, _ := New(DefaultDepth, LowerBound)
	for i := uint64(0); i < 100000; i++ {
		_ = tr.Insert(LowerBound + i*97)
	}
	data := tr.AppendJSON(nil, false)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParseFastMatchesSlow checks that the fast path of Parse agrees with the
// plain encoding/json path on every input it claims.
func FuzzParseFastMatchesSlow(f *testing.F) {
	tr, _ := New(2, 0)
	_ = tr.Insert(1, 2, 3000)
	f.Add(tr.AppendJSON(nil, false))
	f.Add(tr.AppendJSON(nil, true))
	f.Add([]byte(`{"version":1,"maxDepth":2,"rangeMax":"-A--","rangeMin":"","initialRangeMin":"","count":0,"hash":0,"nodes":[ {} , {"hash":0,"count":0} ]}`))
	f.Add([]byte(`{"nodes":[{"count":1,"hash":5}],"version":1,"maxDepth":2,"rangeMax":"-A--","rangeMin":"","initialRangeMin":"","count":1,"hash":5}`))
	f.Add([]byte(`{"version":1,"nodes":[],"nodes":[{}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok, ferr := parseFast(data)
		if !ok {
			return
		}
		slow, serr := parseSlow(data)
		if (ferr == nil) != (serr == nil) {
			t.Fatalf("fast error %v, slow error %v", ferr, serr)
		}
		if ferr == nil && !fast.Equal(slow) {
			t.Fatal("fast and slow parse differ")
		}
	})
}

func TestRangeJSON(t *testing.T) {
	rs := []Range{{Min: LowerBound, Max: LowerBound + 63}, {Min: 1, Max: 1 << 63}}
	b, err := json.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	want := `[["_bpq8a-----","_bpq8a----9"],["_","` + EncodeHLC(1<<63) + `"]]`
	if string(b) != want {
		t.Fatalf("ranges body %s, want %s", b, want)
	}
	var back []Range
	if err := json.Unmarshal(b, &back); err != nil || len(back) != 2 || back[0] != rs[0] || back[1] != rs[1] {
		t.Fatalf("round trip %v, %v", back, err)
	}
	for _, bad := range []string{`["a"]`, `[1,2]`, `["!","_"]`, `["A","_"]`, `{}`} {
		var r Range
		if err := json.Unmarshal([]byte(bad), &r); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: %v", bad, err)
		}
	}
}
