package bench

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"github.com/dc2dc/dc2dc/tests/harness"
)

// The "two datacenters" form of the steady phase: each datacenter's
// processes get their own CPUs, as they would have their own machines.
// Datacenter A is arangosim A, Kafka A, A's masters and workers and the
// bench process (A's clients: the loader); datacenter B is the mirror (it
// runs beside the cluster it writes to), Kafka B, B's masters and workers
// and arangosim B. Pinning is done on the running processes with
// `taskset -a -p` (every thread; threads started later inherit it) and
// undone afterwards, so the other phases share every CPU as before.

// dcOf names the datacenter a topology process belongs to, from its name
// (arangosim-a, kafka-b, worker-a1, master-b2, mirror).
func dcOf(name string) string {
	base := strings.TrimRight(name, "0123456789")
	switch {
	case base == "mirror":
		return "B"
	case strings.HasSuffix(base, "-a"):
		return "A"
	case strings.HasSuffix(base, "-b"):
		return "B"
	}
	return ""
}

// cpuHalves returns the taskset CPU lists of A and of B: the first and the
// second half of this machine's CPUs (one each on 2 CPUs).
func cpuHalves() (a, b string, err error) {
	n := runtime.NumCPU()
	if n < 2 {
		return "", "", fmt.Errorf("%d CPU: nothing to split", n)
	}
	h := n / 2
	return cpuRange(0, h-1), cpuRange(h, n-1), nil
}

func cpuRange(lo, hi int) string {
	if lo == hi {
		return strconv.Itoa(lo)
	}
	return fmt.Sprintf("%d-%d", lo, hi)
}

// pinning is what pinDatacenters did, for unpin.
type pinning struct {
	pids []int
	all  string
}

// pinDatacenters pins every running process of the topology and the bench
// process to its datacenter's CPUs. It returns a description of the split.
func pinDatacenters(top *harness.Topology) (*pinning, string, error) {
	if _, err := exec.LookPath("taskset"); err != nil {
		return nil, "", fmt.Errorf("taskset (util-linux) not found: %w", err)
	}
	cpusA, cpusB, err := cpuHalves()
	if err != nil {
		return nil, "", err
	}
	p := &pinning{all: cpuRange(0, runtime.NumCPU()-1)}
	names := map[string][]string{}
	pin := func(pid int, name, cpus string) error {
		if err := taskset(pid, cpus); err != nil {
			return fmt.Errorf("pin %s (pid %d) to CPU %s: %w", name, pid, cpus, err)
		}
		p.pids = append(p.pids, pid)
		names[cpus] = append(names[cpus], name)
		return nil
	}
	if err := pin(os.Getpid(), "bench process (loader)", cpusA); err != nil {
		return p, "", errors.Join(err, p.unpin())
	}
	for _, pr := range top.Procs() {
		if pr == nil || !pr.Running() {
			continue
		}
		cpus := cpusA
		switch dcOf(pr.Name()) {
		case "A":
		case "B":
			cpus = cpusB
		default:
			continue
		}
		if err := pin(pr.Pid(), pr.Name(), cpus); err != nil {
			return p, "", errors.Join(err, p.unpin())
		}
	}
	return p, fmt.Sprintf("A on CPU %s: %s; B on CPU %s: %s", cpusA, strings.Join(names[cpusA], ", "),
		cpusB, strings.Join(names[cpusB], ", ")), nil
}

// unpin gives every pinned process all CPUs again (processes that exited
// meanwhile are skipped).
func (p *pinning) unpin() error {
	if p == nil {
		return nil
	}
	var errs []error
	for _, pid := range p.pids {
		if err := taskset(pid, p.all); err != nil {
			if _, statErr := os.Stat(fmt.Sprintf("/proc/%d", pid)); statErr == nil {
				errs = append(errs, fmt.Errorf("unpin pid %d: %w", pid, err))
			}
		}
	}
	p.pids = nil
	return errors.Join(errs...)
}

func taskset(pid int, cpus string) error {
	out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(pid)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
