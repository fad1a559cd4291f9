package revtree

import (
	"errors"
	"fmt"
)

// alphabet is ArangoDB's base64 variant for HLC values, in digit order.
const alphabet = "-_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// MaxEncodedLen is the longest encoded form arangod accepts (11 digits of 6 bits
// cover 64 bits).
const MaxEncodedLen = 11

var decodeTable = func() [256]int8 {
	var t [256]int8
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = int8(i)
	}
	return t
}()

// ErrBadRevision is matched (errors.Is) by every error DecodeHLC returns.
var ErrBadRevision = errors.New("revtree: invalid revision string")

// RevisionError describes why a revision string was refused.
type RevisionError struct {
	Input  string
	Reason string
}

func (e *RevisionError) Error() string {
	return fmt.Sprintf("revtree: invalid revision %q: %s", e.Input, e.Reason)
}

// Is makes errors.Is(err, ErrBadRevision) true.
func (e *RevisionError) Is(target error) bool { return target == ErrBadRevision }

// EncodeHLC writes v in ArangoDB's HLC base64 form, most significant digit
// first, without leading "-" (zero) digits. EncodeHLC(0) is "", as in arangod.
func EncodeHLC(v uint64) string {
	var buf [MaxEncodedLen]byte
	pos := len(buf)
	for v > 0 {
		pos--
		buf[pos] = alphabet[v&0x3f]
		v >>= 6
	}
	return string(buf[pos:])
}

// AppendHLC appends the encoded form of v to dst.
func AppendHLC(dst []byte, v uint64) []byte {
	return append(dst, EncodeHLC(v)...)
}

// DecodeHLC parses an encoded HLC value. Like arangod's
// HybridLogicalClock::decodeTimeStamp it refuses strings longer than 11
// characters and characters outside the alphabet; unlike arangod (which
// shifts the surplus bits out) it also refuses an 11-character string whose
// value does not fit in 64 bits, since no encoder can produce it. The empty
// string decodes to 0, as in arangod.
func DecodeHLC(s string) (uint64, error) {
	if len(s) > MaxEncodedLen {
		return 0, &RevisionError{Input: s, Reason: fmt.Sprintf("longer than %d characters", MaxEncodedLen)}
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		d := decodeTable[s[i]]
		if d < 0 {
			return 0, &RevisionError{Input: s, Reason: fmt.Sprintf("character %q at offset %d is not in the alphabet -_A-Za-z0-9", s[i], i)}
		}
		if v>>58 != 0 {
			return 0, &RevisionError{Input: s, Reason: "value overflows 64 bits"}
		}
		v = v<<6 | uint64(d)
	}
	return v, nil
}

// HashRevision is the per-revision hash arangod's revision trees use:
// FnvHashProvider::hash = TRI_FnvHashPod(rev), i.e. 64-bit FNV-1a over the
// eight bytes of the value in memory order (little endian on every platform
// ArangoDB supports).
func HashRevision(rev uint64) uint64 {
	const (
		offset = 0xcbf29ce484222325
		prime  = 0x00000100000001b3
	)
	h := uint64(offset)
	for i := 0; i < 8; i++ {
		h ^= rev & 0xff
		h *= prime
		rev >>= 8
	}
	return h
}
