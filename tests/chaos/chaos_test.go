package chaos_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// TestChaos runs the fault × phase matrix: the bounded form by default (a
// few representative faults on one topology), every fault at every phase
// with DC2DC_CHAOS=full (make test-chaos). -short skips it.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos suite starts two datacenters of processes")
	}
	full := os.Getenv("DC2DC_CHAOS") == "full"
	opts := optionsFor(full)
	// DC2DC_CHAOS_RUNS selects runs by a regular expression on
	// "phase/fault" (e.g. "initial-sync/kill-worker-b"); -run cannot, as the
	// sessions start between the subtests.
	var only *regexp.Regexp
	if expr := os.Getenv("DC2DC_CHAOS_RUNS"); expr != "" {
		var err error
		if only, err = regexp.Compile(expr); err != nil {
			t.Fatalf("DC2DC_CHAOS_RUNS=%q: %v: give a regular expression on phase/fault", expr, err)
		}
	}
	var tab table
	tab.full = full
	started := time.Now()
	defer func() {
		tab.total = time.Since(started)
		text := tab.markdown()
		t.Logf("chaos results:\n%s", text)
		fmt.Println(text)
		if dir := os.Getenv("DC2DC_RESULTS"); dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Errorf("results folder: %v", err)
				return
			}
			path := filepath.Join(dir, "chaos.md")
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Errorf("write %s: %v", path, err)
			} else {
				t.Logf("results written to %s", path)
			}
		}
	}()

	var (
		s        *session
		sessions int
		skipWhy  string
	)
	defer func() { s.close() }()
	for _, rc := range matrix(full) {
		if only != nil && !only.MatchString(string(rc.phase)+"/"+rc.fault.name) {
			continue
		}
		res := &result{phase: rc.phase, fault: rc.fault.name}
		tab.rows = append(tab.rows, res)
		if why := rc.fault.na[rc.phase]; why != "" {
			res.status, res.err = statusNA, why
			continue
		}
		if skipWhy != "" {
			res.status, res.err = statusSkip, skipWhy
			continue
		}
		if bug := rc.fault.bug[rc.phase]; bug != "" {
			res.status, res.err = statusSkip, "known bug: "+bug
			t.Run(string(rc.phase)+"/"+rc.fault.name, func(t *testing.T) { t.Skip(res.err) })
			continue
		}
		// A fresh session for an initial sync (B must be empty) and after a
		// run that left the session unusable; it is started here, in the
		// test's goroutine, because starting it fails the test on error.
		if s == nil || s.broken != "" || (rc.phase == phaseInitial && s.initialSynced) {
			if s != nil && s.broken != "" {
				t.Logf("session %d is not reused: %s", s.n, s.broken)
			}
			s.close()
			sessions++
			s = newSession(t, sessions, opts)
		}
		if rc.phase == phaseSwitchover {
			s.startRevMirror()
		}
		res.session = s.n
		r := &run{s: s, phase: rc.phase, fault: rc.fault}
		t.Run(r.name(), func(t *testing.T) {
			r.t = t
			start := time.Now()
			err := r.exec(res)
			res.took = time.Since(start)
			res.notes = r.notes
			switch {
			case errors.Is(err, errSkip):
				res.status, res.err = statusSkip, err.Error()
				skipWhy = "not run: an earlier run could not configure the sync"
				t.Skipf("%v (the control plane does not configure a sync yet: the suite runs once `dc2dc configure sync` works)", err)
			case err != nil:
				res.status, res.err = statusFail, err.Error()
				r.printLogs()
				t.Errorf("%s: %v", r.name(), err)
			case !res.clean():
				res.status = statusFail
				r.printLogs()
				t.Errorf("%s: B differs from A: %s", r.name(), res.report)
			default:
				res.status = statusPass
			}
			t.Logf("%s: %s", r.name(), res.line())
		})
		if res.status == statusFail && s.broken == "" && !res.clean() {
			// A run that failed before B was found equal to A may leave the
			// sync in any state: start over. (One that failed after, e.g.
			// on the CLI's exit status, left a verified sync.)
			s.broken = "the run failed"
		}
		if s.reversed && s.broken == "" {
			s.broken = "a switchover run ended without its switch back"
		}
	}
	if skipWhy != "" {
		t.Skip("the sync could not be configured: see the skipped runs")
	}
}

// runCase is one cell of the matrix.
type runCase struct {
	phase phase
	fault fault
}

// matrix lists the runs in order: every initial-sync run first (each needs
// a fresh session), then the tailing runs and the stop runs, which reuse the
// last session (a stop run configures the sync again for the next one).
func matrix(full bool) []runCase {
	var out []runCase
	for _, p := range phases {
		for _, f := range faults() {
			// The full matrix lists every cell, an inapplicable one as n/a.
			if full || containsPhase(f.bounded, p) && f.na[p] == "" && f.bug[p] == "" {
				out = append(out, runCase{phase: p, fault: f})
			}
		}
	}
	return out
}

func containsPhase(ps []phase, p phase) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}
