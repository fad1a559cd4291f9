package chaos_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/tests/harness"
	"github.com/dc2dc/dc2dc/tests/workload"
)

// revSyncID is the sync of the reverse direction (B → A) a switchover
// configures on A's masters.
const revSyncID = "b-to-a"

// startRevMirror starts the mirror of the reverse direction (Kafka B →
// Kafka A, and revSyncID's control topic back) once per session, before
// its first switchover run, in the test's own goroutine (starting fails
// the test on error). It stays up for the rest of the session: after the
// switch back it carries A's "stopped" to B, as an operator's would.
func (s *session) startRevMirror() {
	if s.rev != nil {
		return
	}
	t := s.t
	s.rev = harness.Start(t, harness.Spec{Name: "mirror-b-to-a", Path: harness.Binary(t, "dc2dc"), Args: []string{"mirror",
		"--from.brokers", s.top.B.Kafka.Addr, "--to.brokers", s.top.A.Kafka.Addr, "--sync-id", revSyncID,
		"--metrics.addr", "127.0.0.1:" + strconv.Itoa(harness.FreePort(t)), "--instance-id", "e2e-mirror-rev",
		"--session-timeout", "3s", "--log.level", s.opts.logLevel}})
	s.rev.MustReady(time.Minute)
}

// switchover makes B the source, with the operator's commands only (as
// tests/sync TestSyncSwitchover): the load on A stops, stop sync
// --ensure-in-sync on B (A read-only until B holds all of it), B is
// checked equal to A key by key (so a loss in the stop cannot hide behind
// the reverse sync, which makes A equal B), B's users write (a new load on
// B), and configure sync on A's masters with B as the source. It returns
// with the load on B running and A catching up from B: the fault hits
// then.
func (r *run) switchover(res *result) error {
	s := r.s
	if s.rev == nil {
		return errors.New("no reverse mirror (startRevMirror)")
	}
	r.involve(s.rev)
	if err := s.stopLoad(); err != nil {
		r.notef("workload: %v", err)
	}
	start := time.Now()
	if err := s.stopSync(s.top.B, syncID); err != nil {
		return err
	}
	s.configured = false
	r.notef("switchover: %s stopped on B after %v", syncID, time.Since(start).Round(100*time.Millisecond))
	ctx, cancel := ctxFor(time.Minute)
	defer cancel()
	rep, err := workload.WaitConverged(ctx, clusterOf(s.top.A), clusterOf(s.top.B), time.Now().Add(30*time.Second), s.verifyOptions())
	if err != nil {
		res.report = rep
		return fmt.Errorf("B is not equal to A after stop sync --ensure-in-sync: %w", err)
	}
	// B is promoted: its users write.
	s.startLoadIn(s.top.B)
	s.waitOps(r.t, int64(s.opts.rate), 30*time.Second)
	out := s.cli(s.top.A, 2*time.Minute, "configure", "sync", "--sync-id", revSyncID, "--source.dc", "B",
		"--data-partitions", "12", "--output", "json")
	if out.Err != nil {
		return fmt.Errorf("configure sync on A: %s", out)
	}
	var sy plan.Sync
	if err := json.Unmarshal([]byte(out.Stdout), &sy); err != nil || sy.ID != revSyncID || sy.Role != plan.RoleTarget {
		return fmt.Errorf("configure sync on A answered %q (%v): want target sync %s", out.Stdout, err, revSyncID)
	}
	s.reversed = true
	seen := "no status yet"
	if st, err := s.status(s.top.A); err == nil {
		seen = summary(st)
	}
	r.notef("switchover: B written, %s configured on A %v after the stop began (A: %s)", revSyncID,
		time.Since(start).Round(100*time.Millisecond), seen)
	return nil
}

// switchBack gives the source role back to A, with the commands only:
// stop sync --ensure-in-sync of revSyncID on A (B read-only until A holds
// it all; B is quiet here), configure sync on B again, and the first
// direction running with every shard.
func (r *run) switchBack() error {
	s := r.s
	start := time.Now()
	if err := s.stopSync(s.top.A, revSyncID); err != nil {
		return err
	}
	s.reversed = false
	if err := s.configure(); err != nil {
		return err
	}
	if err := s.waitRunning(3*time.Minute, 10); err != nil {
		return fmt.Errorf("%s after the switch back: %w", syncID, err)
	}
	r.notef("switch back: %s stopped on A, %s configured on B and running after %v", revSyncID, syncID,
		time.Since(start).Round(100*time.Millisecond))
	return nil
}

// stopSync runs stop sync (--ensure-in-sync, the default) for sync id on
// its target dc; when the command fails (e.g. it lost the leader in an
// election) it polls the status, as an operator would, until the sync
// stopped or the stop timeout passed.
func (s *session) stopSync(dc *harness.DC, id string) error {
	out := s.cli(dc, s.opts.stopTimeout+time.Minute, "stop", "sync", "--sync-id", id, "--timeout", s.opts.stopTimeout.String())
	if out.Err == nil {
		return nil
	}
	err := poll(s.opts.stopTimeout, 250*time.Millisecond, func() (bool, string) {
		ctx, cancel := ctxFor(5 * time.Second)
		defer cancel()
		st, err := dc.SyncStatus(ctx, id)
		if err != nil {
			return false, err.Error()
		}
		return st.State == plan.StateStopped, summary(st)
	})
	if err != nil {
		return fmt.Errorf("stop sync %s on %s: %s; the sync did not stop: %w", id, dc.Name, out, err)
	}
	return nil
}
