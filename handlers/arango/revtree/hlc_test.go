package revtree

import (
	"encoding/binary"
	"errors"
	"hash/fnv"
	"math"
	"strings"
	"testing"

	driver "github.com/arangodb/go-driver"
)

func TestEncodeDecodeHLC(t *testing.T) {
	cases := []struct {
		s string
		v uint64
	}{
		{"", 0},
		{"_", 1},
		{"A", 2},
		{"9", 63},
		{"_-", 64},
		{"99999999999"[:10], 1<<60 - 1},
		{"N9999999999", math.MaxUint64},
		{"_l6zhVDW---", 0},                   // value filled below from the digit table
		{"_bpq8a-----", 1609459200000 << 20}, // LowerBound: 2021-01-01T00:00:00Z in ms, shifted by the 20 counter bits
		{"_l6zhVTu--A", 0},                   // a real revision from RestDocumentHandlerPostMulti2
		{"_l6zhVTu--_", 0},                   // its predecessor in the same batch
		{"_l6zhVTu---", 0},                   // and the one before
	}
	for _, c := range cases {
		v, err := DecodeHLC(c.s)
		if err != nil {
			t.Fatalf("DecodeHLC(%q): %v", c.s, err)
		}
		if c.v != 0 && v != c.v {
			t.Fatalf("DecodeHLC(%q) = %d, want %d", c.s, v, c.v)
		}
		if got := EncodeHLC(v); got != c.s {
			t.Fatalf("EncodeHLC(DecodeHLC(%q)) = %q", c.s, got)
		}
	}
	// Consecutive revisions of one batch differ by one.
	a, _ := DecodeHLC("_l6zhVTu---")
	b, _ := DecodeHLC("_l6zhVTu--_")
	c, _ := DecodeHLC("_l6zhVTu--A")
	if b != a+1 || c != a+2 {
		t.Fatalf("consecutive revisions decode to %d %d %d", a, b, c)
	}
	// The HLC physical part (upper 44 bits) of a 2026 revision is a 2026 time in ms.
	if ms := a >> 20; ms < 1767225600000 || ms > 1798761600000 {
		t.Fatalf("physical time of _l6zhVTu--- is %d ms, not in 2026", ms)
	}
	if got := EncodeHLC(LowerBound); got != "_bpq8a-----" {
		t.Fatalf("EncodeHLC(LowerBound) = %q", got)
	}
}

// TestHLCMatchesGoDriver checks the codec against go-driver's
// RevisionUInt64 JSON (un)marshalling, the reference the brief names.
func TestHLCMatchesGoDriver(t *testing.T) {
	values := []uint64{1, 2, 63, 64, 4095, LowerBound, LowerBound + 12345, 1 << 63, math.MaxUint64}
	for _, v := range values {
		r := driver.RevisionUInt64(v)
		js, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if want := `"` + EncodeHLC(v) + `"`; string(js) != want {
			t.Fatalf("go-driver encodes %d as %s, we as %s", v, js, want)
		}
		var back driver.RevisionUInt64
		if err := back.UnmarshalJSON(js); err != nil || uint64(back) != v {
			t.Fatalf("go-driver decodes %s to %d (%v), want %d", js, back, err, v)
		}
	}
}

func TestDecodeHLCRejects(t *testing.T) {
	for _, s := range []string{"_l6zhVDW----", "abc!", "a b", "O----------", "99999999999", "\xff", strings.Repeat("-", 12)} {
		_, err := DecodeHLC(s)
		if err == nil {
			t.Fatalf("DecodeHLC(%q) accepted", s)
		}
		var re *RevisionError
		if !errors.Is(err, ErrBadRevision) || !errors.As(err, &re) || re.Input != s {
			t.Fatalf("DecodeHLC(%q) error %v is not a *RevisionError for the input", s, err)
		}
	}
	// Leading zero digits are accepted, as by arangod.
	if v, err := DecodeHLC("---_"); err != nil || v != 1 {
		t.Fatalf("DecodeHLC(---_) = %d, %v", v, err)
	}
}

func TestHashRevisionIsFNV1aOverLittleEndian(t *testing.T) {
	for _, v := range []uint64{0, 1, 0xdeadbeef, LowerBound, math.MaxUint64} {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], v)
		h := fnv.New64a()
		_, _ = h.Write(b[:])
		if got, want := HashRevision(v), h.Sum64(); got != want {
			t.Fatalf("HashRevision(%d) = %d, want %d", v, got, want)
		}
	}
	// A fixed point so that a change of the hash shows up even if both
	// implementations above changed: FNV-1a of eight zero bytes.
	if got := HashRevision(0); got != 0xa8c7f832281a39c5 {
		t.Fatalf("HashRevision(0) = %#x", got)
	}
}

func FuzzDecodeHLC(f *testing.F) {
	for _, s := range []string{"", "_l6zhVDW---", "N9999999999", "O----------", "abc!", "---_"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := DecodeHLC(s)
		if err != nil {
			if !errors.Is(err, ErrBadRevision) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if len(s) > MaxEncodedLen {
			t.Fatalf("accepted %d characters", len(s))
		}
		enc := EncodeHLC(v)
		if want := strings.TrimLeft(s, "-"); enc != want {
			t.Fatalf("EncodeHLC(DecodeHLC(%q)) = %q, want %q", s, enc, want)
		}
		var r driver.RevisionUInt64
		if err := r.UnmarshalJSON([]byte(`"` + s + `"`)); err != nil || uint64(r) != v {
			t.Fatalf("go-driver decodes %q to %d, we to %d", s, r, v)
		}
	})
}
