package sync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/tests/harness"
)

// TestSyncSwitchover: B takes over from A and A becomes B's replica, with
// the operator commands only: stop sync --ensure-in-sync on B (A read-only
// until B holds everything; then B is writable for its users), a mirror for
// the reverse direction, configure sync on A's masters with B as the
// source. What is written in B afterwards (into a collection A already has
// and into a new one) reaches A, A is read-only for its users meanwhile,
// and check sync on A finds both identical. The initial sync of the reverse
// direction is a revision resync: A already holds B's data.
func TestSyncSwitchover(t *testing.T) {
	if testing.Short() {
		t.Skip("two datacenters of processes")
	}
	e := newEnv(t, harness.TopologyConfig{MasterArgs: fastMasters}, small())
	A, B := e.top.A, e.top.B
	e.loadFor(time.Second)
	bulkLoad(t, A, "shop", "extra", 2, 200, 100, "a")
	e.configureSync()
	e.waitRunning(90*time.Second, e.expectedShards()+2, 10)
	e.loadFor(time.Second) // tailing
	t.Logf("stop sync: %s", e.stopSync(true, 2*time.Minute))

	// B is promoted: its users write again.
	harness.Eventually(t, 20*time.Second, 250*time.Millisecond, func() (bool, string) {
		err := writeDoc(t, B, "shop", "extra", "promoted", 1)
		return err == nil, fmt.Sprint(err)
	})

	// The reverse direction: its own mirror, then A follows B.
	const rev = "b-to-a"
	m := harness.Start(t, harness.Spec{Name: "mirror-b-to-a", Path: harness.Binary(t, "dc2dc"), Args: []string{"mirror",
		"--from.brokers", B.Kafka.Addr, "--to.brokers", A.Kafka.Addr, "--sync-id", rev,
		"--metrics.addr", "127.0.0.1:" + strconv.Itoa(harness.FreePort(t)), "--instance-id", "e2e-mirror-rev",
		"--session-timeout", "3s"}})
	m.MustReady(time.Minute)
	out := A.MustCLI(t, 2*time.Minute, "configure", "sync", "--sync-id", rev, "--source.dc", "B", "--data-partitions", "12", "--output", "json")
	var s plan.Sync
	if err := json.Unmarshal([]byte(out), &s); err != nil || s.ID != rev || s.Role != plan.RoleTarget {
		t.Fatalf("configure sync on A: %v %+v\n%s", err, s, out)
	}

	// Written in B after the switch: an existing collection and a new one.
	bulkLoad(t, B, "shop", "extra", 2, 50, 100, "b")
	bulkLoad(t, B, "shop", "fresh", 3, 60, 100, "f")
	harness.Eventually(t, 2*time.Minute, 500*time.Millisecond, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := A.SyncStatus(ctx, rev)
		if err != nil {
			return false, err.Error()
		}
		if st.State != plan.StateRunning || len(st.Shards) < e.expectedShards()+5 {
			return false, summary(st)
		}
		for _, sh := range st.Shards {
			if sh.Phase != plan.ShardRunning {
				return false, summary(st)
			}
		}
		return true, ""
	})
	// A follows B: read-only for its users.
	harness.Eventually(t, 20*time.Second, 250*time.Millisecond, func() (bool, string) {
		err := writeDoc(t, A, "shop", "extra", "user-in-a", 1)
		return err != nil && isReadOnly(err), fmt.Sprint(err)
	})
	// check sync on A (the target now) until identical.
	harness.Eventually(t, 2*time.Minute, time.Second, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		r := A.CLI(ctx, "check", "sync", "--sync-id", rev, "--output", "json")
		if code := r.ExitCode(); code != 0 && code != 1 {
			return false, r.String()
		}
		var rep plan.CheckReport
		if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
			return false, err.Error() + ": " + r.Stdout
		}
		return rep.InSync && len(rep.Shards) >= e.expectedShards()+5, r.Stdout
	})
	for _, coll := range []string{"extra", "fresh"} {
		a, errA := countDocs(t, A, "shop", coll)
		b, errB := countDocs(t, B, "shop", coll)
		if errA != nil || errB != nil || a != b {
			t.Errorf("shop/%s: A %d (%v), B %d (%v)", coll, a, errA, b, errB)
		}
	}

	// Switch back: A takes over again (stop the reverse sync on A), B
	// follows A again with a new configure sync of the first direction.
	t.Logf("stop sync %s: %s", rev, A.MustCLI(t, 3*time.Minute, "stop", "sync", "--sync-id", rev, "--timeout", "2m"))
	harness.Eventually(t, 20*time.Second, 250*time.Millisecond, func() (bool, string) {
		err := writeDoc(t, A, "shop", "fresh", "back-in-a", 1)
		return err == nil, fmt.Sprint(err)
	})
	e.configureSync()
	bulkLoad(t, A, "shop", "fresh", 3, 40, 100, "back")
	e.waitRunning(2*time.Minute, e.expectedShards()+5, 10)
	e.waitCheckIdentical(2 * time.Minute)
}
