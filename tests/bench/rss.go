package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
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

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times (100 on
// every Linux the benchmark runs on).
const clockTicks = 100

// parseStatCPU returns the user+system CPU time of a /proc/<pid>/stat line
// (fields 14 and 15, counted after the command name, which may hold spaces
// and parentheses).
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat line %.40q: no command name in parentheses", stat)
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("stat line %.40q: %d fields after the command, want at least 13", stat, len(f))
	}
	var total int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil || n < 0 || n > 1<<40 {
			return 0, fmt.Errorf("stat line %.40q: CPU time %q is not a count of clock ticks", stat, s)
		}
		total += n
	}
	return time.Duration(total) * time.Second / clockTicks, nil
}

// procCPU reads the CPU time process pid used so far (Linux only).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}
