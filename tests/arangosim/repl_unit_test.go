package arangosim

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/dc2dc/dc2dc/handlers/arango/revtree"
)

// TestReplRangesResumeProtocol drives the ranges answer with a tiny limit:
// repeating the same request with resumeHLC must deliver every revision of
// every range exactly once, in order, each under its own range.
func TestReplRangesResumeProtocol(t *testing.T) {
	var docs []*Doc
	for i := uint64(0); i < 50; i++ {
		docs = append(docs, &Doc{Key: "k", Rev: revtree.LowerBound + i*10})
	}
	ranges := []replRange{
		{revtree.LowerBound, revtree.LowerBound + 95},          // revs 0..9 (10)
		{revtree.LowerBound + 100, revtree.LowerBound + 100},   // rev 10 only
		{revtree.LowerBound + 101, revtree.LowerBound + 199},   // revs 11..19
		{revtree.LowerBound + 300, revtree.LowerBound + 489},   // revs 30..48
		{revtree.LowerBound + 1000, revtree.LowerBound + 2000}, // empty
	}
	for _, limit := range []int{1, 3, 7, 100} {
		got := make([][]string, len(ranges))
		var resume uint64
		for round := 0; ; round++ {
			if round > 200 {
				t.Fatal("resume does not advance")
			}
			var ans struct {
				Ranges    [][]string `json:"ranges"`
				Resume    string     `json:"resume"`
				ResumeHLC string     `json:"resumeHLC"`
			}
			raw := replRangesAnswer(docs, ranges, resume, limit)
			if err := json.Unmarshal(raw, &ans); err != nil {
				t.Fatalf("%s: %v", raw, err)
			}
			n := 0
			for i, rg := range ans.Ranges {
				n += len(rg)
				got[i] = append(got[i], rg...)
			}
			if n > limit {
				t.Fatalf("limit %d: answer holds %d revisions", limit, n)
			}
			if ans.ResumeHLC == "" {
				if len(ans.Ranges) != len(ranges) {
					t.Fatalf("final answer has %d of %d ranges", len(ans.Ranges), len(ranges))
				}
				break
			}
			if ans.Resume != ans.ResumeHLC {
				t.Fatalf("resume %q vs resumeHLC %q", ans.Resume, ans.ResumeHLC)
			}
			next, err := revtree.DecodeHLC(ans.ResumeHLC)
			if err != nil || next <= resume {
				t.Fatalf("resume %q does not advance past %d", ans.ResumeHLC, resume)
			}
			resume = next
		}
		want := func(lo, hi uint64) []string {
			var out []string
			for _, d := range docs {
				if d.Rev >= lo && d.Rev <= hi {
					out = append(out, revtree.EncodeHLC(d.Rev))
				}
			}
			return out
		}
		for i, rg := range ranges {
			if !slices.Equal(got[i], want(rg.lo, rg.hi)) {
				t.Fatalf("limit %d range %d: got %v, want %v", limit, i, got[i], want(rg.lo, rg.hi))
			}
		}
	}
}
