package plan_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	driver "github.com/arangodb/go-driver"

	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
)

// TestReplicatesAndChecks runs the data path under the plan (stand-in
// workers): documents written in A reach B, the status shows the shards
// running, check sync finds A and B equal, then not after a change in B.
func TestReplicatesAndChecks(t *testing.T) {
	w := newWorld(t)
	ctx := w.ctx
	w.a.collection(t, ctx, "shop", "orders", 2)
	dbA, err := w.a.drv.Database(ctx, "shop")
	must(t, err)
	ordersA, err := dbA.Collection(ctx, "orders")
	must(t, err)
	for i := range 20 {
		_, err := ordersA.CreateDocument(driver.WithSilent(ctx), map[string]any{"_key": fmt.Sprintf("k%02d", i), "n": i})
		must(t, err)
	}
	_, err = w.b.mgr.Configure(ctx, plan.ConfigureRequest{SourceDC: "A", DataPartitions: 3})
	must(t, err)
	eventually(t, 30*time.Second, "A records the sync", func() (bool, string) {
		_, ok := w.a.syncRecord(syncID)
		return ok, ""
	})
	w.runWorkers(t)
	// Written while the sync runs.
	for i := 20; i < 30; i++ {
		_, err := ordersA.CreateDocument(driver.WithSilent(ctx), map[string]any{"_key": fmt.Sprintf("k%02d", i), "n": i})
		must(t, err)
	}
	eventually(t, 40*time.Second, "30 documents in B", func() (bool, string) {
		db, err := w.b.drv.Database(ctx, "shop")
		if err != nil {
			return false, err.Error()
		}
		c, err := db.Collection(ctx, "orders")
		if err != nil {
			return false, err.Error()
		}
		n, err := c.Count(ctx)
		return err == nil && n == 30, fmt.Sprint(n, err)
	})
	eventually(t, 30*time.Second, "shards running in B's status", func() (bool, string) {
		st, err := w.b.mgr.Status(ctx)
		if err != nil || len(st.Syncs) != 1 {
			return false, fmt.Sprint(err)
		}
		ss := st.Syncs[0]
		return ss.Phases[plan.ShardRunning] == 2 && ss.Shards[0].Source.Worker == "worker-a" && ss.InSync, fmt.Sprintf("%+v in sync %v", ss.Phases, ss.InSync)
	})
	eventually(t, 15*time.Second, "A's status shows the target's view", func() (bool, string) {
		st, err := w.a.mgr.Status(ctx)
		if err != nil || len(st.Syncs) != 1 || len(st.Syncs[0].Shards) != 2 {
			return false, fmt.Sprint(st, err)
		}
		sh := st.Syncs[0].Shards[0]
		return sh.Target.Phase == "tailing" && sh.Source.Worker == "worker-a", fmt.Sprintf("%+v", sh)
	})
	rep, err := w.b.mgr.Check(ctx, syncID)
	must(t, err)
	var total uint64
	for _, sh := range rep.Shards {
		total += sh.SourceCount
	}
	if !rep.InSync || len(rep.Shards) != 2 || total != 30 {
		t.Fatalf("check on idle replicated shards: %+v", rep)
	}
	dbB, err := w.b.drv.Database(ctx, "shop")
	must(t, err)
	ordersB, err := dbB.Collection(ctx, "orders")
	must(t, err)
	_, err = ordersB.UpdateDocument(ctx, "k07", map[string]any{"n": "changed in B"})
	must(t, err)
	rep, err = w.b.mgr.Check(ctx, syncID)
	must(t, err)
	if rep.InSync {
		t.Fatalf("check after a change in B: %+v", rep)
	}

	// Message timeout: B's record, A's copy, the assignments.
	must(t, w.b.mgr.SetMessageTimeout(ctx, syncID, 90*time.Second))
	if err := w.b.mgr.SetMessageTimeout(ctx, syncID, time.Millisecond); err == nil {
		t.Error("a 1ms message timeout was accepted")
	}
	eventually(t, 15*time.Second, "A copies the message timeout", func() (bool, string) {
		rec, _ := w.a.syncRecord(syncID)
		return rec.MessageTimeoutMillis == 90000, fmt.Sprint(rec.MessageTimeoutMillis)
	})
	if as := w.b.mgr.Assignments(); len(as) != 1 || as[0].MessageTimeoutMillis != 90000 {
		t.Errorf("assignments %+v", as)
	}

	// Reset a shard: its task comes back under a new generation and runs.
	var shard string
	var gen uint64
	for s, task := range w.a.sendTasks() {
		shard, gen = s, task.Generation
		break
	}
	if err := w.b.mgr.ResetFailedShard(ctx, syncID, "no/such/0"); err == nil {
		t.Error("reset of an unknown shard accepted")
	}
	if err := w.b.mgr.ResetFailedShard(ctx, syncID, "garbage"); err == nil {
		t.Error("reset of a malformed shard accepted")
	}
	must(t, w.b.mgr.ResetFailedShard(ctx, syncID, shard))
	eventually(t, 30*time.Second, "the reset task is assigned under a new generation", func() (bool, string) {
		task := w.a.sendTasks()[shard]
		return task.Generation > gen && task.Worker != "", fmt.Sprintf("%+v", task)
	})

	// Stop without ensure-in-sync: both sides stop, A's tasks go.
	must(t, w.b.mgr.Stop(ctx, plan.StopRequest{}))
	eventually(t, 30*time.Second, "A follows the stop", func() (bool, string) {
		rec, _ := w.a.syncRecord(syncID)
		return rec.State == plan.StateStopped && len(w.a.sendTasks()) == 0, fmt.Sprintf("%+v", rec)
	})
	// Configured again: A runs it again.
	_, err = w.b.mgr.Configure(ctx, plan.ConfigureRequest{SourceDC: "A", DataPartitions: 3})
	must(t, err)
	eventually(t, 30*time.Second, "A runs the sync again", func() (bool, string) {
		rec, _ := w.a.syncRecord(syncID)
		return rec.State == plan.StateRunning && len(w.a.sendTasks()) == 2, fmt.Sprintf("%+v %d tasks", rec, len(w.a.sendTasks()))
	})
}

// TestStopEnsureInSync: A becomes read-only, drains, B applies everything,
// both stop and A is writable again.
func TestStopEnsureInSync(t *testing.T) {
	w := newWorld(t)
	ctx := w.ctx
	w.a.collection(t, ctx, "shop", "orders", 2)
	_, err := w.b.mgr.Configure(ctx, plan.ConfigureRequest{SourceDC: "A", DataPartitions: 3})
	must(t, err)
	eventually(t, 30*time.Second, "A records the sync", func() (bool, string) {
		_, ok := w.a.syncRecord(syncID)
		return ok, ""
	})
	w.runWorkers(t)
	dbA, err := w.a.drv.Database(ctx, "shop")
	must(t, err)
	ordersA, err := dbA.Collection(ctx, "orders")
	must(t, err)
	for i := range 10 {
		_, err := ordersA.CreateDocument(driver.WithSilent(ctx), map[string]any{"_key": fmt.Sprintf("k%02d", i)})
		must(t, err)
	}
	eventually(t, 30*time.Second, "shards running", func() (bool, string) {
		st, err := w.b.mgr.Status(ctx)
		if err != nil || len(st.Syncs) != 1 {
			return false, fmt.Sprint(err)
		}
		return st.Syncs[0].Phases[plan.ShardRunning] == 2, fmt.Sprintf("%+v", st.Syncs[0].Phases)
	})
	userDB, err := w.a.userDriver(t).Database(ctx, "shop")
	must(t, err)
	userOrders, err := userDB.Collection(ctx, "orders")
	must(t, err)
	// While it follows, B refuses its users' writes.
	userDBB, err := w.b.userDriver(t).Database(ctx, "shop")
	must(t, err)
	userOrdersB, err := userDBB.Collection(ctx, "orders")
	must(t, err)
	eventually(t, 15*time.Second, "B read-only for users while it follows", func() (bool, string) {
		_, err := userOrdersB.CreateDocument(driver.WithSilent(ctx), map[string]any{"_key": "user-in-b"})
		return err != nil && driver.IsArangoErrorWithErrorNum(err, 1004), fmt.Sprint(err)
	})
	must(t, w.b.mgr.Stop(ctx, plan.StopRequest{Sync: syncID, EnsureInSync: true, TimeoutMillis: 40000}))
	eventually(t, 10*time.Second, "A read-only", func() (bool, string) {
		mode, err := w.a.cl.Coordinator().Do(ctx, client.Request{Method: http.MethodGet, Path: "_admin/server/mode"}, http.StatusOK)
		return err == nil && strings.Contains(string(mode.Body), "readonly"), fmt.Sprint(err)
	})
	eventually(t, 45*time.Second, "both sides stopped", func() (bool, string) {
		a, _ := w.a.syncRecord(syncID)
		b, _ := w.b.syncRecord(syncID)
		return a.State == plan.StateStopped && b.State == plan.StateStopped, fmt.Sprintf("A %s, B %s %q", a.State, b.State, b.Error)
	})
	eventually(t, 15*time.Second, "A writable again for users", func() (bool, string) {
		_, err := userOrders.CreateDocument(driver.WithSilent(ctx), map[string]any{"_key": "after"})
		return err == nil, fmt.Sprint(err)
	})
	dbB, err := w.b.drv.Database(ctx, "shop")
	must(t, err)
	ordersB, err := dbB.Collection(ctx, "orders")
	must(t, err)
	n, err := ordersB.Count(ctx)
	must(t, err)
	// Stopped: B is writable for its users again (after the count above).
	eventually(t, 15*time.Second, "B writable for users after the stop", func() (bool, string) {
		_, err := userOrdersB.CreateDocument(driver.WithSilent(ctx), map[string]any{"_key": "user-in-b"})
		return err == nil, fmt.Sprint(err)
	})
	_, err = userOrdersB.RemoveDocument(ctx, "user-in-b") // the check below compares A and B
	must(t, err)
	if n != 10 {
		t.Errorf("B holds %d documents at the stop, want 10", n)
	}
	// check sync still compares a stopped sync (A wrote one more since).
	rep, err := w.b.mgr.Check(ctx, syncID)
	must(t, err)
	var a, b uint64
	for _, sh := range rep.Shards {
		a, b = a+sh.SourceCount, b+sh.TargetCount
	}
	if rep.InSync || len(rep.Shards) != 2 || a != 11 || b != 10 {
		t.Errorf("check after the stop: %+v", rep)
	}
}
