package chaos_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	driver "github.com/arangodb/go-driver"

	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/handlers/control/registry"
	"github.com/dc2dc/dc2dc/tests/harness"
	"github.com/dc2dc/dc2dc/tests/workload"
)

const syncID = "a-to-b"

// Masters with a short lease, so a killed leader is replaced within ~3 s.
var fastMasters = []string{"--election.lease", "3s", "--election.renew", "1s"}

// session is one topology with the workload's structure and a bulk
// collection in A. Runs reuse it while its sync can be brought back to
// running; an initial-sync run needs a fresh one (B must be empty).
type session struct {
	n    int // sessions started so far in this test, for the table
	t    *testing.T
	opts options
	top  *harness.Topology
	a, b *sim
	wl   *workload.Workload

	// configured: configure sync succeeded and no stop ended it since.
	configured bool
	// broken says why the session must not be reused ("" = usable).
	broken string
	// initialSynced: the sync's first initial sync happened in this session
	// (a fresh session for the next initial-sync run).
	initialSynced bool
	// reversed: a switchover run made B the source and A the target of
	// revSyncID; the switch back clears it.
	reversed bool
	// rev is the mirror of the reverse direction (Kafka B → Kafka A),
	// started before the session's first switchover run and kept running.
	rev *harness.Proc

	wcfg workload.Config
	// done counts the operations of the workloads replaced by startLoad.
	done loadStats

	mu     sync.Mutex
	cancel context.CancelFunc
	doneCh chan error
}

func clusterOf(dc *harness.DC) workload.Cluster {
	return workload.Cluster{Endpoints: dc.Coordinators, Auth: workload.Auth{JWTSecret: dc.JWTSecret}, RequestTimeout: 10 * time.Second}
}

// newSession starts a topology, sets the workload up in A, writes a little
// history and the bulk collection whose initial sync lasts a few seconds.
// It must run in the test's own goroutine (not a subtest's): it fails t.
func newSession(t *testing.T, n int, opts options) *session {
	t.Helper()
	start := time.Now()
	top := harness.StartTopology(t, harness.TopologyConfig{SyncID: syncID, MasterArgs: fastMasters, LogLevel: opts.logLevel})
	s := &session{n: n, t: t, opts: opts, top: top}
	var err error
	if s.a, err = newSim(top.A); err != nil {
		t.Fatal(err)
	}
	if s.b, err = newSim(top.B); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.a.close)
	t.Cleanup(s.b.close)
	wcfg := workload.Config{Cluster: clusterOf(top.A), Databases: []string{"shop", "bank"}, Accounts: 40,
		Rate: opts.rate, Workers: 3, Seed: uint64(n),
		Collections: workload.Collections{Accounts: workload.Shape{NumberOfShards: 2}, Orders: workload.Shape{NumberOfShards: 3},
			Links: workload.Shape{NumberOfShards: 2}}}
	if opts.logLevel == "debug" {
		// The workload's failed operations, for a look at why.
		wcfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if s.wl, err = workload.New(wcfg); err != nil {
		t.Fatal(err)
	}
	s.wcfg = wcfg
	t.Cleanup(func() { s.wl.Close() })
	t.Cleanup(func() { _ = s.stopLoad() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.wl.Setup(ctx); err != nil {
		t.Fatalf("workload setup in A: %v", err)
	}
	lctx, lcancel := context.WithTimeout(ctx, time.Second)
	err = s.wl.Run(lctx)
	lcancel()
	if err != nil {
		t.Fatalf("workload in A: %v", err)
	}
	if err := bulkLoad(ctx, s.a, "shop", bulkCollection, 3, opts.bulkDocs, opts.bulkBytes); err != nil {
		t.Fatal(err)
	}
	t.Logf("session %d: topology, workload and %d bulk documents of %d bytes in %v", n, opts.bulkDocs, opts.bulkBytes,
		time.Since(start).Round(time.Millisecond))
	return s
}

// close stops every process of the session (the next session must not
// compete for the two cores).
func (s *session) close() {
	if s == nil {
		return
	}
	_ = s.stopLoad()
	s.top.StopAll(10 * time.Second)
}

// bulkCollection is the large collection of shop whose initial sync the
// initial-sync runs hit.
const bulkCollection = "bulk"

// bulkLoad creates db/coll with shards shards and inserts n documents of
// about size bytes.
func bulkLoad(ctx context.Context, s *sim, db, coll string, shards, n, size int) error {
	d := s.cl.Driver()
	database, err := d.Database(ctx, db)
	if err != nil {
		return fmt.Errorf("database %s in %s: %w", db, s.dc.Name, err)
	}
	col, err := database.Collection(ctx, coll)
	if driver.IsNotFoundGeneral(err) {
		col, err = database.CreateCollection(ctx, coll, &driver.CreateCollectionOptions{NumberOfShards: shards, ReplicationFactor: 2})
	}
	if err != nil {
		return fmt.Errorf("collection %s/%s in %s: %w", db, coll, s.dc.Name, err)
	}
	pad := strings.Repeat("x", size)
	const batch = 500
	for i := 0; i < n; i += batch {
		docs := make([]map[string]any, 0, batch)
		for j := i; j < min(i+batch, n); j++ {
			docs = append(docs, map[string]any{"_key": fmt.Sprintf("b%d", j), "n": j, "pad": pad})
		}
		if _, _, err := col.CreateDocuments(ctx, docs); err != nil {
			return fmt.Errorf("insert into %s/%s in %s: %w", db, coll, s.dc.Name, err)
		}
	}
	return nil
}

// startLoad runs the workload on A in the background until stopLoad.
func (s *session) startLoad() { s.startLoadIn(s.top.A) }

// startLoadIn runs the workload on dc (A, or B promoted by a switchover)
// in the background until stopLoad. Each load is a new Workload (a new run
// id): a second Run of the same Workload would insert the [customer, seq]
// values of the first again, which A refuses (1210) and the workload
// counts as failed operations. The workload's structure exists in B once
// replicated, so a load in B needs no Setup.
func (s *session) startLoadIn(dc *harness.DC) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		return
	}
	cfg := s.wcfg
	cfg.Cluster = clusterOf(dc)
	if wl, err := workload.New(cfg); err == nil {
		st := s.wl.Stats()
		s.done.ops += st.Ops()
		s.done.failed += st.Failed
		s.wl.Close()
		s.wl = wl
	}
	wl := s.wl
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.doneCh = cancel, make(chan error, 1)
	done := s.doneCh
	go func() { done <- wl.Run(ctx) }()
}

// loadStats count the workload's completed and given-up operations.
type loadStats struct{ ops, failed int64 }

// stats are the operations of every load of the session so far.
func (s *session) stats() loadStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.wl.Stats()
	return loadStats{ops: s.done.ops + st.Ops(), failed: s.done.failed + st.Failed}
}

// stopLoad stops the background workload (A is quiet when it returns) and
// returns Run's error.
func (s *session) stopLoad() error {
	s.mu.Lock()
	cancel, done := s.cancel, s.doneCh
	s.cancel, s.doneCh = nil, nil
	s.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	return <-done
}

// waitOps waits until the workload completed n more operations.
func (s *session) waitOps(t *testing.T, n int64, timeout time.Duration) {
	t.Helper()
	base := s.stats().ops
	harness.Eventually(t, timeout, 100*time.Millisecond, func() (bool, string) {
		st := s.stats()
		return st.ops >= base+n, fmt.Sprintf("workload: %d of %d operations (%d failed)", st.ops-base, n, st.failed)
	})
}

// cli runs the dc2dc command line against a datacenter's masters.
func (s *session) cli(dc *harness.DC, timeout time.Duration, args ...string) harness.CLIResult {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return dc.CLI(ctx, args...)
}

// errNotConfigurable marks a configure sync the control plane refused or
// does not offer: the suite skips instead of failing.
var errNotConfigurable = errors.New("configure sync failed")

// configure runs `configure sync` on B.
func (s *session) configure() error {
	r := s.cli(s.top.B, 2*time.Minute, "configure", "sync", "--sync-id", syncID, "--source.dc", "A",
		"--data-partitions", "12", "--output", "json")
	if r.Err != nil {
		return fmt.Errorf("%w: %s", errNotConfigurable, r)
	}
	var sy plan.Sync
	if err := json.Unmarshal([]byte(r.Stdout), &sy); err != nil {
		return fmt.Errorf("%w: configure sync --output json answered %q: %w", errNotConfigurable, r.Stdout, err)
	}
	if sy.ID != syncID {
		return fmt.Errorf("%w: configure sync --output json answered %q: want sync %s", errNotConfigurable, r.Stdout, syncID)
	}
	s.configured = true
	return nil
}

// verifyOptions are the workload's Verify options. The workload's user is
// left out: the plan does not replicate users yet (tests/sync leaves it out
// too); root differs by design.
func (s *session) verifyOptions() workload.VerifyOptions {
	o := s.wl.VerifyOptions()
	o.IgnoreUsers = []string{"root", s.wl.Config().User}
	return o
}

// status is the current sync's part of GET /_api/status of a datacenter.
func (s *session) status(dc *harness.DC) (plan.SyncStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return dc.SyncStatus(ctx, s.curSync())
}

// curSync is the sync the session runs: syncID (A → B), or revSyncID
// (B → A) between a switchover and its switch back.
func (s *session) curSync() string {
	if s.reversed {
		return revSyncID
	}
	return syncID
}

// source and target are the datacenters of the current sync.
func (s *session) source() *harness.DC {
	if s.reversed {
		return s.top.B
	}
	return s.top.A
}

func (s *session) target() *harness.DC {
	if s.reversed {
		return s.top.A
	}
	return s.top.B
}

// expectedShards is the number of shards the sync covers: the workload's
// and the bulk collection's.
func (s *session) expectedShards() int {
	cfg := s.wl.Config()
	c := cfg.Collections
	return len(cfg.Databases)*(c.Accounts.NumberOfShards+c.Orders.NumberOfShards+c.Links.NumberOfShards) + 3
}

// running reports whether the target's status shows every shard running
// with a lag at most maxLag seconds, with a summary for the failure message.
func (s *session) running(maxLag float64) (bool, string) {
	st, err := s.status(s.target())
	if err != nil {
		return false, err.Error()
	}
	if st.State != plan.StateRunning || len(st.Shards) < s.expectedShards() {
		return false, summary(st)
	}
	for _, sh := range st.Shards {
		if sh.Phase != plan.ShardRunning || sh.LagSeconds > maxLag {
			return false, summary(st)
		}
	}
	return true, summary(st)
}

// waitRunning polls running until it holds or timeout passes.
func (s *session) waitRunning(timeout time.Duration, maxLag float64) error {
	return poll(timeout, 250*time.Millisecond, func() (bool, string) { return s.running(maxLag) })
}

// summary is harness.Summary.
func summary(s plan.SyncStatus) string { return harness.Summary(s) }

// tasks lists a datacenter's tasks (leader, forwarded).
func (s *session) tasks(t *testing.T, dc *harness.DC) ([]registry.Task, error) {
	cl := dc.Client(t)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ts, err := cl.Tasks(ctx)
	if err != nil {
		return nil, err
	}
	return ts.Tasks, nil
}

// inInitialSync reports whether a shard of the sync is in its initial
// sync, as A's tasks or B's status say.
func (s *session) inInitialSync(t *testing.T) (bool, string) {
	if ts, err := s.tasks(t, s.top.A); err == nil {
		for _, tk := range ts {
			if tk.Sync == s.curSync() && tk.Phase == registry.PhaseInitialSync {
				return true, "A: task " + tk.ID + " in initial sync"
			}
		}
	}
	st, err := s.status(s.top.B)
	if err != nil {
		return false, err.Error()
	}
	for _, sh := range st.Shards {
		if sh.Phase == plan.ShardInitialSync {
			return true, "B: shard " + sh.Shard + " in initial sync"
		}
	}
	return false, summary(st)
}

// checkSync runs `dc2dc check sync` on the target until it finds every
// shard equal or timeout passes; it returns the last report and the CLI
// output.
func (s *session) checkSync(timeout time.Duration) (plan.CheckReport, string, error) {
	var (
		rep plan.CheckReport
		out string
	)
	err := poll(timeout, 500*time.Millisecond, func() (bool, string) {
		r := s.cli(s.target(), time.Minute, "check", "sync", "--sync-id", s.curSync(), "--output", "json")
		out = r.String()
		if r.Err != nil {
			return false, out
		}
		rep = plan.CheckReport{}
		if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
			return false, fmt.Sprintf("check sync --output json: %v: %s", err, r.Stdout)
		}
		if !rep.InSync || len(rep.Shards) == 0 {
			return false, out
		}
		for _, sh := range rep.Shards {
			if !sh.Equal {
				return false, out
			}
		}
		return true, out
	})
	return rep, out, err
}

// poll calls cond every interval until it reports true or timeout passes;
// the error carries cond's last message. Unlike harness.Eventually it does
// not fail the test: a run records what went wrong and goes on restoring.
func poll(timeout, interval time.Duration, cond func() (bool, string)) error {
	end := time.Now().Add(timeout)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		ok, msg := cond()
		if ok {
			return nil
		}
		if !time.Now().Before(end) {
			return fmt.Errorf("not within %v: %s", timeout, msg)
		}
		<-tick.C
	}
}
