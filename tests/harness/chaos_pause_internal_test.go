package harness

import (
	"strings"
	"testing"
)

// FuzzStatStopped: statStopped never panics and agrees with a plain
// reading of the state field (the first word after the last ')').
func FuzzStatStopped(f *testing.F) {
	for _, s := range []string{
		"1234 (dc2dc) T 1 1234 1 0 -1",
		"1234 (dc2dc) S 1 1234 1 0 -1",
		"1234 (a) b) t 1",
		"1234 (x",
		"1234 (x)",
		"1234 (x) ",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := statStopped(b)
		s := string(b)
		// "pid (comm) S ...": the state is two bytes after the last ')'.
		want := false
		if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
			want = s[i+2] == 'T' || s[i+2] == 't'
		}
		if got != want {
			t.Fatalf("statStopped(%q) = %v, want %v", s, got, want)
		}
	})
}
