package workload

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"hash/maphash"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/tests/arangosim"
)

func TestCompareDigestsClassifies(t *testing.T) {
	base := digest{rev: "_r1", ver: 3, content: 42, balance: 10}
	tests := []struct {
		name    string
		a, b    map[string]digest
		want    map[DiffKind]int64
		sumA, B int64
	}{
		{"equal", map[string]digest{"k": base}, map[string]digest{"k": base}, nil, 10, 10},
		{"lost", map[string]digest{"k": base}, map[string]digest{}, map[DiffKind]int64{Lost: 1}, 10, 0},
		{"extra", map[string]digest{}, map[string]digest{"k": base}, map[DiffKind]int64{Extra: 1}, 0, 10},
		{"other rev", map[string]digest{"k": base}, map[string]digest{"k": {rev: "_r2", ver: 3, content: 42, balance: 10}},
			map[DiffKind]int64{Mismatched: 1}, 10, 10},
		{"other content", map[string]digest{"k": base}, map[string]digest{"k": {rev: "_r1", ver: 3, content: 43, balance: 10}},
			map[DiffKind]int64{Mismatched: 1}, 10, 10},
		{"version behind (a lost write)", map[string]digest{"k": base}, map[string]digest{"k": {rev: "_r0", ver: 2, content: 41, balance: 10}},
			map[DiffKind]int64{Mismatched: 1}, 10, 10},
		{"version ahead (applied twice)", map[string]digest{"k": base}, map[string]digest{"k": {rev: "_r9", ver: 4, content: 44, balance: 20}},
			map[DiffKind]int64{DuplicatedEffect: 1}, 10, 20},
		{"version ahead, same rev", map[string]digest{"k": base}, map[string]digest{"k": {rev: "_r1", ver: 4, content: 42, balance: 10}},
			map[DiffKind]int64{DuplicatedEffect: 1}, 10, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &verifier{rep: &Report{}, samples: sampler{max: 5}}
			cr := CollectionReport{Database: "d", Collection: "c", Ledger: true}
			v.compareDigests(&cr, tt.a, tt.b)
			got := map[DiffKind]int64{}
			for k, n := range map[DiffKind]int64{Lost: cr.Lost, Extra: cr.Extra, Mismatched: cr.Mismatched, DuplicatedEffect: cr.DuplicatedEffect} {
				if n != 0 {
					got[k] = n
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, n := range tt.want {
				if got[k] != n {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
			if cr.LedgerSumA != tt.sumA || cr.LedgerSumB != tt.B {
				t.Fatalf("ledger sums %d/%d, want %d/%d", cr.LedgerSumA, cr.LedgerSumB, tt.sumA, tt.B)
			}
			if len(v.samples.out) != len(tt.want) {
				t.Fatalf("samples %v", v.samples.out)
			}
		})
	}
}

func TestParseDocIgnoresAttributeOrderAndSystemAttributes(t *testing.T) {
	seed := maphash.MakeSeed()
	k1, d1, err := parseDoc(seed, []byte(`{"_key":"k","_id":"c/k","_rev":"_a","ver":2,"balance":7,"x":{"a":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	k2, d2, err := parseDoc(seed, []byte(`{"x":{"a":1},"balance":7,"_rev":"_b","ver":2,"_key":"k"}`))
	if err != nil {
		t.Fatal(err)
	}
	if k1 != "k" || k2 != "k" || d1.content != d2.content || d1.ver != 2 || d1.balance != 7 || d1.rev != "_a" || d2.rev != "_b" {
		t.Fatalf("%q %+v / %q %+v", k1, d1, k2, d2)
	}
	_, d3, _ := parseDoc(seed, []byte(`{"_key":"k","_rev":"_a","ver":2,"balance":7,"x":{"a":2}}`))
	if d3.content == d1.content {
		t.Fatal("another value must change the content hash")
	}
	for _, bad := range []string{``, `[]`, `{"_key":1}`, `{"a":1}`, `{"_key":""}`, `{"_key":"k"`} {
		if _, _, err := parseDoc(seed, []byte(bad)); err == nil {
			t.Errorf("parseDoc(%q) accepted", bad)
		}
	}
}

// FuzzParseDoc holds the hand-written top-level scanner to encoding/json: every
// object encoding/json reads with a string _key is read with the same key,
// revision, version and balance, and re-encoding the top level in another order
// keeps the content hash.
func FuzzParseDoc(f *testing.F) {
	for _, s := range []string{`{"_key":"k","_rev":"_a","ver":2,"balance":7}`, `{"_key":"k","ver":1.5}`,
		`{"_key":"k","ver":"x","balance":-9223372036854775808}`, `{"_key":"\u00e9","a":[1,{"b":null}]}`, `{}`, `nul`,
		` { "_key" : "a\"b" , "x" : { "y" : [ 1 , "}" ] } } `, `{"_key":"k","_key":"j"}`, `{"_key":"k",}`} {
		f.Add([]byte(s))
	}
	seed := maphash.MakeSeed()
	f.Fuzz(func(t *testing.T, doc []byte) {
		key, d, err := parseDoc(seed, doc)
		var m map[string]json.RawMessage
		if json.Unmarshal(doc, &m) != nil {
			return // not JSON: parseDoc may accept a misspelt number, but must not panic
		}
		var wantKey, wantRev string
		keyOK := json.Unmarshal(m["_key"], &wantKey) == nil && wantKey != ""
		if !keyOK {
			if err == nil && key != wantKey {
				t.Fatalf("key %q, encoding/json reads %q", key, wantKey)
			}
			return
		}
		if err != nil {
			t.Fatalf("parseDoc(%s): %v", doc, err)
		}
		_ = json.Unmarshal(m["_rev"], &wantRev)
		if key != wantKey || d.rev != wantRev || d.ver != jsonInt(m[FieldVersion]) || d.balance != jsonInt(m[FieldBalance]) {
			t.Fatalf("parseDoc(%s) = %q %+v", doc, key, d)
		}
		var compact bytes.Buffer
		if json.Compact(&compact, doc) != nil || !bytes.Equal(compact.Bytes(), doc) {
			return // re-encoding would also change whitespace inside values
		}
		var again bytes.Buffer
		enc := json.NewEncoder(&again)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(m); err != nil {
			return
		}
		if _, d2, err := parseDoc(seed, bytes.TrimSpace(again.Bytes())); err != nil || d2.content != d.content {
			t.Fatalf("re-encoded %s: %+v %v, want content %x", again.Bytes(), d2, err, d.content)
		}
	})
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	cfg := Config{Databases: []string{"_system", "x", "x"}, Accounts: 1, Workers: -1, Rate: -1,
		Mix: Mix{Insert: -1}, Collections: Collections{Orders: Shape{Name: "accounts"}}}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"no endpoints", "_system", "listed twice", "used twice", "Accounts = 1", "Workers = -1",
		"Rate = -1", "negative share"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	ok := Config{Cluster: Cluster{Endpoints: []string{"http://127.0.0.1:8529"}}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
	if _, err := Verify(context.Background(), Cluster{}, Cluster{Endpoints: []string{"tcp://x"}}, VerifyOptions{}); err == nil ||
		!strings.Contains(err.Error(), "cluster A: no endpoints") || !strings.Contains(err.Error(), "cluster B: endpoint") {
		t.Fatalf("Verify with bad clusters: %v", err)
	}
}

// TestWaitConverged starts with an empty B (no databases: structure differences
// and lost documents), builds it while WaitConverged polls, and returns OK; a B
// that stays different ends in ErrNotConverged with the last report.
func TestWaitConverged(t *testing.T) {
	ctx := context.Background()
	_, a := startSim(t, arangosim.Config{})
	_, b := startSim(t, arangosim.Config{})
	cfg := Config{Cluster: a, Databases: []string{"shop"}, Accounts: 10, Rate: 300, Seed: 11,
		Collections: Collections{Accounts: Shape{ReplicationFactor: 1}, Orders: Shape{ReplicationFactor: 1}, Links: Shape{ReplicationFactor: 1}}}
	w := newWorkload(t, cfg)
	runFor(t, w, 500*time.Millisecond)

	rep, err := Verify(ctx, a, b, w.VerifyOptions())
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.StructureDiffs == 0 || rep.Lost != rep.DocsA || rep.DocsB != 0 {
		t.Fatalf("empty B:\n%s", rep)
	}
	if !slices.ContainsFunc(rep.Samples, func(d Diff) bool { return d.Kind == Structure && d.Database == "shop" && d.B == "missing" }) {
		t.Fatalf("the missing database must be a sample:\n%s", rep)
	}

	type result struct {
		rep *Report
		err error
	}
	res := make(chan result, 1)
	go func() {
		r, err := WaitConverged(ctx, a, b, time.Now().Add(30*time.Second), w.VerifyOptions())
		res <- result{r, err}
	}()
	cfgB := cfg
	cfgB.Cluster = b
	newWorkload(t, cfgB)
	copyDocuments(t, a, b, cfg.Databases)
	r := <-res
	if r.err != nil || !r.rep.OK() {
		t.Fatalf("WaitConverged: %v\n%s", r.err, r.rep)
	}

	// Setup again on both sides changes nothing (no balance reset, no duplicate object).
	if err := w.Setup(ctx); err != nil {
		t.Fatalf("second Setup: %v", err)
	}
	if rep, err := Verify(ctx, a, b, w.VerifyOptions()); err != nil || !rep.OK() {
		t.Fatalf("after a second Setup on A: %v\n%s", err, rep)
	}

	runFor(t, w, 300*time.Millisecond) // A moves on, B does not
	r.rep, r.err = WaitConverged(ctx, a, b, time.Now().Add(300*time.Millisecond), w.VerifyOptions())
	if !errors.Is(r.err, ErrNotConverged) || r.rep == nil || r.rep.OK() || !strings.Contains(r.err.Error(), "DIFFERENT") {
		t.Fatalf("want ErrNotConverged with the last report, got %v\n%v", r.err, r.rep)
	}
}

func FuzzParseMix(f *testing.F) {
	for _, s := range []string{DefaultMix.String(), "transfer=1", "insert=1,insert=2", "bulk=-1", "x=1", "", ",,edge = 3 ,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMix(s)
		if err != nil {
			return
		}
		if m.total() <= 0 {
			t.Fatalf("ParseMix(%q) = %v without a positive share", s, m)
		}
		again, err := ParseMix(m.String())
		if err != nil || again != m {
			t.Fatalf("round trip of %v: %v, %v", m, again, err)
		}
	})
}

func TestParseMix(t *testing.T) {
	m, err := ParseMix("transfer=70, insert=30")
	if err != nil || m != (Mix{Transfer: 70, Insert: 30}) {
		t.Fatalf("ParseMix = %v, %v", m, err)
	}
	_, err = ParseMix("transfer=x,nope=1,insert=1,insert=2")
	for _, want := range []string{`"transfer=x"`, `"nope=1"`, "insert twice"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestReportString(t *testing.T) {
	r := &Report{Databases: 2, Collections: 2, DocsA: 12, DocsB: 11, Lost: 1, LedgerSumA: 100, LedgerSumB: 100,
		PerCollection: []CollectionReport{
			{Database: "shop", Collection: "accounts", DocsA: 10, DocsB: 10},
			{Database: "shop", Collection: "orders", DocsA: 2, DocsB: 1, Lost: 1},
		},
		Samples: []Diff{{Kind: Lost, Database: "shop", Collection: "orders", Key: "o1", A: "_rev _a ver 1 content 0000000000000001"}},
		Elapsed: 1500 * time.Microsecond}
	want := `DIFFERENT: B does not equal A (2 databases, 2 collections, 12/11 documents, 2ms)
  database  collection  docs A  docs B  lost  extra  mismatched  dup-effect
      shop    accounts      10      10     0      0           0           0
      shop      orders       2       1     1      0           0           0
     total                  12      11     1      0           0           0
ledger sum: A=100 B=100 (ok); structure differences: 0
  lost              shop/orders/o1: A=_rev _a ver 1 content 0000000000000001 B=-
`
	if got := r.String(); got != want {
		t.Fatalf("String() =\n%s\nwant\n%s", got, want)
	}
	if r.OK() || r.Count(Lost) != 1 || r.Count(Ledger) != 0 {
		t.Fatalf("OK=%v Count(lost)=%d", r.OK(), r.Count(Lost))
	}
}
