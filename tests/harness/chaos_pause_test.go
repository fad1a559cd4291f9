package harness_test

import (
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/tests/harness"
)

// TestPauseErrResumeAll: PauseErr stops the process (Paused sees it in
// /proc), ResumeAll finds and resumes it, and neither touches a process
// that is not running.
func TestPauseErrResumeAll(t *testing.T) {
	bin := harness.Build(t, testproc)
	p := harness.Start(t, harness.Spec{Name: "paused", Path: bin})
	q := harness.Start(t, harness.Spec{Name: "running", Path: bin})
	p.MustReady(10 * time.Second)
	q.MustReady(10 * time.Second)
	if err := p.PauseErr(); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 5*time.Second, 5*time.Millisecond, func() (bool, string) {
		return p.Paused(), "not paused yet"
	})
	if q.Paused() {
		t.Fatal("a running process reads as paused")
	}
	resumed, err := harness.ResumeAll(p, q, nil)
	if err != nil || len(resumed) != 1 || resumed[0] != "paused" {
		t.Fatalf("ResumeAll = %v, %v; want [paused]", resumed, err)
	}
	harness.Eventually(t, 5*time.Second, 5*time.Millisecond, func() (bool, string) {
		return !p.Paused(), "still paused"
	})
	// A killed process is neither paused nor an error to resume.
	q.Kill9()
	if q.Paused() {
		t.Fatal("a killed process reads as paused")
	}
	if err := q.ResumeErr(); err != nil {
		t.Fatalf("ResumeErr of a killed process: %v", err)
	}
	if err := q.PauseErr(); err == nil {
		t.Fatal("PauseErr of a killed process: no error")
	}
}
