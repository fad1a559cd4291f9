package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Helpers of the chaos suite (tests/chaos), which reuses one Topology
// across many subtests: it must restart processes and wait for them
// without failing the test that started the topology (Proc's own t), and
// print the logs of exactly the processes a failed run involved.

// Name is the process's label (Spec.Name).
func (p *Proc) Name() string { return p.spec.Name }

// LogFiles lists the paths of every log file of every run of the process,
// oldest run first (stdout, then stderr of each run).
func (p *Proc) LogFiles() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.logs...)
}

// LogTail returns the last max bytes of every non-empty log file of the
// process, each under a header naming the file.
func (p *Proc) LogTail(maxBytes int) string {
	out := ""
	for _, name := range p.LogFiles() {
		b, err := os.ReadFile(name)
		if err != nil || len(b) == 0 {
			continue
		}
		cut := ""
		if len(b) > maxBytes {
			b = b[len(b)-maxBytes:]
			cut = fmt.Sprintf(" (last %d bytes)", maxBytes)
		}
		out += fmt.Sprintf("==== %s%s ====\n%s\n", filepath.Base(name), cut, b)
	}
	return out
}

// Running reports whether the current run has not exited (false before
// the first start).
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && !isClosed(p.exited)
}

// RestartWait starts a stopped or killed process again and waits up to
// timeout for its ready line. Unlike Restart and MustReady it returns an
// error instead of failing the test that started the process. A running
// process is left alone.
func (p *Proc) RestartWait(timeout time.Duration) error {
	if p.Running() {
		return nil
	}
	if err := p.start(); err != nil {
		return fmt.Errorf("restart %s: %w", p.spec.Name, err)
	}
	_, err := p.WaitReady(timeout)
	return err
}

// RestartWait restarts a stopped or killed member at its endpoint and waits
// for its ready line (a worker's comes once it registered), returning an
// error instead of failing the test.
func (m *Member) RestartWait(timeout time.Duration) error {
	if m.Running() {
		return nil
	}
	if err := m.start(); err != nil {
		return fmt.Errorf("restart %s: %w", m.ID, err)
	}
	r, err := m.WaitReady(timeout)
	if err != nil {
		return err
	}
	if r.String("id") != m.ID || r.String("component") != m.Role {
		return fmt.Errorf("%s: unexpected ready line %v", m.ID, r)
	}
	return nil
}

// RestartWait restarts a stopped or killed broker on its port and data
// directory and waits until it announces its address, returning an error
// instead of failing the test.
func (k *Kafka) RestartWait(timeout time.Duration) error {
	if k.Running() {
		return nil
	}
	if err := k.start(); err != nil {
		return fmt.Errorf("restart %s: %w", k.spec.Name, err)
	}
	r, err := k.Proc.WaitReady(timeout)
	if err != nil {
		return err
	}
	brokers, _ := r["brokers"].([]any)
	if len(brokers) != 1 || brokers[0] != k.Addr {
		return fmt.Errorf("%s announces brokers %v, want [%s]", k.spec.Name, r["brokers"], k.Addr)
	}
	return nil
}

// Procs lists every process of the topology: both arangosim clusters and
// brokers, the mirror, every master and worker.
func (top *Topology) Procs() []*Proc {
	ps := []*Proc{top.A.Sim, top.B.Sim, top.A.Kafka.Proc, top.B.Kafka.Proc, top.Mirror}
	for _, dc := range []*DC{top.A, top.B} {
		for _, m := range dc.Masters {
			ps = append(ps, m.Proc)
		}
		for _, w := range dc.Workers {
			ps = append(ps, w.Proc)
		}
	}
	return ps
}

// StopAll stops every process of the topology (SIGTERM, then SIGKILL after
// timeout), workers and masters first, the clusters last. The test's
// cleanup finds them stopped.
func (top *Topology) StopAll(timeout time.Duration) {
	ps := top.Procs()
	for i := len(ps) - 1; i >= 0; i-- {
		if ps[i] != nil {
			_ = ps[i].Stop(timeout)
		}
	}
}
