package sync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/tests/harness"
	"github.com/dc2dc/dc2dc/tests/workload"
)

// TestSyncChainAndFanOut: a replica is itself a source, and a source has
// several replicas. A → B → C: C follows B while B follows A, under the
// workload's writes on A; C ends equal to B and to A key by key, and check
// sync of both syncs finds every shard identical. Then C stops following
// B and follows A directly (A → B and A → C at once): what A writes next
// reaches both, and both stay identical to A.
func TestSyncChainAndFanOut(t *testing.T) {
	if testing.Short() {
		t.Skip("three datacenters of processes")
	}
	e := newEnv(t, harness.TopologyConfig{}, small())
	A, B := e.top.A, e.top.B
	e.loadFor(time.Second)
	bulkLoad(t, A, "shop", "extra", 2, 200, 100, "x")
	e.configureSync()
	shards := e.expectedShards() + 2
	e.waitRunning(90*time.Second, shards, 10)

	// B → C while A → B runs.
	C := e.top.AddDC(t, "C", 2, 1, 1)
	const bc, ac = "b-to-c", "a-to-c"
	e.top.StartMirror(t, B, C, bc)
	configureOn(t, C, bc, "B")
	waitRunningOn(t, C, bc, shards, 2*time.Minute)

	e.loadFor(3 * time.Second)
	bulkLoad(t, A, "shop", "late", 3, 100, 100, "l") // a collection created while the chain runs
	shards += 3
	opts := e.verifyOpts()
	e.converge(2*time.Minute, opts)
	convergeTo(t, "C to B", B, C, opts)
	convergeTo(t, "C to A", A, C, opts)
	waitIdentical(t, B, syncID, shards)
	waitIdentical(t, C, bc, shards)

	// C follows A directly: A has two replicas.
	t.Logf("stop sync %s on C: %s", bc, C.MustCLI(t, 3*time.Minute, "stop", "sync", "--sync-id", bc, "--timeout", "2m"))
	// C is its users' again.
	harness.Eventually(t, 20*time.Second, 250*time.Millisecond, func() (bool, string) {
		err := writeDoc(t, C, "shop", "extra", "user-in-c", 1)
		return err == nil, fmt.Sprintf("C not writable after its sync stopped: %v", err)
	})
	e.top.StartMirror(t, A, C, ac)
	configureOn(t, C, ac, "A")
	e.loadFor(3 * time.Second)
	bulkLoad(t, A, "shop", "fan", 2, 100, 100, "f")
	shards += 2
	waitRunningOn(t, C, ac, shards, 2*time.Minute)
	e.converge(2*time.Minute, opts)
	convergeTo(t, "C to A (fan-out)", A, C, opts)
	waitIdentical(t, B, syncID, shards)
	waitIdentical(t, C, ac, shards)
	// The stop of B → C made B read-only as a source while C drained, then
	// released it; B still follows A, so it stays read-only for its users.
	if err := writeDoc(t, B, "shop", "extra", "user-in-b", 1); err == nil || !isReadOnly(err) {
		t.Errorf("B, a replica of A, did not refuse a user's write as read-only after its own replica stopped: %v", err)
	}
}

// configureOn runs configure sync on target's masters: follow source.
func configureOn(t *testing.T, target *harness.DC, id, source string) {
	t.Helper()
	out := target.MustCLI(t, 2*time.Minute, "configure", "sync", "--sync-id", id, "--source.dc", source,
		"--data-partitions", "12", "--output", "json")
	var s plan.Sync
	if err := json.Unmarshal([]byte(out), &s); err != nil || s.ID != id || s.Role != plan.RoleTarget {
		t.Fatalf("configure sync %s on %s: %v %+v\n%s", id, target.Name, err, s, out)
	}
}

// waitRunningOn waits until dc's status of sync id shows at least shards
// shards, all running.
func waitRunningOn(t *testing.T, dc *harness.DC, id string, shards int, timeout time.Duration) {
	t.Helper()
	harness.Eventually(t, timeout, 500*time.Millisecond, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := dc.SyncStatus(ctx, id)
		if err != nil {
			return false, err.Error()
		}
		if st.State != plan.StateRunning || len(st.Shards) < shards {
			return false, summary(st)
		}
		for _, sh := range st.Shards {
			if sh.Phase != plan.ShardRunning {
				return false, summary(st)
			}
		}
		return true, ""
	})
}

// convergeTo waits until b equals a key by key (a quiet) and fails on any
// lost, duplicated or mismatched document.
func convergeTo(t *testing.T, what string, a, b *harness.DC, opts workload.VerifyOptions) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := workload.WaitConverged(ctx, cluster(a), cluster(b), time.Now().Add(2*time.Minute), opts)
	if err != nil {
		t.Fatalf("%s: did not converge: %v", what, err)
	}
	if rep.Lost != 0 || rep.DuplicatedEffect != 0 || rep.Mismatched != 0 || rep.Extra != 0 {
		t.Fatalf("%s: %s", what, rep)
	}
}

// waitIdentical runs check sync of id on dc until every one of at least
// shards shards is identical.
func waitIdentical(t *testing.T, dc *harness.DC, id string, shards int) {
	t.Helper()
	harness.Eventually(t, 2*time.Minute, time.Second, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		r := dc.CLI(ctx, "check", "sync", "--sync-id", id, "--output", "json")
		if code := r.ExitCode(); code != 0 && code != 1 {
			return false, r.String()
		}
		var rep plan.CheckReport
		if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
			return false, err.Error() + ": " + r.Stdout
		}
		return rep.InSync && len(rep.Shards) >= shards, fmt.Sprintf("check sync %s on %s: %s", id, dc.Name, r.Stdout)
	})
}
