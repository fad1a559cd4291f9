package revtree

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

const (
	// BranchingBits is log2 of the branching factor (8) of arangod's trees.
	BranchingBits = 3
	// BranchingFactor is the number of children of an inner node.
	BranchingFactor = 1 << BranchingBits
	// MinDepth is the smallest depth arangod's MerkleTree constructor accepts.
	MinDepth = 2
	// MaxDepth is the largest depth arangod uses for revision trees
	// (RocksDBMetaCollection::revisionTreeDepth); deeper trees are refused.
	MaxDepth = 6
	// DefaultDepth is the depth of every shard's revision tree in arangod 3.8+.
	DefaultDepth = 6
	// CurrentVersion is the "version" attribute of the serialized tree.
	CurrentVersion = 1
	// LowerBound is RevisionId::lowerBound(): the HLC value of
	// 2021-01-01T00:00:00Z, the rangeMin arangod gives a new shard's tree.
	LowerBound uint64 = 1609459200000 << 20
	// bucketsPerDefaultRange is defaultRange(depth)/nodeCount: a new tree
	// without an explicit rangeMax starts with 64 revisions per bucket.
	revisionsPerNewBucket = 64
)

// ErrMalformed is matched (errors.Is) by every error that reports a tree or
// tree document that violates the format or the tree invariants.
var ErrMalformed = errors.New("revtree: malformed revision tree")

// ErrOutOfRange is matched by errors about revisions the tree cannot hold:
// a removal outside [rangeMin, rangeMax), or growth past the uint64 range.
var ErrOutOfRange = errors.New("revtree: revision out of range")

// ErrNotPresent is matched when Remove would take more revisions out of a
// bucket than it counts.
var ErrNotPresent = errors.New("revtree: revision not present")

// ErrIncompatible is matched when two trees cannot be compared: different
// depths or bucket boundaries that do not line up.
var ErrIncompatible = errors.New("revtree: trees are not comparable")

// FormatError names the attribute (or tree property) that is wrong.
type FormatError struct {
	Field  string
	Reason string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("revtree: malformed revision tree: %s: %s", e.Field, e.Reason)
}

// Is makes errors.Is(err, ErrMalformed) true.
func (e *FormatError) Is(target error) bool { return target == ErrMalformed }

func malformed(field, format string, args ...any) error {
	return &FormatError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Node is one bucket: how many revisions fall into it and the XOR of their
// hashes.
type Node struct {
	Count uint64
	Hash  uint64
}

// Range is an inclusive interval of revisions [Min, Max].
type Range struct {
	Min uint64
	Max uint64
}

// Tree is the bottom level of an arangod revision tree. See the package doc.
type Tree struct {
	depth           int
	rangeMin        uint64
	rangeMax        uint64
	initialRangeMin uint64
	summary         Node
	nodes           []Node // nil until the first non-empty bucket; len == NodeCount(depth) otherwise
}

// NodeCount is the number of buckets at the bottom level of a tree of depth d
// (8^d).
func NodeCount(depth int) uint64 { return uint64(1) << (BranchingBits * uint(depth)) }

// New returns an empty tree of the given depth over [rangeMin, rangeMin +
// 64*8^depth), the way arangod allocates a shard's tree
// (MerkleTree(depth, rangeMin) with the default range).
func New(depth int, rangeMin uint64) (*Tree, error) {
	if depth < MinDepth || depth > MaxDepth {
		return nil, malformed("maxDepth", "%d is outside %d..%d", depth, MinDepth, MaxDepth)
	}
	width := NodeCount(depth) * revisionsPerNewBucket
	if rangeMin > math.MaxUint64-width {
		return nil, fmt.Errorf("%w: rangeMin %d leaves no room for a range of width %d", ErrOutOfRange, rangeMin, width)
	}
	return NewWithRange(depth, rangeMin, rangeMin+width, rangeMin)
}

// NewWithRange returns an empty tree with an explicit range. It checks the
// same conditions as arangod's constructor: rangeMax > rangeMin, the width a
// power of two of at least 8^depth, rangeMin <= initialRangeMin and their
// difference a multiple of the bucket width. initialRangeMin 0 means rangeMin.
func NewWithRange(depth int, rangeMin, rangeMax, initialRangeMin uint64) (*Tree, error) {
	if depth < MinDepth || depth > MaxDepth {
		return nil, malformed("maxDepth", "%d is outside %d..%d", depth, MinDepth, MaxDepth)
	}
	if initialRangeMin == 0 {
		initialRangeMin = rangeMin
	}
	if rangeMax <= rangeMin {
		return nil, malformed("rangeMax", "rangeMax %d must be larger than rangeMin %d", rangeMax, rangeMin)
	}
	width := rangeMax - rangeMin
	if width&(width-1) != 0 {
		return nil, malformed("rangeMax", "rangeMax - rangeMin = %d is not a power of two", width)
	}
	n := NodeCount(depth)
	if width < n {
		return nil, malformed("rangeMax", "range width %d is smaller than the %d buckets", width, n)
	}
	if initialRangeMin < rangeMin {
		return nil, malformed("initialRangeMin", "initialRangeMin %d is below rangeMin %d", initialRangeMin, rangeMin)
	}
	if (initialRangeMin-rangeMin)%(width/n) != 0 {
		return nil, malformed("initialRangeMin", "initialRangeMin - rangeMin = %d is not a multiple of the bucket width %d",
			initialRangeMin-rangeMin, width/n)
	}
	return &Tree{depth: depth, rangeMin: rangeMin, rangeMax: rangeMax, initialRangeMin: initialRangeMin}, nil
}

// Depth returns the tree's depth (the "maxDepth" attribute).
func (t *Tree) Depth() int { return t.depth }

// RangeMin returns the lowest revision the tree covers.
func (t *Tree) RangeMin() uint64 { return t.rangeMin }

// RangeMax returns the first revision above the covered range (exclusive).
func (t *Tree) RangeMax() uint64 { return t.rangeMax }

// InitialRangeMin returns the rangeMin the tree was created with.
func (t *Tree) InitialRangeMin() uint64 { return t.initialRangeMin }

// Count returns the number of revisions in the tree.
func (t *Tree) Count() uint64 { return t.summary.Count }

// RootHash returns the XOR of the hashes of all revisions in the tree.
func (t *Tree) RootHash() uint64 { return t.summary.Hash }

// BucketWidth returns how many revision values one bucket spans.
func (t *Tree) BucketWidth() uint64 { return (t.rangeMax - t.rangeMin) / NodeCount(t.depth) }

// Node returns bucket i (0 <= i < NodeCount(Depth())).
func (t *Tree) Node(i uint64) Node {
	if t.nodes == nil || i >= uint64(len(t.nodes)) {
		return Node{}
	}
	return t.nodes[i]
}

// BucketRange returns the inclusive revision range of bucket i.
func (t *Tree) BucketRange(i uint64) Range {
	w := t.BucketWidth()
	return Range{Min: t.rangeMin + w*i, Max: t.rangeMin + w*(i+1) - 1}
}

// Clone returns an independent copy.
func (t *Tree) Clone() *Tree {
	c := *t
	if t.nodes != nil {
		c.nodes = slices.Clone(t.nodes)
	}
	return &c
}

// Equal reports whether both trees have the same range, depth and buckets.
func (t *Tree) Equal(o *Tree) bool {
	if t.depth != o.depth || t.rangeMin != o.rangeMin || t.rangeMax != o.rangeMax ||
		t.initialRangeMin != o.initialRangeMin || t.summary != o.summary {
		return false
	}
	n := NodeCount(t.depth)
	for i := uint64(0); i < n; i++ {
		if t.Node(i) != o.Node(i) {
			return false
		}
	}
	return true
}

func (t *Tree) node(i uint64) *Node {
	if t.nodes == nil {
		t.nodes = make([]Node, NodeCount(t.depth))
	}
	return &t.nodes[i]
}

func (t *Tree) index(rev uint64) uint64 { return (rev - t.rangeMin) / t.BucketWidth() }

// Insert adds revisions, growing the range first when one falls outside it
// (to the left for revisions below rangeMin, then to the right). On error the
// tree is unchanged.
func (t *Tree) Insert(revs ...uint64) error {
	if len(revs) == 0 {
		return nil
	}
	lo, hi := slices.Min(revs), slices.Max(revs)
	left, err := t.planGrowLeft(lo)
	if err != nil {
		return err
	}
	minAfter, maxAfter := t.rangeMin, t.rangeMax
	if len(left) > 0 {
		minAfter, maxAfter = left[len(left)-1].rangeMin, left[len(left)-1].rangeMax
	}
	right, err := planGrowRight(t.depth, minAfter, maxAfter, t.initialRangeMin, hi)
	if err != nil {
		return err
	}
	for _, s := range left {
		t.rightCombine(s.shift)
		t.rangeMin, t.rangeMax = s.rangeMin, s.rangeMax
	}
	for _, s := range right {
		t.leftCombine(s.shift)
		t.rangeMin, t.rangeMax = s.rangeMin, s.rangeMax
	}
	for _, r := range revs {
		h := HashRevision(r)
		nd := t.node(t.index(r))
		nd.Count++
		nd.Hash ^= h
		t.summary.Count++
		t.summary.Hash ^= h
	}
	return nil
}

// Remove takes revisions out of the tree. Every revision must lie in the
// current range and no bucket may lose more revisions than it counts; the
// tree cannot check that exactly these revisions were inserted (neither can
// arangod's). On error the tree is unchanged.
func (t *Tree) Remove(revs ...uint64) error {
	if len(revs) == 0 {
		return nil
	}
	perBucket := make(map[uint64]uint64, len(revs))
	for _, r := range revs {
		if r < t.rangeMin || r >= t.rangeMax {
			return fmt.Errorf("%w: cannot remove %s (%d), the tree covers [%d, %d)", ErrOutOfRange, EncodeHLC(r), r, t.rangeMin, t.rangeMax)
		}
		perBucket[t.index(r)]++
	}
	for i, c := range perBucket {
		if t.Node(i).Count < c {
			return fmt.Errorf("%w: bucket %d counts %d revisions, cannot remove %d", ErrNotPresent, i, t.Node(i).Count, c)
		}
	}
	for _, r := range revs {
		h := HashRevision(r)
		nd := t.node(t.index(r))
		nd.Count--
		nd.Hash ^= h
		t.summary.Count--
		t.summary.Hash ^= h
	}
	return nil
}

// Clear removes every revision and keeps the range.
func (t *Tree) Clear() {
	t.nodes = nil
	t.summary = Node{}
}

// growStep is one doubling of the range: the bounds after it and whether the
// buckets move by one (to keep invariant 2).
type growStep struct {
	rangeMin, rangeMax uint64
	shift              bool
}

// planGrowRight computes the doublings arangod's growRight(key) performs,
// without touching any bucket, so that a failure leaves the tree unchanged.
func planGrowRight(depth int, rangeMin, rangeMax, initialRangeMin, key uint64) ([]growStep, error) {
	var steps []growStep
	n := NodeCount(depth)
	for key >= rangeMax {
		width := rangeMax - rangeMin
		if width > math.MaxUint64-rangeMax {
			return nil, fmt.Errorf("%w: cannot grow the tree to the right to hold %d: rangeMax would overflow", ErrOutOfRange, key)
		}
		kpb := width / n
		shift := (initialRangeMin-rangeMin)%(2*kpb) != 0
		rangeMax += width
		if shift {
			if rangeMin < kpb {
				return nil, fmt.Errorf("%w: cannot grow the tree to the right to hold %d: rangeMin would underflow", ErrOutOfRange, key)
			}
			rangeMax -= kpb
			rangeMin -= kpb
		}
		steps = append(steps, growStep{rangeMin: rangeMin, rangeMax: rangeMax, shift: shift})
	}
	return steps, nil
}

// planGrowLeft computes the doublings of arangod's growLeft(key).
func (t *Tree) planGrowLeft(key uint64) ([]growStep, error) {
	var steps []growStep
	n := NodeCount(t.depth)
	rangeMin, rangeMax := t.rangeMin, t.rangeMax
	for key < rangeMin {
		width := rangeMax - rangeMin
		kpb := width / n
		if width > rangeMin {
			return nil, fmt.Errorf("%w: cannot grow the tree to the left to hold %d: rangeMin would underflow", ErrOutOfRange, key)
		}
		shift := (t.initialRangeMin-rangeMin)%(2*kpb) != 0
		rangeMin -= width
		if shift {
			if rangeMax > math.MaxUint64-kpb {
				return nil, fmt.Errorf("%w: cannot grow the tree to the left to hold %d: rangeMax would overflow", ErrOutOfRange, key)
			}
			rangeMax += kpb
			rangeMin += kpb
		}
		steps = append(steps, growStep{rangeMin: rangeMin, rangeMax: rangeMax, shift: shift})
	}
	return steps, nil
}

// leftCombine merges pairs of buckets into the lower half (growth to the
// right), exactly as MerkleTree::leftCombine:
// without shift 2i,2i+1 -> i; with shift 0 -> 0 and 2i-1,2i -> i.
func (t *Tree) leftCombine(withShift bool) {
	if t.nodes == nil {
		return
	}
	n := uint64(len(t.nodes))
	start, dst := uint64(1), func(i uint64) uint64 { return i / 2 }
	if withShift {
		start, dst = 2, func(i uint64) uint64 { return (i + 1) / 2 }
	}
	for i := start; i < n; i++ {
		src := t.nodes[i]
		if src == (Node{}) {
			continue
		}
		d := &t.nodes[dst(i)]
		d.Count += src.Count
		d.Hash ^= src.Hash
		t.nodes[i] = Node{}
	}
}

// rightCombine merges pairs of buckets into the upper half (growth to the
// left), exactly as MerkleTree::rightCombine:
// without shift 2i,2i+1 -> n/2+i; with shift n-1 -> n-1 and 2i-1,2i -> ....
func (t *Tree) rightCombine(withShift bool) {
	if t.nodes == nil {
		return
	}
	n := uint64(len(t.nodes))
	start, dst := n-2, func(i uint64) uint64 { return (n + i) / 2 }
	if withShift {
		start, dst = n-3, func(i uint64) uint64 { return (n + i - 1) / 2 }
	}
	for i := start; ; i-- {
		src := t.nodes[i]
		if src != (Node{}) {
			d := &t.nodes[dst(i)]
			d.Count += src.Count
			d.Hash ^= src.Hash
			t.nodes[i] = Node{}
		}
		if i == 0 {
			break
		}
	}
}

// Diff returns the inclusive revision ranges in which the two trees differ,
// ascending and with adjacent ranges merged, like MerkleTree::diff in
// arangod (the follower calls treeLeader.diff(treeLocal) and fetches these
// ranges from the leader). Trees of different widths are compared after
// growing the narrower one to the right on a copy; neither tree is modified.
// Buckets only one tree covers count as different when they are non-empty.
func (t *Tree) Diff(other *Tree) ([]Range, error) {
	if t.depth != other.depth {
		return nil, fmt.Errorf("%w: depth %d vs %d", ErrIncompatible, t.depth, other.depth)
	}
	a, b := t, other
	for a.rangeMax-a.rangeMin != b.rangeMax-b.rangeMin {
		if a.rangeMax-a.rangeMin < b.rangeMax-b.rangeMin {
			if a == t {
				a = a.Clone()
			}
			if err := a.growRightOnce(); err != nil {
				return nil, err
			}
		} else {
			if b == other {
				b = b.Clone()
			}
			if err := b.growRightOnce(); err != nil {
				return nil, err
			}
		}
	}
	if b.rangeMin < a.rangeMin {
		a, b = b, a
	}
	w := a.BucketWidth()
	if (b.rangeMin-a.rangeMin)%w != 0 {
		return nil, fmt.Errorf("%w: bucket boundaries differ (rangeMin %d vs %d, bucket width %d)", ErrIncompatible, a.rangeMin, b.rangeMin, w)
	}
	n := NodeCount(a.depth)
	offset := (b.rangeMin - a.rangeMin) / w // b's bucket j sits at a's bucket offset+j
	var starts []uint64
	for i := uint64(0); i < n; i++ {
		na := a.Node(i)
		var nb Node
		if i >= offset && i-offset < n {
			nb = b.Node(i - offset)
		}
		if na != nb {
			starts = append(starts, a.rangeMin+i*w)
		}
	}
	for j := uint64(0); j < n; j++ {
		if offset+j < n {
			continue // compared above
		}
		if b.Node(j) != (Node{}) {
			starts = append(starts, b.rangeMin+j*w)
		}
	}
	var out []Range
	for _, s := range starts {
		if len(out) > 0 && out[len(out)-1].Max+1 == s {
			out[len(out)-1].Max = s + w - 1
			continue
		}
		out = append(out, Range{Min: s, Max: s + w - 1})
	}
	return out, nil
}

// growRightOnce doubles the range once to the right (growRight(rangeMax)).
func (t *Tree) growRightOnce() error {
	steps, err := planGrowRight(t.depth, t.rangeMin, t.rangeMax, t.initialRangeMin, t.rangeMax)
	if err != nil {
		return err
	}
	for _, s := range steps {
		t.leftCombine(s.shift)
		t.rangeMin, t.rangeMax = s.rangeMin, s.rangeMax
	}
	return nil
}

// checkSummary verifies that the summary matches the buckets.
func (t *Tree) checkSummary() error {
	var sum Node
	for _, nd := range t.nodes {
		if nd.Count == 0 && nd.Hash != 0 {
			return malformed("nodes", "a bucket with count 0 has hash %d", nd.Hash)
		}
		var carry uint64
		sum.Count, carry = bits.Add64(sum.Count, nd.Count, 0)
		if carry != 0 {
			return malformed("nodes", "bucket counts overflow 64 bits")
		}
		sum.Hash ^= nd.Hash
	}
	if sum.Count != t.summary.Count {
		return malformed("count", "summary count %d differs from the sum of the bucket counts %d", t.summary.Count, sum.Count)
	}
	if sum.Hash != t.summary.Hash {
		return malformed("hash", "summary hash %d differs from the XOR of the bucket hashes %d", t.summary.Hash, sum.Hash)
	}
	return nil
}

// PartitionKeys splits the tree's range into at most count consecutive
// ranges holding about the same number of revisions, on bucket boundaries,
// like MerkleTree::partitionKeys (which arangod uses to split work). With
// count <= 1 or an empty tree it returns the whole range [rangeMin, rangeMax].
func (t *Tree) PartitionKeys(count int) []Range {
	remaining := t.summary.Count
	if count <= 1 || remaining == 0 {
		return []Range{{Min: t.rangeMin, Max: t.rangeMax}}
	}
	var out []Range
	target := max(uint64(1), remaining/uint64(count))
	start := t.rangeMin
	var inRange uint64
	last := NodeCount(t.depth)
	for chunk := uint64(0); chunk < last; chunk++ {
		if len(out) == count-1 {
			// the last partition takes everything that is left
			for ; chunk < last-1; chunk++ {
				inRange += t.Node(chunk).Count
			}
		}
		inRange += t.Node(chunk).Count
		if inRange >= target || chunk == last-1 {
			end := t.BucketRange(chunk).Max
			out = append(out, Range{Min: start, Max: end})
			remaining -= inRange
			if remaining == 0 || len(out) == count {
				break
			}
			inRange = 0
			start = end + 1
			target = max(uint64(1), remaining/uint64(count-len(out)))
		}
	}
	return out
}
