package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// parseVmRSS returns the VmRSS line of a /proc/<pid>/status text in bytes
// (the kernel prints it in kB).
func parseVmRSS(status []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		line := sc.Bytes()
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("VmRSS line %q: want \"VmRSS: <n> kB\"", line)
		}
		n, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil || n < 0 || n > 1<<40 {
			return 0, fmt.Errorf("VmRSS line %q: the size is not a count of kB", line)
		}
		return n * 1024, nil
	}
	return 0, fmt.Errorf("no VmRSS line (a kernel thread, a zombie, or not Linux's /proc/<pid>/status)")
}

// vmRSS reads the resident set size of process pid (Linux only).
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVmRSS(b)
}
