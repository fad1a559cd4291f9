package revtree

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// rebuilt returns a fresh tree with t's range holding revs: what t must
// equal bucket for bucket if growth merged buckets correctly.
func rebuilt(t *testing.T, tr *Tree, revs []uint64) *Tree {
	t.Helper()
	f, err := NewWithRange(tr.Depth(), tr.RangeMin(), tr.RangeMax(), tr.InitialRangeMin())
	if err != nil {
		t.Fatalf("range of grown tree is invalid: %v", err)
	}
	if err := f.Insert(revs...); err != nil {
		t.Fatal(err)
	}
	return f
}

func checkInvariants(t *testing.T, tr *Tree) {
	t.Helper()
	w := tr.RangeMax() - tr.RangeMin()
	if w&(w-1) != 0 || w < NodeCount(tr.Depth()) {
		t.Fatalf("width %d", w)
	}
	if tr.InitialRangeMin() < tr.RangeMin() || (tr.InitialRangeMin()-tr.RangeMin())%tr.BucketWidth() != 0 {
		t.Fatalf("invariant 2 broken: rangeMin %d initial %d bucket %d", tr.RangeMin(), tr.InitialRangeMin(), tr.BucketWidth())
	}
	if err := tr.checkSummary(); err != nil {
		t.Fatal(err)
	}
}

func TestNewMatchesArangodDefaults(t *testing.T) {
	tr, err := New(DefaultDepth, LowerBound)
	if err != nil {
		t.Fatal(err)
	}
	if tr.RangeMax()-tr.RangeMin() != 64*NodeCount(6) || tr.BucketWidth() != 64 || tr.InitialRangeMin() != LowerBound {
		t.Fatalf("range [%d,%d) initial %d", tr.RangeMin(), tr.RangeMax(), tr.InitialRangeMin())
	}
	if NodeCount(6) != 262144 {
		t.Fatalf("8^6 = %d", NodeCount(6))
	}
	for _, bad := range []struct {
		depth                int
		min, max, initialMin uint64
	}{
		{1, 0, 64, 0},
		{7, 0, 1 << 30, 0},
		{2, 64, 64, 0},
		{2, 0, 96, 0},    // not a power of two
		{2, 0, 32, 0},    // fewer values than buckets
		{2, 64, 128, 32}, // initial below min
		{2, 0, 128, 1},   // initial not on a bucket boundary (width 2)
	} {
		if _, err := NewWithRange(bad.depth, bad.min, bad.max, bad.initialMin); !errors.Is(err, ErrMalformed) {
			t.Fatalf("NewWithRange(%+v) = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestInsertRemoveSummary(t *testing.T) {
	tr, _ := New(2, 1000)
	revs := []uint64{1000, 1001, 1063, 1064, 5000}
	if err := tr.Insert(revs...); err != nil {
		t.Fatal(err)
	}
	if tr.Count() != 5 {
		t.Fatalf("count %d", tr.Count())
	}
	var x uint64
	for _, r := range revs {
		x ^= HashRevision(r)
	}
	if tr.RootHash() != x {
		t.Fatalf("root hash %d, want %d", tr.RootHash(), x)
	}
	if n := tr.Node(0); n.Count != 3 || n.Hash != HashRevision(1000)^HashRevision(1001)^HashRevision(1063) {
		t.Fatalf("bucket 0 = %+v", n)
	}
	if err := tr.Remove(1001, 5000); err != nil {
		t.Fatal(err)
	}
	if tr.Count() != 3 || tr.RootHash() != HashRevision(1000)^HashRevision(1063)^HashRevision(1064) {
		t.Fatalf("after remove: %d %d", tr.Count(), tr.RootHash())
	}
	before := tr.Clone()
	if err := tr.Remove(1); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("remove below range: %v", err)
	}
	if err := tr.Remove(1064, 1064); !errors.Is(err, ErrNotPresent) {
		t.Fatalf("remove twice: %v", err)
	}
	if !tr.Equal(before) {
		t.Fatal("failed Remove changed the tree")
	}
	if err := tr.Remove(1000, 1063, 1064); err != nil {
		t.Fatal(err)
	}
	if tr.Count() != 0 || tr.RootHash() != 0 {
		t.Fatalf("empty tree has %d/%d", tr.Count(), tr.RootHash())
	}
	checkInvariants(t, tr)
}

func TestGrowRightMergesBuckets(t *testing.T) {
	tr, _ := New(2, 0) // 64 buckets of 64
	revs := []uint64{0, 63, 64, 127, 4095}
	_ = tr.Insert(revs...)
	if err := tr.Insert(4096); err != nil { // one past rangeMax: one doubling
		t.Fatal(err)
	}
	revs = append(revs, 4096)
	if tr.RangeMin() != 0 || tr.RangeMax() != 8192 || tr.BucketWidth() != 128 {
		t.Fatalf("range after growth [%d,%d)", tr.RangeMin(), tr.RangeMax())
	}
	if n := tr.Node(0); n.Count != 4 {
		t.Fatalf("bucket 0 after merge: %+v", n)
	}
	if !tr.Equal(rebuilt(t, tr, revs)) {
		t.Fatal("grown tree differs from a tree built over the final range")
	}
	if err := tr.Insert(1 << 40); err != nil {
		t.Fatal(err)
	}
	revs = append(revs, 1<<40)
	if tr.RangeMax() <= 1<<40 || !tr.Equal(rebuilt(t, tr, revs)) {
		t.Fatal("multi-step growth went wrong")
	}
	checkInvariants(t, tr)
}

func TestGrowLeftShiftsToKeepInvariant(t *testing.T) {
	tr, _ := New(2, 1<<20) // [2^20, 2^20+4096), bucket 64
	revs := []uint64{1 << 20, 1<<20 + 4095}
	_ = tr.Insert(revs...)
	if err := tr.Insert(1<<20 - 1); err != nil {
		t.Fatal(err)
	}
	revs = append(revs, 1<<20-1)
	if tr.RangeMin() != 1<<20-4096 || tr.RangeMax() != 1<<20+4096 {
		t.Fatalf("range after left growth [%d,%d)", tr.RangeMin(), tr.RangeMax())
	}
	checkInvariants(t, tr)
	if !tr.Equal(rebuilt(t, tr, revs)) {
		t.Fatal("left-grown tree differs from a tree built over the final range")
	}
	// Growing right now needs a shift: (initial - min) = 4096 is not a
	// multiple of 2*128.
	if err := tr.Insert(1<<20 + 100000); err != nil {
		t.Fatal(err)
	}
	revs = append(revs, 1<<20+100000)
	checkInvariants(t, tr)
	if !tr.Equal(rebuilt(t, tr, revs)) {
		t.Fatal("shifted growth differs from a tree built over the final range")
	}
}

func TestGrowthLimits(t *testing.T) {
	tr, _ := New(2, 4000)
	_ = tr.Insert(5000)
	before := tr.Clone()
	if err := tr.Insert(10, math.MaxUint64); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("growth to MaxUint64: %v", err)
	}
	if !tr.Equal(before) {
		t.Fatal("failed Insert changed the tree")
	}
	if err := tr.Insert(0); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("left growth under zero: %v", err)
	}
	if !tr.Equal(before) {
		t.Fatal("failed Insert changed the tree")
	}
}

// TestRandomGrowth drives random inserts and removes that grow the tree in
// both directions and checks after every step that the tree equals a tree
// built from scratch over its current range.
func TestRandomGrowth(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 30; round++ {
		base := LowerBound + rng.Uint64N(1<<30)
		tr, _ := New(3, base)
		var live []uint64
		for step := 0; step < 40; step++ {
			if len(live) > 0 && rng.IntN(4) == 0 {
				i := rng.IntN(len(live))
				if err := tr.Remove(live[i]); err != nil {
					t.Fatal(err)
				}
				live = slices.Delete(live, i, i+1)
			} else {
				spread := uint64(1) << (10 + rng.IntN(25))
				r := base - spread/2 + rng.Uint64N(spread)
				if err := tr.Insert(r); err != nil {
					t.Fatal(err)
				}
				live = append(live, r)
			}
			checkInvariants(t, tr)
			if !tr.Equal(rebuilt(t, tr, live)) {
				t.Fatalf("round %d step %d: tree differs from rebuilt tree", round, step)
			}
		}
	}
}

func rangesContain(rs []Range, v uint64) bool {
	for _, r := range rs {
		if v >= r.Min && v <= r.Max {
			return true
		}
	}
	return false
}

func TestDiffFindsExactlyTheDifferingBuckets(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 20; round++ {
		leader, _ := New(3, LowerBound)
		follower, _ := New(3, LowerBound)
		var common []uint64
		for i := 0; i < 300; i++ {
			common = append(common, LowerBound+rng.Uint64N(1<<18))
		}
		_ = leader.Insert(common...)
		_ = follower.Insert(common...)
		onlyLeader := []uint64{LowerBound + rng.Uint64N(1<<18), LowerBound + (1 << 25) + rng.Uint64N(100)}
		onlyFollower := []uint64{LowerBound + rng.Uint64N(1<<18)}
		_ = leader.Insert(onlyLeader...)
		_ = follower.Insert(onlyFollower...)
		ranges, err := leader.Diff(follower)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range append(slices.Clone(onlyLeader), onlyFollower...) {
			if !rangesContain(ranges, r) {
				t.Fatalf("round %d: differing revision %d not in %v", round, r, ranges)
			}
		}
		// Every range is made of buckets that really differ: each bucket
		// of every range holds a differing revision.
		w := max(leader.BucketWidth(), follower.BucketWidth())
		for _, r := range ranges {
			if r.Min > r.Max || (r.Max-r.Min+1)%w != 0 {
				t.Fatalf("range %+v is not made of whole buckets of %d", r, w)
			}
			for b := r.Min; b <= r.Max; b += w {
				found := false
				for _, v := range append(slices.Clone(onlyLeader), onlyFollower...) {
					if v >= b && v < b+w {
						found = true
					}
				}
				if !found {
					t.Fatalf("bucket at %d in range %+v holds no differing revision", b, r)
				}
			}
		}
		for i := 1; i < len(ranges); i++ {
			if ranges[i].Min <= ranges[i-1].Max+1 {
				t.Fatalf("ranges not sorted and merged: %v", ranges)
			}
		}
		// Diff is symmetric and leaves both trees untouched.
		lc, fc := leader.Clone(), follower.Clone()
		back, _ := follower.Diff(leader)
		if !slices.Equal(back, ranges) || !leader.Equal(lc) || !follower.Equal(fc) {
			t.Fatal("Diff is not symmetric or modified a tree")
		}
	}
}

func TestDiffTable(t *testing.T) {
	mk := func(min uint64, revs ...uint64) *Tree {
		tr, _ := New(2, min)
		if err := tr.Insert(revs...); err != nil {
			t.Fatal(err)
		}
		return tr
	}
	cases := []struct {
		name string
		a, b *Tree
		want []Range
	}{
		{"equal", mk(0, 1, 2, 3), mk(0, 1, 2, 3), nil},
		{"both empty", mk(0), mk(0), nil},
		{"one extra", mk(0, 1, 2, 3), mk(0, 1, 2), []Range{{0, 63}}},
		{"adjacent buckets merge", mk(0, 10, 70), mk(0), []Range{{0, 127}}},
		{"gap keeps two ranges", mk(0, 10, 200), mk(0), []Range{{0, 63}, {192, 255}}},
		{"same count other revision", mk(0, 5), mk(0, 6), []Range{{0, 63}}},
		{"different widths", mk(0, 1, 5000), mk(0, 1), []Range{{4992, 5119}}}, // both grown to buckets of 128
		{"offset trees", mk(0, 1), mk(4096, 4097), []Range{{0, 63}, {4096, 4159}}},
	}
	for _, c := range cases {
		got, err := c.a.Diff(c.b)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !slices.Equal(got, c.want) {
			t.Fatalf("%s: Diff = %v, want %v", c.name, got, c.want)
		}
	}
	a, _ := New(2, 0)
	b, _ := New(3, 0)
	if _, err := a.Diff(b); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("depth mismatch: %v", err)
	}
	c, _ := NewWithRange(2, 32, 32+4096, 0)
	if _, err := a.Diff(c); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("misaligned buckets: %v", err)
	}
}

func BenchmarkInsertDepth6(b *testing.B) {
	tr, _ := New(DefaultDepth, LowerBound)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = tr.Insert(LowerBound + uint64(i)*977)
	}
}

func BenchmarkDiffDepth6(b *testing.B) {
	a, _ := New(DefaultDepth, LowerBound)
	c, _ := New(DefaultDepth, LowerBound)
	for i := uint64(0); i < 100000; i++ {
		_ = a.Insert(LowerBound + i*97)
		_ = c.Insert(LowerBound + i*97)
	}
	_ = c.Insert(LowerBound + 5)
	b.ResetTimer()
	for b.Loop() {
		if _, err := a.Diff(c); err != nil {
			b.Fatal(err)
		}
	}
}

func TestPartitionKeys(t *testing.T) {
	tr, _ := New(2, 0) // 64 buckets of 64
	if got := tr.PartitionKeys(4); len(got) != 1 || got[0] != (Range{0, 4096}) {
		t.Fatalf("empty tree: %v", got)
	}
	var revs []uint64
	for i := uint64(0); i < 64; i++ {
		revs = append(revs, i*64, i*64+1) // two per bucket
	}
	_ = tr.Insert(revs...)
	parts := tr.PartitionKeys(4)
	if len(parts) != 4 {
		t.Fatalf("partitions %v", parts)
	}
	next := uint64(0)
	for _, p := range parts {
		if p.Min != next || (p.Max+1)%64 != 0 {
			t.Fatalf("partitions %v are not consecutive bucket ranges", parts)
		}
		n := 0
		for _, r := range revs {
			if r >= p.Min && r <= p.Max {
				n++
			}
		}
		if n != 32 {
			t.Fatalf("partition %v holds %d revisions, want 32", p, n)
		}
		next = p.Max + 1
	}
	if next != 4096 {
		t.Fatalf("partitions end at %d", next)
	}
	if got := tr.PartitionKeys(1); len(got) != 1 {
		t.Fatalf("one partition: %v", got)
	}
	// More partitions than revisions: never more than asked, all covered.
	small, _ := New(2, 0)
	_ = small.Insert(5, 4000)
	got := small.PartitionKeys(10)
	if len(got) > 10 || got[0].Min != 0 || got[len(got)-1].Max < 4000 {
		t.Fatalf("small tree partitions %v", got)
	}
}
