package harness_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dc2dc/dc2dc/tests/harness"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { harness.RemoveBuilds() }))
}

const testproc = "./tests/harness/internal/testproc"

func TestReadyLineKill9AndRestart(t *testing.T) {
	bin := harness.Build(t, testproc)
	p := harness.Start(t, harness.Spec{Name: "tp", Path: bin, Args: []string{"-ready-after", "200ms"}, Env: []string{"TESTPROC_VALUE=42"}})
	r := p.MustReady(10 * time.Second)
	if r.String("component") != "testproc" || r.String("env") != "42" {
		t.Fatalf("ready line %v: want component testproc and env 42 from Spec.Env", r)
	}
	if !strings.Contains(p.Stdout(), "starting up") || !strings.Contains(p.Stderr(), "a line on stderr") {
		t.Fatalf("output not captured: stdout %q stderr %q", p.Stdout(), p.Stderr())
	}
	firstPid := p.Pid()
	p.Kill9()
	select {
	case <-p.Exited():
	default:
		t.Fatal("Kill9 returned before the process exited")
	}
	var ee *exec.ExitError
	if err := p.ExitErr(); !errors.As(err, &ee) || ee.ProcessState.Sys().(interface{ Signaled() bool }).Signaled() == false {
		t.Fatalf("exit error after Kill9 = %v, want killed by a signal", p.ExitErr())
	}
	p.Restart()
	r = p.MustReady(10 * time.Second)
	if int(r["pid"].(float64)) == firstPid || p.Pid() == firstPid {
		t.Fatalf("restart reused pid %d", firstPid)
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatalf("Stop of a process that exits 0 on SIGTERM: %v", err)
	}
}

func TestStopEscalatesToSIGKILL(t *testing.T) {
	bin := harness.Build(t, testproc)
	p := harness.Start(t, harness.Spec{Path: bin, Args: []string{"-ignore-term"}})
	p.MustReady(10 * time.Second)
	start := time.Now()
	err := p.Stop(300 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "was killed") {
		t.Fatalf("Stop of a process ignoring SIGTERM = %v, want a 'was killed' error", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Stop took %s", d)
	}
	harness.Eventually(t, 5*time.Second, 10*time.Millisecond, func() (bool, string) {
		return strings.Contains(p.Stderr(), "ignoring SIGTERM"), "stderr: " + p.Stderr()
	})
}

func TestStopReportsExitCode(t *testing.T) {
	bin := harness.Build(t, testproc)
	p := harness.Start(t, harness.Spec{Path: bin, Args: []string{"-term-code", "3"}})
	p.MustReady(10 * time.Second)
	var ee *exec.ExitError
	if err := p.Stop(5 * time.Second); !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("Stop = %v, want exit status 3", err)
	}
}

func TestWaitReadyFailsFast(t *testing.T) {
	bin := harness.Build(t, testproc)
	p := harness.Start(t, harness.Spec{Path: bin, Args: []string{"-no-ready", "-exit", "1"}})
	start := time.Now()
	if _, err := p.WaitReady(20 * time.Second); err == nil || !strings.Contains(err.Error(), "exited before it was ready") {
		t.Fatalf("WaitReady = %v, want 'exited before it was ready'", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("WaitReady waited for its deadline although the process had exited")
	}
	q := harness.Start(t, harness.Spec{Path: bin, Args: []string{"-no-ready"}})
	if _, err := q.WaitReady(200 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "no ready line") {
		t.Fatalf("WaitReady = %v, want a timeout", err)
	}
	// A ready line followed by an immediate exit still counts.
	r := harness.Start(t, harness.Spec{Path: bin, Args: []string{"-exit", "0"}})
	if _, err := r.WaitReady(10 * time.Second); err != nil {
		t.Fatalf("ready then exit: %v", err)
	}
}

func TestIsReadyLine(t *testing.T) {
	for line, want := range map[string]bool{
		`{"ready":true}`:                   true,
		`{"ready":true,"brokers":["a:1"]}`: true,
		`{"ready":false}`:                  false,
		`{"ready":"yes"}`:                  false,
		`{"brokers":["127.0.0.1:1"]}`:      true,
		`{"ready":null}`:                   false,
		`ready`:                            false,
		`{"ready":true`:                    false,
		``:                                 false,
	} {
		if got := harness.IsReadyLine([]byte(line)); got != want {
			t.Errorf("IsReadyLine(%q) = %v, want %v", line, got, want)
		}
	}
}

func TestFreePortIsUnique(t *testing.T) {
	seen := map[int]bool{}
	for range 50 {
		p := harness.FreePort(t)
		if p <= 0 || seen[p] {
			t.Fatalf("FreePort returned %d twice or invalid", p)
		}
		seen[p] = true
	}
}

// recorder is a testing.TB that records a Fatalf instead of stopping.
type recorder struct {
	testing.TB
	failed atomic.Bool
	msg    string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed.Store(true)
	r.msg = fmt.Sprintf(format, args...)
}

func TestEventually(t *testing.T) {
	calls := 0
	harness.Eventually(t, 5*time.Second, time.Millisecond, func() (bool, string) {
		calls++
		return calls == 3, fmt.Sprintf("%d calls", calls)
	})
	if calls != 3 {
		t.Fatalf("cond called %d times, want 3", calls)
	}

	rec := &recorder{TB: t}
	n := 0
	start := time.Now()
	harness.Eventually(rec, 50*time.Millisecond, 5*time.Millisecond, func() (bool, string) {
		n++
		return false, fmt.Sprintf("seen %d", n)
	})
	if !rec.failed.Load() || !strings.Contains(rec.msg, fmt.Sprintf("seen %d", n)) {
		t.Fatalf("Eventually past its deadline: failed=%v msg=%q, want the last message", rec.failed.Load(), rec.msg)
	}
	if d := time.Since(start); d < 50*time.Millisecond || n < 2 {
		t.Fatalf("gave up after %s and %d calls", d, n)
	}

	rec = &recorder{TB: t}
	once := 0
	harness.Eventually(rec, 0, time.Millisecond, func() (bool, string) { once++; return true, "" })
	if rec.failed.Load() || once != 1 {
		t.Fatalf("zero deadline: failed=%v calls=%d, want one passing call", rec.failed.Load(), once)
	}
}

func TestPauseResume(t *testing.T) {
	bin := harness.Build(t, testproc)
	p := harness.Start(t, harness.Spec{Path: bin})
	p.MustReady(10 * time.Second)
	p.Pause()
	// A stopped process shows state T in /proc/<pid>/stat.
	state := func() string {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid()))
		if err != nil {
			return "?"
		}
		// pid (comm) state ...
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		return strings.TrimSpace(s[i+1:])[:1]
	}
	harness.Eventually(t, 5*time.Second, 5*time.Millisecond, func() (bool, string) {
		st := state()
		return st == "T", "process state " + st
	})
	p.Resume()
	harness.Eventually(t, 5*time.Second, 5*time.Millisecond, func() (bool, string) {
		st := state()
		return st == "S" || st == "R", "process state " + st
	})
	// Stop works on a paused process too.
	p.Pause()
	if err := p.Stop(5 * time.Second); err != nil {
		t.Fatalf("Stop of a paused process: %v", err)
	}
}
