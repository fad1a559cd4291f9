package bench

import (
	"os"
	"testing"
	"time"
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

func TestParseStatCPU(t *testing.T) {
	line := "1234 (dc2dc worker) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 100 1000 10 18446744073709551615"
	got, err := parseStatCPU([]byte(line))
	if err != nil || got != 3*time.Second {
		t.Errorf("parseStatCPU = %v, %v; want 3s", got, err)
	}
	for _, bad := range []string{"", "1 (x", "1 (x) S 1 2", "1 (a) b) S 1 1 1 0 -1 0 0 0 0 0 x 5 0"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("parseStatCPU(%q): no error", bad)
		}
	}
	if _, err := os.Stat("/proc/self/stat"); err == nil {
		if _, err := procCPU(os.Getpid()); err != nil {
			t.Errorf("procCPU(self): %v", err)
		}
	}
}

func FuzzParseStatCPU(f *testing.F) {
	f.Add([]byte("1234 (dc2dc worker) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 100 1000 10"))
	f.Add([]byte("1 ((x)) R 0 0 0 0 0 0 0 0 0 0 1 1 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseStatCPU(b)
		if err == nil && d < 0 {
			t.Fatalf("parseStatCPU(%q) = %v", b, d)
		}
	})
}
