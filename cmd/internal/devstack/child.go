package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// child is one started process.
type child struct {
	name    string
	tier    int // stopped before lower tiers
	path    string
	args    []string
	logPath string

	cmd      *exec.Cmd
	log      *os.File
	ready    chan struct{} // closed at the first ready line on stdout
	line     []byte        // the ready line (after ready is closed)
	done     chan struct{} // closed when the process exited
	exitErr  error         // after done
	stopping atomic.Bool   // set before Close signals it: its exit is expected
}

// startChild starts path args in its own process group, stdout and stderr
// appended to logPath (truncated first).
func startChild(name, path string, args []string, logPath string, env []string) (*child, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("devstack: log of %s: %w", name, err)
	}
	c := &child{name: name, path: path, args: args, logPath: logPath, log: f,
		ready: make(chan struct{}), done: make(chan struct{})}
	// Not bound to a context: the stack stops its children itself, in
	// order, with SIGTERM first (Stack.Close).
	cmd := exec.CommandContext(context.Background(), path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = &readyWatch{w: f, c: c}
	cmd.Stderr = f
	// Own process group (signals reach the whole group, a ^C on the terminal
	// reaches only dc2dc dev, which stops the children in order), and die
	// with the parent.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("devstack: start %s (%s): %w", name, path, err)
	}
	c.cmd = cmd
	go func() {
		err := cmd.Wait()
		// Anything left in the group (grandchildren) goes with it.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = f.Close()
		c.exitErr = err
		close(c.done)
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// waitReady waits for the ready line, the exit of the process or the
// timeout, and decodes the line into v.
func (c *child) waitReady(timeout time.Duration, abort <-chan struct{}, v any) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.ready:
	case <-c.done:
		select {
		case <-c.ready:
		default:
			return fmt.Errorf("%s exited before it was ready (%w); the end of %s:\n%s", c.name, c.exitErr, c.logPath, Tail(c.logPath, 20))
		}
	case <-t.C:
		return fmt.Errorf("%s printed no ready line within %v; the end of %s:\n%s", c.name, timeout, c.logPath, Tail(c.logPath, 20))
	case <-abort:
		return errors.New("interrupted")
	}
	if err := json.Unmarshal(c.line, v); err != nil {
		return fmt.Errorf("%s: ready line %q: %w", c.name, c.line, err)
	}
	return nil
}

// signal sends sig to the child's process group.
func (c *child) signal(sig syscall.Signal) {
	select {
	case <-c.done:
	default:
		_ = syscall.Kill(-c.pid(), sig)
	}
}

// readyWatch copies stdout to the log and spots the first ready line: a
// JSON object whose "ready" member, when present, is true.
type readyWatch struct {
	w       *os.File
	c       *child
	mu      sync.Mutex
	partial []byte
	found   bool
}

func (r *readyWatch) Write(b []byte) (int, error) {
	n, err := r.w.Write(b)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.found {
		return len(b), err
	}
	r.partial = append(r.partial, b...)
	for {
		i := bytes.IndexByte(r.partial, '\n')
		if i < 0 {
			break
		}
		line := bytes.TrimSpace(r.partial[:i])
		r.partial = r.partial[i+1:]
		if IsReadyLine(line) {
			r.found = true
			r.c.line = append([]byte(nil), line...)
			close(r.c.ready)
			r.partial = nil
			break
		}
	}
	if len(r.partial) > 1<<20 {
		r.partial = nil
	}
	if err == nil && n < len(b) {
		err = errors.New("short write")
	}
	return len(b), err
}

// IsReadyLine reports whether line is a JSON object that does not say
// "ready" is anything but true (the ready line convention of dc2dc's
// commands and arangosim).
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

// Tail returns the last n lines of the file at path ("" when unreadable).
// It reads at most the last 64 KiB.
func Tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }()
	const maxTail = 64 << 10
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	if _, err := f.Seek(max(0, st.Size()-maxTail), io.SeekStart); err != nil {
		return ""
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return ""
	}
	b = bytes.TrimRight(b, "\n")
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
