package chaos_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/tests/harness"
	"github.com/dc2dc/dc2dc/tests/workload"
)

// phase is when a fault hits the sync.
type phase string

const (
	// phaseInitial: while the first snapshot of the bulk collection runs.
	phaseInitial phase = "initial-sync"
	// phaseTailing: every shard tails A's WAL under the steady write load.
	phaseTailing phase = "tailing"
	// phaseStop: while `stop sync --ensure-in-sync` runs.
	phaseStop phase = "stop"
	// phaseSwitchover: while B takes over (switchover_test.go): after stop
	// sync --ensure-in-sync, with B written and A configured as B's target,
	// A catching up from B; the run ends with the switch back.
	phaseSwitchover phase = "switchover"
)

var phases = []phase{phaseInitial, phaseTailing, phaseStop, phaseSwitchover}

// options shape the matrix (bounded or full).
type options struct {
	full      bool
	bulkDocs  int           // documents of the bulk collection (initial sync lasts a few seconds)
	bulkBytes int           // padding of each
	rate      float64       // workload operations per second
	hold      time.Duration // how long a lasting fault (503s, a stopped DB-Server) lasts
	// pause is how long a paused worker or mirror stays stopped at least
	// (longer than the Kafka session timeouts of 3 s).
	pause time.Duration
	// mirrorDown is the mirror outage of the mirror-down fault.
	mirrorDown time.Duration
	// converge bounds the wait for B to equal A after a run.
	converge time.Duration
	// stopTimeout is stop sync's --timeout.
	stopTimeout time.Duration
	logLevel    string
}

func optionsFor(full bool) options {
	o := options{full: full, bulkDocs: 15000, bulkBytes: 512, rate: 60, hold: 4 * time.Second, pause: 8 * time.Second,
		mirrorDown: 10 * time.Second, converge: 2 * time.Minute, stopTimeout: 3 * time.Minute, logLevel: "info"}
	if full {
		o.bulkDocs, o.hold, o.mirrorDown, o.converge, o.stopTimeout = 30000, 8*time.Second, 60*time.Second, 3*time.Minute, 4*time.Minute
		o.pause = 12 * time.Second
	}
	if lv := os.Getenv("DC2DC_CHAOS_LOG"); lv != "" {
		o.logLevel = lv
	}
	return o
}

// run is one fault at one phase.
type run struct {
	t     *testing.T
	s     *session
	phase phase
	fault fault

	mu       sync.Mutex
	notes    []string
	involved []*harness.Proc
}

func (r *run) name() string { return string(r.phase) + "/" + r.fault.name }

func (r *run) notef(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.t.Log(msg)
	r.mu.Lock()
	r.notes = append(r.notes, msg)
	r.mu.Unlock()
}

// involve names processes whose logs a failure prints.
func (r *run) involve(ps ...*harness.Proc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range ps {
		if p != nil && !containsProc(r.involved, p) {
			r.involved = append(r.involved, p)
		}
	}
}

func containsProc(ps []*harness.Proc, p *harness.Proc) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// hold lets a lasting fault last d (the outage itself, not a wait for a
// condition: the load keeps writing meanwhile).
func (r *run) hold(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	<-t.C
}

// errSkip marks a run that could not start because the control plane does
// not (yet) configure a sync.
var errSkip = errors.New("skipped")

// exec runs the phase with the fault and fills res. A returned error fails
// the run (res carries what was measured); errSkip skips it.
func (r *run) exec(res *result) error {
	s := r.s
	runStart := time.Now()
	before := s.stats()
	logsBefore := s.logCounts()
	defer func() { res.events = delta(logsBefore, s.logCounts()) }()
	switch r.phase {
	case phaseInitial:
		if err := s.configure(); err != nil {
			return fmt.Errorf("%w: %w", errSkip, err)
		}
		s.initialSynced = true
		s.startLoad()
		var seen string
		if err := poll(60*time.Second, 50*time.Millisecond, func() (bool, string) {
			ok, msg := s.inInitialSync(r.t)
			seen = msg
			return ok, msg
		}); err != nil {
			r.notef("no shard seen in its initial sync (%v): the fault hits later", err)
		} else {
			r.notef("the fault hits in the initial sync (%s)", seen)
		}
	case phaseTailing, phaseStop, phaseSwitchover:
		if !s.configured {
			if err := s.configure(); err != nil {
				return fmt.Errorf("%w: %w", errSkip, err)
			}
		}
		if err := s.waitRunning(3*time.Minute, 10); err != nil {
			s.broken = "the sync did not run before the fault"
			return fmt.Errorf("before the fault: %w", err)
		}
		s.startLoad()
		s.waitOps(r.t, int64(2*s.opts.rate), 30*time.Second)
	}
	if r.phase == phaseSwitchover {
		// The fault hits while A catches up from the promoted, written B.
		if err := r.switchover(res); err != nil {
			if s.broken == "" {
				s.broken = "the switchover failed"
			}
			return fmt.Errorf("switchover: %w", err)
		}
	}
	res.ready = time.Since(runStart)

	var (
		stopDone  chan harness.CLIResult
		stopStart time.Time
		// stopErr: stop sync failed although the sync went on stopping;
		// the run fails with it after measuring the data.
		stopErr error
	)
	if r.phase == phaseStop {
		// A must be quiet when the stop's barrier passes, or what it writes
		// afterwards is (rightly) not replicated.
		if err := s.stopLoad(); err != nil {
			r.notef("workload: %v", err)
		}
		stopDone = make(chan harness.CLIResult, 1)
		stopStart = time.Now()
		go func() {
			stopDone <- s.cli(s.top.B, s.opts.stopTimeout+time.Minute, "stop", "sync", "--sync-id", syncID,
				"--timeout", s.opts.stopTimeout.String())
		}()
		// The fault hits while the sync is stopping.
		if err := poll(30*time.Second, 50*time.Millisecond, func() (bool, string) {
			st, err := s.status(s.top.B)
			if err != nil {
				return false, err.Error()
			}
			return st.State != plan.StateRunning, "B: " + summary(st)
		}); err != nil {
			r.notef("B's sync is not stopping within 30 s of stop sync: %v", err)
		} else if st, err := s.status(s.top.B); err == nil && st.State != plan.StateStopping {
			r.notef("B's sync is %s already when the fault hits", st.State)
		}
	}

	injected := time.Now()
	restore, ierr := r.fault.inject(r)
	if restore != nil {
		if err := restore(); err != nil {
			ierr = errors.Join(ierr, fmt.Errorf("restore: %w", err))
		}
	}
	repaired, rerr := s.restoreAll()
	if len(repaired) > 0 {
		r.notef("restored by the runner: %s", strings.Join(repaired, ", "))
	}
	if rerr != nil {
		s.broken = "restore failed: " + rerr.Error()
		return errors.Join(ierr, rerr)
	}
	res.faultFor = time.Since(injected)
	if ierr != nil {
		return fmt.Errorf("inject %s: %w", r.fault.name, ierr)
	}

	switch r.phase {
	case phaseInitial, phaseTailing, phaseSwitchover:
		// The load goes on a little after the repair, then the source
		// (B in the switchover) goes quiet.
		s.waitOps(r.t, int64(s.opts.rate), 30*time.Second)
		if err := s.stopLoad(); err != nil {
			r.notef("workload: %v", err)
		}
	case phaseStop:
		out := <-stopDone
		s.configured = false
		took := time.Since(stopStart)
		r.notef("stop sync returned after %v", took.Round(100*time.Millisecond))
		if took > 30*time.Second {
			r.notef("stop sync's progress: %s", lastLines(out.Stdout, 8))
		}
		if out.Err != nil {
			stopErr = fmt.Errorf("stop sync: %s", out)
			// The operator looks at the status: the stop may go on.
			var last plan.SyncStatus
			err := poll(s.opts.stopTimeout, 250*time.Millisecond, func() (bool, string) {
				st, err := s.status(s.top.B)
				if err != nil {
					return false, err.Error()
				}
				last = st
				return st.State != plan.StateStopping, summary(st)
			})
			if err != nil || last.State != plan.StateStopped {
				return errors.Join(stopErr, fmt.Errorf("the sync did not stop (last status: %s)", summary(last)), err)
			}
			r.notef("stop sync failed, but the sync stopped %v after the stop began", time.Since(stopStart).Round(100*time.Millisecond))
		}
	}
	quiet := time.Now()
	st := s.stats()
	res.ops = st.ops - before.ops
	res.failedOps = st.failed - before.failed

	// The target converges to the quiet source, key by key (A to B in the
	// switchover: B is the truth there).
	ctx, cancel := ctxFor(s.opts.converge + time.Minute)
	defer cancel()
	src, dst := s.source(), s.target()
	rep, err := workload.WaitConverged(ctx, clusterOf(src), clusterOf(dst), time.Now().Add(s.opts.converge), s.verifyOptions())
	res.report = rep
	if err != nil {
		return fmt.Errorf("%s did not converge to %s: %w", dst.Name, src.Name, err)
	}
	res.converge = time.Since(quiet)
	if r.phase != phaseStop {
		if err := s.waitRunning(time.Minute, 10); err != nil {
			return fmt.Errorf("after converging, the sync's status: %w", err)
		}
	}
	if r.phase == phaseStop {
		// check sync compares the shards of an active sync: a stopped one
		// has none, so the key-by-key comparison above is the verdict.
		res.check = "n/a (stopped)"
		return stopErr
	}
	check, out, err := s.checkSync(time.Minute)
	res.checkShards = len(check.Shards)
	if err != nil {
		res.check = "DIFFERENT"
		return fmt.Errorf("check sync: %w\n%s", err, out)
	}
	res.check = "identical"
	if r.phase == phaseSwitchover {
		if err := r.switchBack(); err != nil {
			s.broken = "the switch back failed"
			return fmt.Errorf("switch back: %w", err)
		}
	}
	return nil
}

// printLogs prints the logs of the processes the run involved, of the
// datacenters' leaders and of every worker: a stop or a switch back that
// does not finish is decided by the target's leader from what its workers
// applied, whichever side the fault hit.
func (r *run) printLogs() {
	for _, dc := range []*harness.DC{r.s.top.A, r.s.top.B} {
		ctx, cancel := ctxFor(3 * time.Second)
		if l, _, err := dc.Leader(ctx); err == nil {
			r.involve(l.Proc)
		}
		cancel()
		r.involveWorkers(dc)
	}
	r.mu.Lock()
	ps := append([]*harness.Proc(nil), r.involved...)
	r.mu.Unlock()
	for _, p := range ps {
		r.t.Logf("logs of %s:\n%s", p.Name(), p.LogTail(24<<10))
	}
}

// lastLines returns the last n lines of s, joined by " | ".
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
