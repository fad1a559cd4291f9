package plan_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	driver "github.com/arangodb/go-driver"

	"github.com/dc2dc/dc2dc/handlers/control/plan"
)

// TestSyncEndToEnd: configure in B → A's leader discovers the sync → the
// structure appears in B → send tasks appear in A's registry; a collection
// created later follows, a dropped one goes; check; abort.
func TestSyncEndToEnd(t *testing.T) {
	w := newWorld(t)
	ctx := w.ctx
	ordersID := w.a.collection(t, ctx, "shop", "orders", 3)

	sy, err := w.b.mgr.Configure(ctx, plan.ConfigureRequest{Sync: syncID, SourceDC: "A", DataPartitions: 4})
	must(t, err)
	if sy.Role != plan.RoleTarget || sy.State != plan.StateRunning || sy.Partitions() != 4 {
		t.Fatalf("configured %+v", sy)
	}
	if _, err := w.b.mgr.Configure(ctx, plan.ConfigureRequest{Sync: syncID, SourceDC: "A"}); err == nil {
		t.Fatal("a second configure of a running sync was accepted")
	}

	eventually(t, 30*time.Second, "A records the source sync", func() (bool, string) {
		rec, ok := w.a.syncRecord(syncID)
		return ok && rec.Role == plan.RoleSource && rec.State == plan.StateRunning && rec.DataPartitions == 4, fmt.Sprintf("%+v", rec)
	})
	eventually(t, 30*time.Second, "shop/orders in B", func() (bool, string) {
		ok, n := w.b.hasCollection(ctx, "shop", "orders")
		return ok && n == 3, fmt.Sprintf("exists %v shards %d", ok, n)
	})
	eventually(t, 30*time.Second, "send tasks in A", func() (bool, string) {
		tasks := w.a.sendTasks()
		return tasksOf(tasks, "shop/"+ordersID+"/") == 3, fmt.Sprintf("%v", tasks)
	})
	for shard, task := range w.a.sendTasks() {
		if task.ID != plan.TaskID(syncID, shard) || task.Collection != "orders" || task.ShardName == "" || task.ShardLeader == "" {
			t.Errorf("task %+v", task)
		}
	}
	// B's status lists A's shards, A is alive; both sides assign the sync.
	eventually(t, 15*time.Second, "B's status", func() (bool, string) {
		st, err := w.b.mgr.Status(ctx)
		if err != nil || len(st.Syncs) != 1 {
			return false, fmt.Sprint(st, err)
		}
		ss := st.Syncs[0]
		return ss.PeerAlive && len(ss.Shards) == 3 && ss.Shards[0].Collection == "shop/orders", fmt.Sprintf("%+v", ss)
	})
	if as := w.b.mgr.Assignments(); len(as) != 1 || as[0].Role != plan.RoleTarget {
		t.Errorf("B assignments %+v", as)
	}
	if as := w.a.mgr.Assignments(); len(as) != 1 || as[0].Role != plan.RoleSource {
		t.Errorf("A assignments %+v", as)
	}
	stA, err := w.a.mgr.Status(ctx)
	must(t, err)
	if len(stA.Syncs) != 1 || len(stA.Syncs[0].Shards) != 3 || !stA.Syncs[0].PeerAlive {
		t.Errorf("A's status %+v", stA)
	}

	// A collection created later in A follows; a dropped one goes.
	laterID := w.a.collection(t, ctx, "shop", "later", 2)
	eventually(t, 30*time.Second, "shop/later in B with its tasks in A", func() (bool, string) {
		ok, n := w.b.hasCollection(ctx, "shop", "later")
		tasks := tasksOf(w.a.sendTasks(), "shop/"+laterID+"/")
		return ok && n == 2 && tasks == 2, fmt.Sprintf("in B %v/%d, tasks %d", ok, n, tasks)
	})
	db, err := w.a.drv.Database(ctx, "shop")
	must(t, err)
	later, err := db.Collection(ctx, "later")
	must(t, err)
	must(t, later.Remove(ctx))
	eventually(t, 30*time.Second, "shop/later gone in B and its tasks in A", func() (bool, string) {
		ok, _ := w.b.hasCollection(ctx, "shop", "later")
		tasks := tasksOf(w.a.sendTasks(), "shop/"+laterID+"/")
		return !ok && tasks == 0, fmt.Sprintf("in B %v, tasks %d", ok, tasks)
	})

	// Check: both sides empty and idle → in sync; a document written
	// directly into B → not.
	rep, err := w.b.mgr.Check(ctx, syncID)
	must(t, err)
	if !rep.InSync || len(rep.Shards) != 3 {
		t.Fatalf("check on idle empty shards: %+v", rep)
	}
	dbB, err := w.b.drv.Database(ctx, "shop")
	must(t, err)
	ordersB, err := dbB.Collection(ctx, "orders")
	must(t, err)
	_, err = ordersB.CreateDocument(driver.WithSilent(ctx), map[string]any{"_key": "only-in-b"})
	must(t, err)
	rep, err = w.b.mgr.Check(ctx, "")
	must(t, err)
	diff := 0
	for _, sh := range rep.Shards {
		if !sh.Equal {
			diff++
			if sh.TargetCount != 1 || sh.SourceCount != 0 {
				t.Errorf("differing shard %+v", sh)
			}
		}
	}
	if rep.InSync || diff != 1 {
		t.Fatalf("check after a write in B: %+v", rep)
	}
	if _, err := w.a.mgr.Check(ctx, syncID); err == nil {
		t.Error("check on the source side was accepted")
	}

	// An index and a view created in A follow, and go when dropped in A.
	idx, _, err := orders0(t, w).EnsurePersistentIndex(ctx, []string{"n"}, &driver.EnsurePersistentIndexOptions{Name: "byN"})
	must(t, err)
	view, err := db.CreateArangoSearchView(ctx, "search", nil)
	must(t, err)
	eventually(t, 30*time.Second, "index and view in B", func() (bool, string) {
		i, v := w.b.hasIndexAndView(ctx, "shop", "orders", "byN", "search")
		return i && v, fmt.Sprintf("index %v view %v", i, v)
	})
	must(t, idx.Remove(ctx))
	must(t, view.Remove(ctx))
	eventually(t, 30*time.Second, "index and view gone in B", func() (bool, string) {
		i, v := w.b.hasIndexAndView(ctx, "shop", "orders", "byN", "search")
		return !i && !v, fmt.Sprintf("index %v view %v", i, v)
	})

	// So does an analyzer; a database keeps A's properties.
	an, _, err := db.EnsureCreatedAnalyzer(ctx, &driver.ArangoSearchAnalyzerDefinition{Name: "ident", Type: driver.ArangoSearchAnalyzerTypeIdentity})
	must(t, err)
	_, err = w.a.drv.CreateDatabase(ctx, "props", &driver.CreateDatabaseOptions{Options: driver.CreateDatabaseDefaultOptions{
		ReplicationFactor: 2, WriteConcern: 2, Sharding: driver.DatabaseShardingSingle}})
	must(t, err)
	hasAnalyzer := func() bool {
		bdb, err := w.b.drv.Database(ctx, "shop")
		if err != nil {
			return false
		}
		_, err = bdb.Analyzer(ctx, "ident")
		return err == nil
	}
	eventually(t, 30*time.Second, "analyzer and database props in B", func() (bool, string) {
		pdb, err := w.b.drv.Database(ctx, "props")
		if err != nil {
			return false, err.Error()
		}
		info, err := pdb.Info(ctx)
		if err != nil {
			return false, err.Error()
		}
		ok := info.ReplicationFactor == 2 && info.WriteConcern == 2 && info.Sharding == driver.DatabaseShardingSingle
		return hasAnalyzer() && ok, fmt.Sprintf("analyzer %v, props %+v", hasAnalyzer(), info)
	})
	must(t, an.Remove(ctx, false))
	eventually(t, 30*time.Second, "analyzer gone in B", func() (bool, string) {
		return !hasAnalyzer(), "analyzer ident still in B"
	})

	// A rename in A: renamed in B, the tasks carry the new name.
	orders, err := db.Collection(ctx, "orders")
	must(t, err)
	must(t, orders.Rename(ctx, "orders2"))
	eventually(t, 30*time.Second, "orders renamed in B and in the tasks", func() (bool, string) {
		renamed, _ := w.b.hasCollection(ctx, "shop", "orders2")
		old, _ := w.b.hasCollection(ctx, "shop", "orders")
		names := 0
		for _, task := range w.a.sendTasks() {
			if task.Collection == "orders2" {
				names++
			}
		}
		return renamed && !old && names == 3, fmt.Sprintf("orders2 %v, orders %v, tasks renamed %d", renamed, old, names)
	})

	// Abort outgoing in A: at once, and it stays so while B runs on.
	if err := w.b.mgr.AbortOutgoing(ctx, syncID); err == nil {
		t.Error("abort outgoing on the target side was accepted")
	}
	must(t, w.a.mgr.AbortOutgoing(ctx, syncID))
	if rec, _ := w.a.syncRecord(syncID); rec.State != plan.StateAborted || len(w.a.sendTasks()) != 0 {
		t.Fatalf("after abort outgoing: %+v, %d tasks", rec, len(w.a.sendTasks()))
	}
	aborted := time.Now()
	eventually(t, 15*time.Second, "A hears B after the abort", func() (bool, string) {
		st, err := w.a.mgr.Status(ctx)
		return err == nil && len(st.Syncs) == 1 && st.Syncs[0].PeerLastSeen.After(aborted.Add(time.Second)), fmt.Sprint(st, err)
	})
	if rec, _ := w.a.syncRecord(syncID); rec.State != plan.StateAborted || len(w.a.sendTasks()) != 0 {
		t.Fatalf("abort outgoing undone while B runs: %+v, %d tasks", rec, len(w.a.sendTasks()))
	}
	eventually(t, 15*time.Second, "B's status tells that A aborted", func() (bool, string) {
		st, err := w.b.mgr.Status(ctx)
		if err != nil || len(st.Syncs) != 1 {
			return false, fmt.Sprint(err)
		}
		return st.Syncs[0].PeerAlive && strings.Contains(st.Syncs[0].Error, "abort outgoing sync"), st.Syncs[0].Error
	})

	// Abort in B: A marks its record aborted and removes the tasks.
	must(t, w.b.mgr.Abort(ctx, syncID))
	eventually(t, 30*time.Second, "A follows the abort", func() (bool, string) {
		rec, _ := w.a.syncRecord(syncID)
		return rec.State == plan.StateAborted && len(w.a.sendTasks()) == 0, fmt.Sprintf("%+v, %d tasks", rec, len(w.a.sendTasks()))
	})
	if as := w.b.mgr.Assignments(); len(as) != 0 {
		t.Errorf("B assigns an aborted sync: %+v", as)
	}
}

func orders0(t *testing.T, w *world) driver.Collection {
	t.Helper()
	db, err := w.a.drv.Database(w.ctx, "shop")
	must(t, err)
	c, err := db.Collection(w.ctx, "orders")
	must(t, err)
	return c
}
