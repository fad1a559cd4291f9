package bench

import (
	"os"
	"testing"
)

func TestParseVmRSS(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"Name:\tdc2dc\nVmPeak:\t  100 kB\nVmRSS:\t   2048 kB\nThreads: 9\n", 2048 * 1024, true},
		{"VmRSS: 1 kB", 1024, true},
		{"Name: x\n", 0, false},
		{"VmRSS: 12 MB\n", 0, false},
		{"VmRSS: -3 kB\n", 0, false},
		{"VmRSS: kB\n", 0, false},
	} {
		got, err := parseVmRSS([]byte(c.in))
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseVmRSS(%q) = %d, %v; want %d, ok %v", c.in, got, err, c.want, c.ok)
		}
	}
	if _, err := os.Stat("/proc/self/status"); err == nil {
		n, err := vmRSS(os.Getpid())
		if err != nil || n <= 0 {
			t.Errorf("vmRSS(self) = %d, %v", n, err)
		}
	}
}

func FuzzParseVmRSS(f *testing.F) {
	f.Add([]byte("VmRSS:\t   2048 kB\n"))
	f.Add([]byte("Name: x\nVmRSS: 1 kB\nVmRSS: 2 kB\n"))
	f.Add([]byte("VmRSS: 99999999999999999999 kB\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := parseVmRSS(b)
		if err == nil && (n < 0 || n%1024 != 0) {
			t.Fatalf("parseVmRSS(%q) = %d without error", b, n)
		}
	})
}
