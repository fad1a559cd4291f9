package mirror

import (
	"testing"
)

func TestSourcePosRoundTrip(t *testing.T) {
	cases := []SourcePos{
		{Cluster: "A", Topic: "dc2dc.s1.data", Partition: 0, Offset: 0},
		{Cluster: "dc-east", Topic: "t", Partition: 11, Offset: 1<<62 + 5},
	}
	for _, p := range cases {
		s := p.String()
		if got := string(p.appendTo(nil)); got != s {
			t.Fatalf("appendTo %q != String %q", got, s)
		}
		q, err := ParseSourcePos(s)
		if err != nil {
			t.Fatalf("parse %q: %v", s, err)
		}
		if q != p {
			t.Fatalf("round trip %q: got %+v want %+v", s, q, p)
		}
	}
}

func TestParseSourcePosRejects(t *testing.T) {
	for _, v := range []string{
		"", "A", "A/t", "A/t/1", "/t/1/2", "A//1/2", "A/t/x/2", "A/t/1/y", "A/t/-1/2", "A/t/1/-2",
		"A/t/+1/2", "A/t/1/+2", "A/t/99999999999/2", "A/a/b/1/2",
	} {
		if p, err := ParseSourcePos(v); err == nil {
			t.Errorf("ParseSourcePos(%q) = %+v, want an error", v, p)
		}
	}
}

func FuzzParseSourcePos(f *testing.F) {
	f.Add("A/dc2dc.s.data/3/42")
	f.Add("A//1/2")
	f.Add("x/y/z/w")
	f.Fuzz(func(t *testing.T, v string) {
		p, err := ParseSourcePos(v)
		if err != nil {
			return
		}
		// Whatever parses must format back to a value that parses to the same position.
		q, err := ParseSourcePos(p.String())
		if err != nil {
			t.Fatalf("re-parse of %q (from %q): %v", p.String(), v, err)
		}
		if q != p {
			t.Fatalf("unstable: %q -> %+v -> %+v", v, p, q)
		}
	})
}
