package harness

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// Paused processes for the chaos suite (tests/chaos). Proc.Pause and
// Proc.Resume fail the test that started the process; the suite reuses one
// topology across subtests, so it needs versions that return an error, and
// a way to find (and resume) every paused process whatever happened in a
// run. Whether a process is paused is read from the kernel
// (/proc/<pid>/stat state T), not remembered, so a resume can never be
// missed: Proc.Stop (and so every test's cleanup) sends SIGCONT before
// SIGTERM, and ResumeAll resumes whatever is still stopped.

// PauseErr freezes the current run of the process with SIGSTOP (it keeps
// its sockets open and answers nothing) and returns an error instead of
// failing the test. Resume it with ResumeErr or ResumeAll.
func (p *Proc) PauseErr() error {
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		return fmt.Errorf("pause %s: %w", p.spec.Name, err)
	}
	return nil
}

// ResumeErr continues the current run of the process with SIGCONT. A
// process that is not running (killed meanwhile) is not an error.
func (p *Proc) ResumeErr() error {
	if !p.Running() {
		return nil
	}
	if err := p.Signal(syscall.SIGCONT); err != nil && p.Running() {
		return fmt.Errorf("resume %s: %w", p.spec.Name, err)
	}
	return nil
}

// Paused reports whether the current run of the process is stopped by a
// signal (state T in /proc/<pid>/stat). A process that is not running is
// not paused.
func (p *Proc) Paused() bool {
	if !p.Running() {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/stat")
	if err != nil {
		return false
	}
	return statStopped(b)
}

// statStopped reads the state field of a /proc/<pid>/stat line: the first
// field after the command name in parentheses (which may itself hold
// spaces and parentheses, hence the last ')').
func statStopped(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return false
	}
	s := stat[i+2]
	return s == 'T' || s == 't'
}

// ResumeAll resumes every paused process of procs (nil entries skipped)
// and returns the names of those it resumed and the errors it met.
func ResumeAll(procs ...*Proc) (resumed []string, err error) {
	var errs []error
	for _, p := range procs {
		if p == nil || !p.Paused() {
			continue
		}
		if e := p.ResumeErr(); e != nil {
			errs = append(errs, e)
			continue
		}
		resumed = append(resumed, p.spec.Name)
	}
	if len(errs) > 0 {
		return resumed, fmt.Errorf("resume: %v", errs)
	}
	return resumed, nil
}
