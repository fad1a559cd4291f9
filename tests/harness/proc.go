package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Spec describes a process to start.
type Spec struct {
	// Name labels the process in log file names and failure output.
	Name string
	// Path is the binary (see Binary and Build).
	Path string
	Args []string
	// Env is added to the test's environment (KEY=value).
	Env []string
	// Dir is the working directory; default: the test's temp directory.
	Dir string
}

// Ready is the decoded JSON ready line of a process.
type Ready map[string]any

// String returns the field as a string ("" when absent or not a string).
func (r Ready) String(key string) string {
	s, _ := r[key].(string)
	return s
}

// Proc is a started process. Its methods are safe for concurrent use.
type Proc struct {
	t    testing.TB
	spec Spec
	dir  string

	mu      sync.Mutex
	cmd     *exec.Cmd
	run     int // how many times started
	stdout  *lineWatch
	stderr  *os.File
	exited  chan struct{}
	exitErr error
	logs    []string // every log file, for the failure output
}

// Start starts the process and registers its cleanup: when the test ends
// the process is stopped (SIGTERM, then SIGKILL after 10s), and when the test
// failed (or $DC2DC_TEST_LOGS is set) its stdout and stderr are printed.
func Start(t testing.TB, spec Spec) *Proc {
	t.Helper()
	if spec.Name == "" {
		spec.Name = filepath.Base(spec.Path)
	}
	p := &Proc{t: t, spec: spec, dir: t.TempDir()}
	if p.spec.Dir == "" {
		p.spec.Dir = p.dir
	}
	t.Cleanup(func() {
		_ = p.Stop(10 * time.Second)
		if t.Failed() || os.Getenv("DC2DC_TEST_LOGS") != "" {
			p.dumpLogs()
		}
	})
	if err := p.start(); err != nil {
		t.Fatalf("harness: start %s: %v", spec.Name, err)
	}
	return p
}

func (p *Proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !isClosed(p.exited) {
		return fmt.Errorf("%s is still running", p.spec.Name)
	}
	p.run++
	base := filepath.Join(p.dir, fmt.Sprintf("%s.%d", p.spec.Name, p.run))
	out, err := os.Create(base + ".stdout")
	if err != nil {
		return err
	}
	errf, err := os.Create(base + ".stderr")
	if err != nil {
		_ = out.Close()
		return err
	}
	p.logs = append(p.logs, out.Name(), errf.Name())
	// No context: Stop and Kill9 end the process (SIGTERM first), not a
	// cancellation's SIGKILL.
	cmd := exec.CommandContext(context.Background(), p.spec.Path, p.spec.Args...)
	cmd.Dir = p.spec.Dir
	cmd.Env = append(os.Environ(), p.spec.Env...)
	watch := newLineWatch(out)
	cmd.Stdout = watch
	cmd.Stderr = errf
	// Own process group: a ^C of the test run does not reach it first, and
	// signals go to exactly this process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A grandchild holding stdout must not keep Wait forever.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		_ = out.Close()
		_ = errf.Close()
		return err
	}
	exited := make(chan struct{})
	p.cmd, p.stdout, p.stderr, p.exited, p.exitErr = cmd, watch, errf, exited, nil
	go func() {
		err := cmd.Wait()
		_ = out.Close()
		_ = errf.Close()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(exited)
	}()
	return nil
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Restart starts the process again with the same spec (after Kill9 or
// Stop); its output goes to new log files. WaitReady then waits for the new
// run's ready line.
func (p *Proc) Restart() {
	p.t.Helper()
	if err := p.start(); err != nil {
		p.t.Fatalf("harness: restart %s: %v", p.spec.Name, err)
	}
}

// WaitReady waits up to timeout for the ready line of the current run and
// returns it. It fails early when the process exits first.
func (p *Proc) WaitReady(timeout time.Duration) (Ready, error) {
	p.mu.Lock()
	watch, exited := p.stdout, p.exited
	p.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-watch.ready:
	case <-exited:
		// The ready line may have been the last thing it printed.
		if !isClosed(watch.ready) {
			return nil, fmt.Errorf("%s exited before it was ready: %w", p.spec.Name, p.ExitErr())
		}
	case <-t.C:
		return nil, fmt.Errorf("%s printed no ready line within %s", p.spec.Name, timeout)
	}
	var r Ready
	if err := json.Unmarshal(watch.readyLine, &r); err != nil {
		return nil, err
	}
	return r, nil
}

// MustReady is WaitReady that fails the test on error.
func (p *Proc) MustReady(timeout time.Duration) Ready {
	p.t.Helper()
	r, err := p.WaitReady(timeout)
	if err != nil {
		p.t.Fatalf("harness: %v", err)
	}
	return r
}

// Kill9 kills the process with SIGKILL and waits until it is gone.
func (p *Proc) Kill9() {
	p.t.Helper()
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil || isClosed(exited) {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		p.t.Fatalf("harness: %s (pid %d) did not die within 30s of SIGKILL", p.spec.Name, cmd.Process.Pid)
	}
}

// Signal sends sig to the current run of the process.
func (p *Proc) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil || isClosed(exited) {
		return fmt.Errorf("%s is not running", p.spec.Name)
	}
	return cmd.Process.Signal(sig)
}

// Pause freezes the process (SIGSTOP): it keeps its sockets open but
// answers nothing, like a hung broker or a long GC pause. Resume undoes it;
// cleanup resumes a paused process before stopping it.
func (p *Proc) Pause() {
	p.t.Helper()
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		p.t.Fatalf("harness: pause: %v", err)
	}
}

// Resume continues a paused process (SIGCONT).
func (p *Proc) Resume() {
	p.t.Helper()
	if err := p.Signal(syscall.SIGCONT); err != nil {
		p.t.Fatalf("harness: resume: %v", err)
	}
}

// Stop sends SIGTERM and waits up to timeout for the process to exit, then
// kills it. It returns the process's exit error (nil for exit status 0) or
// an error saying it had to be killed. Stopping a stopped process returns
// its earlier exit error.
func (p *Proc) Stop(timeout time.Duration) error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if isClosed(exited) {
		return p.ExitErr()
	}
	_ = cmd.Process.Signal(syscall.SIGCONT) // a paused process cannot handle SIGTERM
	_ = cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-exited:
		return p.ExitErr()
	case <-t.C:
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	return fmt.Errorf("%s did not stop within %s of SIGTERM and was killed", p.spec.Name, timeout)
}

// Exited is closed when the current run of the process has exited.
func (p *Proc) Exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited
}

// ExitErr is the current run's exit error (nil while running or after exit
// status 0).
func (p *Proc) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitErr
}

// Pid is the process id of the current run.
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// Stdout returns what the current run printed on stdout so far.
func (p *Proc) Stdout() string { return p.readLog(0) }

// Stderr returns what the current run printed on stderr so far.
func (p *Proc) Stderr() string { return p.readLog(1) }

func (p *Proc) readLog(which int) string {
	p.mu.Lock()
	name := p.logs[len(p.logs)-2+which]
	p.mu.Unlock()
	b, _ := os.ReadFile(name)
	return string(b)
}

// dumpLogs prints the end of every log file of every run.
func (p *Proc) dumpLogs() {
	p.mu.Lock()
	logs := append([]string(nil), p.logs...)
	p.mu.Unlock()
	const tail = 32 << 10
	for _, name := range logs {
		b, err := os.ReadFile(name)
		if err != nil || len(b) == 0 {
			continue
		}
		cut := ""
		if len(b) > tail {
			b = b[len(b)-tail:]
			cut = " (last 32 KiB)"
		}
		p.t.Logf("==== %s%s ====\n%s", filepath.Base(name), cut, b)
	}
}

// lineWatch copies a process's stdout to a file and spots its ready line.
type lineWatch struct {
	f         *os.File
	mu        sync.Mutex
	partial   []byte
	ready     chan struct{}
	readyLine []byte
}

func newLineWatch(f *os.File) *lineWatch { return &lineWatch{f: f, ready: make(chan struct{})} }

func (w *lineWatch) Write(b []byte) (int, error) {
	n, err := w.f.Write(b)
	w.mu.Lock()
	defer w.mu.Unlock()
	if isClosed(w.ready) {
		return n, err
	}
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := bytes.TrimSpace(w.partial[:i])
		w.partial = w.partial[i+1:]
		if IsReadyLine(line) {
			w.readyLine = append([]byte(nil), line...)
			close(w.ready)
			w.partial = nil
			break
		}
	}
	if len(w.partial) > 1<<20 { // not a line protocol: stop buffering
		w.partial = nil
	}
	return n, err
}

// IsReadyLine reports whether line is a ready line: a JSON object that
// does not say "ready" is anything but true. So {"ready":true,...} and
// `dc2dc kafka`'s {"brokers":[...],"pid":1} are ready lines, while
// {"ready":false} and non-JSON output are not.
func IsReadyLine(line []byte) bool {
	if len(line) == 0 || line[0] != '{' {
		return false
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal(line, &v); err != nil {
		return false
	}
	r, ok := v["ready"]
	return !ok || string(r) == "true"
}
