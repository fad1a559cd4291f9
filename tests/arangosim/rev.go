package arangosim

import (
	"sync"
	"time"
)

// revAlphabet is ArangoDB's base64 variant for revisions (go-driver revision.go):
// '-', '_', 'A'-'Z', 'a'-'z', '0'-'9', most significant digit first, no padding.
const revAlphabet = "-_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

var revDecode = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(revAlphabet); i++ {
		t[revAlphabet[i]] = int8(i)
	}
	return t
}()

// EncodeRev writes an HLC revision the way arangod prints `_rev`. 0 encodes as "".
func EncodeRev(v uint64) string {
	var b [11]byte
	return string(appendRev(b[:0], v))
}

func appendRev(dst []byte, v uint64) []byte {
	if v == 0 {
		return dst
	}
	var buf [11]byte
	i := len(buf)
	for v > 0 {
		i--
		buf[i] = revAlphabet[v&0x3f]
		v >>= 6
	}
	return append(dst, buf[i:]...)
}

// DecodeRev parses an encoded `_rev`. It reports false for an empty string, a character
// outside the alphabet or a value that does not fit in 64 bits.
func DecodeRev(s string) (uint64, bool) {
	if s == "" || len(s) > 11 {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		d := revDecode[s[i]]
		if d < 0 {
			return 0, false
		}
		if v>>58 != 0 {
			return 0, false
		}
		v = v<<6 | uint64(d)
	}
	return v, true
}

// hlc is a hybrid logical clock like arangod's: physical milliseconds in the upper bits,
// a logical counter in the lower 20 bits, strictly increasing.
type hlc struct {
	mu   sync.Mutex
	last uint64
	now  func() time.Time
}

// Next returns a fresh revision, greater than every revision returned or observed before.
func (c *hlc) Next() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now
	if c.now != nil {
		now = c.now
	}
	v := uint64(now().UnixMilli()) << 20
	if v <= c.last {
		v = c.last + 1
	}
	c.last = v
	return v
}

// Observe moves the clock past rev (a revision supplied by a client with isRestore).
func (c *hlc) Observe(rev uint64) {
	c.mu.Lock()
	if rev > c.last && rev < 1<<62 {
		c.last = rev
	}
	c.mu.Unlock()
}
