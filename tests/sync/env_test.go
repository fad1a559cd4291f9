package sync_test

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/handlers/control/registry"
	"github.com/dc2dc/dc2dc/tests/harness"
	"github.com/dc2dc/dc2dc/tests/workload"
)

const syncID = "a-to-b"

// env is one topology with the workload on cluster A.
type env struct {
	t   *testing.T
	top *harness.Topology
	wl  *workload.Workload

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan error
}

func cluster(dc *harness.DC) workload.Cluster {
	return workload.Cluster{Endpoints: dc.Coordinators, Auth: workload.Auth{JWTSecret: dc.JWTSecret}, RequestTimeout: 10 * time.Second}
}

// newEnv starts a topology and sets the workload's structure up in A.
func newEnv(t *testing.T, cfg harness.TopologyConfig, wcfg workload.Config) *env {
	t.Helper()
	start := time.Now()
	top := harness.StartTopology(t, cfg)
	t.Logf("topology up in %v", time.Since(start).Round(time.Millisecond))
	wcfg.Cluster = cluster(top.A)
	if wcfg.Accounts == 0 {
		wcfg.Accounts = 40
	}
	if wcfg.Rate == 0 {
		wcfg.Rate = 60
	}
	if wcfg.Workers == 0 {
		wcfg.Workers = 3
	}
	if len(wcfg.Databases) == 0 {
		wcfg.Databases = []string{"shop", "bank"}
	}
	wl, err := workload.New(wcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := wl.Setup(ctx); err != nil {
		t.Fatalf("workload setup in A: %v", err)
	}
	e := &env{t: t, top: top, wl: wl}
	t.Cleanup(func() { _ = e.stopLoad() })
	return e
}

// startLoad runs the workload on A in the background until stopLoad.
func (e *env) startLoad() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan error, 1)
	done := e.done
	go func() { done <- e.wl.Run(ctx) }()
}

// stopLoad stops the background workload and returns its error.
func (e *env) stopLoad() error {
	e.mu.Lock()
	cancel, done := e.cancel, e.done
	e.cancel, e.done = nil, nil
	e.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	return <-done
}

// loadFor runs the workload for d in the foreground.
func (e *env) loadFor(d time.Duration) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := e.wl.Run(ctx); err != nil {
		e.t.Fatalf("workload: %v", err)
	}
}

// cli runs the dc2dc command line against a datacenter's masters and fails
// the test unless it exits 0.
func (e *env) cli(dc *harness.DC, args ...string) string {
	e.t.Helper()
	return dc.MustCLI(e.t, 2*time.Minute, args...)
}

// status is GET /_api/status of a datacenter, the sync's part.
func (e *env) status(dc *harness.DC) (plan.SyncStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return dc.SyncStatus(ctx, syncID)
}

// summary is harness.Summary.
func summary(s plan.SyncStatus) string { return harness.Summary(s) }

// shardsOfA counts the user shards of the workload's databases in A (what
// the sync must cover): every collection's numberOfShards.
func (e *env) expectedShards() int {
	c := e.wl.Config().Collections
	return len(e.wl.Config().Databases) * (c.Accounts.NumberOfShards + c.Orders.NumberOfShards + c.Links.NumberOfShards)
}

// waitRunning waits until B's status shows every expected shard running
// with a lag below maxLag seconds.
func (e *env) waitRunning(timeout time.Duration, minShards int, maxLag float64) plan.SyncStatus {
	e.t.Helper()
	var last plan.SyncStatus
	start, logged := time.Now(), time.Now()
	harness.Eventually(e.t, timeout, 250*time.Millisecond, func() (bool, string) {
		s, err := e.status(e.top.B)
		if err != nil {
			return false, err.Error()
		}
		last = s
		if time.Since(logged) > 15*time.Second {
			logged = time.Now()
			e.t.Logf("waiting %v for every shard running: %s", time.Since(start).Round(time.Second), summary(s))
		}
		if s.State != plan.StateRunning || len(s.Shards) < minShards {
			return false, summary(s)
		}
		for _, sh := range s.Shards {
			if sh.Phase != plan.ShardRunning || sh.LagSeconds > maxLag {
				return false, summary(s)
			}
		}
		return true, ""
	})
	return last
}

// verifyOpts are the workload's Verify options. Users are left out: the
// plan does not replicate users yet (handlers/control/plan doc.go).
func (e *env) verifyOpts() workload.VerifyOptions {
	o := e.wl.VerifyOptions()
	o.IgnoreUsers = []string{"root", e.wl.Config().User}
	return o
}

// converge stops nothing: it waits until B equals A key by key (A must be
// quiet) and fails on any lost, duplicated or mismatched document.
func (e *env) converge(timeout time.Duration, opts workload.VerifyOptions) *workload.Report {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Minute)
	defer cancel()
	rep, err := workload.WaitConverged(ctx, cluster(e.top.A), cluster(e.top.B), time.Now().Add(timeout), opts)
	if err != nil {
		e.t.Fatalf("B did not converge to A: %v", err)
	}
	if rep.Lost != 0 || rep.DuplicatedEffect != 0 || rep.Mismatched != 0 || rep.Extra != 0 {
		e.t.Fatalf("verify: %s", rep)
	}
	return rep
}

// checkSync runs `dc2dc check sync` on B and returns its JSON report (it
// exits 1 when shards differ, and says which on stderr).
func (e *env) checkSync() (plan.CheckReport, string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := e.top.B.CLI(ctx, "check", "sync", "--sync-id", syncID, "--output", "json")
	// Exit status 1: the comparison was made and found differences.
	if code := r.ExitCode(); code != 0 && code != 1 {
		e.t.Fatalf("check sync: %s", r)
	}
	out := r.Stdout
	var rep plan.CheckReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		e.t.Fatalf("check sync --output json: %v\n%s", err, out)
	}
	return rep, out
}

// waitCheckIdentical runs check sync until it says identical (the receive
// side may still apply the last batches when A just went quiet).
func (e *env) waitCheckIdentical(timeout time.Duration) plan.CheckReport {
	e.t.Helper()
	var rep plan.CheckReport
	harness.Eventually(e.t, timeout, 500*time.Millisecond, func() (bool, string) {
		var out string
		rep, out = e.checkSync()
		if !rep.InSync {
			return false, out
		}
		for _, sh := range rep.Shards {
			if !sh.Equal {
				return false, out
			}
		}
		return len(rep.Shards) > 0, out
	})
	return rep
}

// tasks lists a datacenter's tasks (leader, forwarded).
func (e *env) tasks(dc *harness.DC) ([]registry.Task, error) {
	cl := dc.Client(e.t)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ts, err := cl.Tasks(ctx)
	if err != nil {
		return nil, err
	}
	return ts.Tasks, nil
}

// workerWith returns the worker of dc that runs the most tasks in the
// given phases (any phase when none given), or nil.
func (e *env) workerWith(dc *harness.DC, phases ...registry.Phase) *harness.Member {
	ts, err := e.tasks(dc)
	if err != nil {
		return nil
	}
	count := map[string]int{}
	for _, tk := range ts {
		if tk.Worker == "" {
			continue
		}
		if len(phases) > 0 && !containsPhase(phases, tk.Phase) {
			continue
		}
		count[tk.Worker]++
	}
	ids := make([]string, 0, len(count))
	for id := range count {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return count[ids[i]] > count[ids[j]] })
	for _, id := range ids {
		for _, w := range dc.Workers {
			if w.ID == id && w.Running() {
				return w
			}
		}
	}
	return nil
}

func containsPhase(ps []registry.Phase, p registry.Phase) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}
