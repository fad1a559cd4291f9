package sync_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/handlers/control/registry"
	"github.com/dc2dc/dc2dc/tests/harness"
	"github.com/dc2dc/dc2dc/tests/workload"
)

// small is a one-database workload with few shards: the tests of the
// operator commands need a sync, not volume.
func small() workload.Config {
	return workload.Config{Databases: []string{"shop"}, Accounts: 20,
		Collections: workload.Collections{Accounts: workload.Shape{NumberOfShards: 2}, Orders: workload.Shape{NumberOfShards: 2},
			Links: workload.Shape{NumberOfShards: 1}}}
}

// sendTasks counts dc's send-shard tasks of the sync.
func (e *env) sendTasks(dc *harness.DC) (int, error) {
	ts, err := e.tasks(dc)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, tk := range ts {
		if tk.Sync == syncID && tk.Phase != registry.PhaseStopped {
			n++
		}
	}
	return n, nil
}

// TestSyncAbortOutgoingAbortAndReconfigure: abort outgoing sync in A ends
// A's send tasks at once, abort sync in B ends the sync there, and a new
// configure sync replicates again until A and B are identical.
func TestSyncAbortOutgoingAbortAndReconfigure(t *testing.T) {
	if testing.Short() {
		t.Skip("two datacenters of processes")
	}
	e := newEnv(t, harness.TopologyConfig{MasterArgs: fastMasters}, small())
	A, B := e.top.A, e.top.B
	e.loadFor(time.Second)
	bulkLoad(t, A, "shop", "extra", 1, 10, 10, "x")
	e.configureSync()
	e.waitRunning(90*time.Second, e.expectedShards()+1, 10)

	// set message timeout: the sync record carries it on both sides.
	t.Logf("set message timeout: %s", strings.TrimSpace(e.cli(B, "set", "message", "timeout", "2h", "--sync-id", syncID)))
	for _, dc := range []*harness.DC{B, A} {
		harness.Eventually(t, 20*time.Second, 250*time.Millisecond, func() (bool, string) {
			s, err := e.status(dc)
			if err != nil {
				return false, err.Error()
			}
			return s.MessageTimeout() == 2*time.Hour, fmt.Sprintf("%s: message timeout %v", dc.Name, s.MessageTimeout())
		})
	}

	// abort outgoing sync (A): the source record is aborted and its send
	// tasks are gone.
	t.Logf("abort outgoing sync: %s", e.abortOutgoingSync())
	harness.Eventually(t, 20*time.Second, 250*time.Millisecond, func() (bool, string) {
		s, err := e.status(A)
		if err != nil {
			return false, err.Error()
		}
		n, err := e.sendTasks(A)
		if err != nil {
			return false, err.Error()
		}
		return s.State == plan.StateAborted && n == 0, fmt.Sprintf("A: %s; %d send tasks", summary(s), n)
	})
	// Writes in A are no longer replicated once the workers learned it
	// (their next heartbeat answer no longer holds the tasks).
	e.workersHeardAfter(A, time.Now())
	if err := writeDoc(t, A, "shop", "extra", "after-abort-outgoing", 1); err != nil {
		t.Fatalf("write in A: %v", err)
	}

	// abort sync (B): the target record is aborted.
	t.Logf("abort sync: %s", e.abortSync())
	harness.Eventually(t, 20*time.Second, 250*time.Millisecond, func() (bool, string) {
		s, err := e.status(B)
		if err != nil {
			return false, err.Error()
		}
		return s.State == plan.StateAborted, "B: " + summary(s)
	})
	if n, err := countDocs(t, B, "shop", "extra"); err != nil || n != 10 {
		t.Errorf("shop/extra in B after both aborts: %d documents (%v), want the 10 written before abort outgoing", n, err)
	}

	// configure sync again: everything catches up.
	e.configureSync()
	e.loadFor(time.Second)
	e.waitRunning(90*time.Second, e.expectedShards()+1, 10)
	rep := e.converge(90*time.Second, e.verifyOpts())
	t.Logf("after reconfigure: %s", rep)
	e.waitCheckIdentical(30 * time.Second)

	// stop sync without ensure-in-sync: stopped at once, A stays writable.
	t.Logf("stop sync --ensure-in-sync=false: %s", e.stopSync(false, 30*time.Second))
	harness.Eventually(t, 30*time.Second, 250*time.Millisecond, func() (bool, string) {
		s, err := e.status(B)
		if err != nil {
			return false, err.Error()
		}
		return s.State == plan.StateStopped, "B: " + summary(s)
	})
	harness.Eventually(t, 30*time.Second, 250*time.Millisecond, func() (bool, string) {
		s, err := e.status(A)
		if err != nil {
			return false, err.Error()
		}
		n, err := e.sendTasks(A)
		return err == nil && s.State == plan.StateStopped && n == 0, fmt.Sprintf("A: %s; %d send tasks (%v)", summary(s), n, err)
	})
	if err := writeDoc(t, A, "shop", "extra", "after-stop", 1); err != nil {
		t.Fatalf("A after stop sync: %v", err)
	}
}

// workersHeardAfter waits until every alive worker of dc heartbeated twice
// after t0 (heartbeats come every second): each got an answer given after
// t0 and acted on it.
func (e *env) workersHeardAfter(dc *harness.DC, t0 time.Time) {
	e.t.Helper()
	cl := dc.Client(e.t)
	defer cl.Close()
	harness.Eventually(e.t, 15*time.Second, 100*time.Millisecond, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		ws, err := cl.Workers(ctx)
		if err != nil {
			return false, err.Error()
		}
		for _, w := range ws.Workers {
			if w.Alive && !w.LastSeen.After(t0.Add(1200*time.Millisecond)) {
				return false, fmt.Sprintf("%s last seen %v, %v after the abort", w.ID, w.LastSeen, w.LastSeen.Sub(t0))
			}
		}
		return true, ""
	})
}
