package chaos_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	driver "github.com/arangodb/go-driver"

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
	if n, err := advanceKeys(ctx, s.a, s.b); err != nil {
		return fmt.Errorf("B's key generator: %w", err)
	} else if n > 1000 {
		r.notef("switchover: %d keys consumed in B to pass A's key generator", n)
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
	if err := json.Unmarshal([]byte(out.Stdout), &sy); err != nil {
		return fmt.Errorf("configure sync on A answered %q: %w", out.Stdout, err)
	}
	if sy.ID != revSyncID || sy.Role != plan.RoleTarget {
		return fmt.Errorf("configure sync on A answered %q: want target sync %s", out.Stdout, revSyncID)
	}
	s.reversed = true
	// A is catching up once B's send tasks exist (a worker fault has a
	// victim) and A's status lists the shards.
	seen := "no status yet"
	if err := poll(60*time.Second, 100*time.Millisecond, func() (bool, string) {
		st, err := s.status(s.top.A)
		if err != nil {
			return false, err.Error()
		}
		seen = summary(st)
		ts, err := s.tasks(r.t, s.top.B)
		if err != nil {
			return false, err.Error()
		}
		assigned := 0
		for _, tk := range ts {
			if tk.Sync == revSyncID && tk.Worker != "" {
				assigned++
			}
		}
		return assigned > 0 && len(st.Shards) > 0, fmt.Sprintf("%d tasks of %s assigned in B; A: %s", assigned, revSyncID, seen)
	}); err != nil {
		r.notef("switchover: A is not seen catching up: %v", err)
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
	ctx, cancel := ctxFor(time.Minute)
	defer cancel()
	if n, err := advanceKeys(ctx, s.b, s.a); err != nil {
		return fmt.Errorf("A's key generator: %w", err)
	} else if n > 1000 {
		r.notef("switch back: %d keys consumed in A to pass B's key generator", n)
	}
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

// keyProbe is the scratch collection (in _system, created and dropped
// while no sync runs) through which advanceKeys reads and consumes a
// cluster's key generator.
const keyProbe = "chaos_key_probe"

// advanceKeys makes the key generator of to continue past from's, so the
// documents the promoted side's users insert with generated keys cannot
// reuse a key the old source generated. Without it a switchover loses
// data: both clusters' traditional generators count from the same start
// (arangosim's cluster-wide id sequence, like a real cluster's agency
// uniqid), so B's first orders get keys A gave orders earlier; orders is
// sharded by customer, so B stores the new order beside the replicated
// one on another shard (two documents, one _key), or refuses it (unique
// constraint) on the same shard. See the report of issue #7's switchover
// phase; dc2dc does not carry the generator's state across a switchover.
// It returns how many keys it consumed in to.
func advanceKeys(ctx context.Context, from, to *sim) (int, error) {
	top, err := probeKeys(ctx, from, 1)
	if err != nil {
		return 0, err
	}
	consumed := 0
	for {
		k, err := probeKeys(ctx, to, 1000)
		if err != nil {
			return consumed, err
		}
		consumed += 1000
		if k > top {
			return consumed, nil
		}
		if consumed > 10_000_000 {
			return consumed, fmt.Errorf("%s's key generator is still at %d after %d keys, %s's at %d", to.dc.Name, k, consumed, from.dc.Name, top)
		}
	}
}

// probeKeys inserts n empty documents with generated keys into a scratch
// collection of s's _system database, drops it, and returns the highest
// key (numeric, as the traditional generator's).
func probeKeys(ctx context.Context, s *sim, n int) (uint64, error) {
	db, err := s.cl.Driver().Database(ctx, "_system")
	if err != nil {
		return 0, fmt.Errorf("_system of %s: %w", s.dc.Name, err)
	}
	col, err := db.Collection(ctx, keyProbe)
	if driver.IsNotFoundGeneral(err) {
		col, err = db.CreateCollection(ctx, keyProbe, &driver.CreateCollectionOptions{NumberOfShards: 1})
	}
	if err != nil {
		return 0, fmt.Errorf("scratch collection %s in %s: %w", keyProbe, s.dc.Name, err)
	}
	defer func() { _ = col.Remove(ctx) }()
	docs := make([]map[string]any, n)
	for i := range docs {
		docs[i] = map[string]any{}
	}
	metas, _, err := col.CreateDocuments(ctx, docs)
	if err != nil {
		return 0, fmt.Errorf("insert into %s in %s: %w", keyProbe, s.dc.Name, err)
	}
	var top uint64
	for _, m := range metas {
		v, err := strconv.ParseUint(m.Key, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s in %s generated key %q: not the traditional generator's number", keyProbe, s.dc.Name, m.Key)
		}
		top = max(top, v)
	}
	return top, nil
}
