package task

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	driver "github.com/arangodb/go-driver"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/source"
)

// writer writes to A: inserts, updates (a per-document version counter v),
// removes, stream transactions, and edges.
type writer struct {
	w      *world
	db     driver.Database
	orders driver.Collection
	links  driver.Collection

	mu   sync.Mutex
	keys []string
	seq  int

	ops, errs atomic.Int64
	stopc     chan struct{}
	done      chan struct{}
}

func newWriter(w *world) *writer {
	db, err := w.drvA.Database(w.ctx, dbName)
	must(w.t, err)
	o, err := db.Collection(w.ctx, "orders")
	must(w.t, err)
	l, err := db.Collection(w.ctx, "links")
	must(w.t, err)
	return &writer{w: w, db: db, orders: o, links: l}
}

type order struct {
	C string `json:"c"`
	U string `json:"u"`
	V int    `json:"v"`
}

func (wr *writer) step(ctx context.Context) error {
	wr.mu.Lock()
	wr.seq++
	i := wr.seq
	var pick string
	if len(wr.keys) > 0 {
		pick = wr.keys[rand.IntN(len(wr.keys))]
	}
	wr.mu.Unlock()
	switch {
	case i%7 == 0:
		tid, err := wr.db.BeginTransaction(ctx, driver.TransactionCollections{Write: []string{"orders"}}, nil)
		if err != nil {
			return err
		}
		tctx := driver.WithTransactionID(ctx, tid)
		var keys []string
		for j := range 3 {
			meta, err := wr.orders.CreateDocument(tctx, order{C: fmt.Sprint("c", i%97), U: fmt.Sprintf("t%d-%d", i, j)})
			if err != nil {
				_ = wr.db.AbortTransaction(ctx, tid, nil)
				return err
			}
			keys = append(keys, meta.Key)
		}
		if pick != "" {
			if _, err := wr.orders.UpdateDocument(tctx, pick, map[string]any{"v": i}); err != nil && !driver.IsNotFoundGeneral(err) {
				_ = wr.db.AbortTransaction(ctx, tid, nil)
				return err
			}
		}
		if err := wr.db.CommitTransaction(ctx, tid, nil); err != nil {
			return err
		}
		wr.mu.Lock()
		wr.keys = append(wr.keys, keys...)
		wr.mu.Unlock()
	case i%5 == 0 && pick != "":
		if _, err := wr.orders.RemoveDocument(ctx, pick); err != nil && !driver.IsNotFoundGeneral(err) {
			return err
		}
		wr.mu.Lock()
		for j, k := range wr.keys {
			if k == pick {
				wr.keys = append(wr.keys[:j], wr.keys[j+1:]...)
				break
			}
		}
		wr.mu.Unlock()
	case i%2 == 0 && pick != "":
		if _, err := wr.orders.UpdateDocument(ctx, pick, map[string]any{"v": i}); err != nil && !driver.IsNotFoundGeneral(err) {
			return err
		}
	case i%3 == 0 && pick != "":
		if _, err := wr.links.CreateDocument(ctx, map[string]any{"_key": fmt.Sprintf("e%d", i), "_from": "orders/" + pick, "_to": "orders/" + pick, "v": i}); err != nil {
			return err
		}
	default:
		meta, err := wr.orders.CreateDocument(ctx, order{C: fmt.Sprint("c", i%97), U: fmt.Sprintf("u%d", i)})
		if err != nil {
			return err
		}
		wr.mu.Lock()
		wr.keys = append(wr.keys, meta.Key)
		wr.mu.Unlock()
	}
	return nil
}

func (wr *writer) start() {
	wr.stopc, wr.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(wr.done)
		for {
			select {
			case <-wr.stopc:
				return
			case <-wr.w.ctx.Done():
				return
			default:
			}
			if err := wr.step(wr.w.ctx); err != nil {
				wr.errs.Add(1)
			} else {
				wr.ops.Add(1)
			}
		}
	}()
}

func (wr *writer) stop() {
	close(wr.stopc)
	<-wr.done
}

// progress waits until n more operations succeeded.
func (wr *writer) progress(n int64) {
	target := wr.ops.Load() + n
	wr.w.eventually(fmt.Sprintf("%d writes", n), 60*time.Second, func() (bool, string) {
		return wr.ops.Load() >= target, fmt.Sprintf("%d ops, %d errors", wr.ops.Load(), wr.errs.Load())
	})
}

// TestDataPath runs the whole path A → Kafka A → mirror → Kafka B → B
// through initial sync, tailing, a DB-Server failover, a pruned WAL, a
// receive-side restart and a truncate; after each, A and B must be
// identical shard by shard.
func TestDataPath(t *testing.T) {
	if testing.Short() {
		t.Skip("the in-process data path test takes a while")
	}
	w := newWorld(t, 3, 2)
	ordersID, orderShards := w.collection("orders",
		`{"name":"orders","numberOfShards":3,"replicationFactor":2,"shardKeys":["c"]}`,
		`{"type":"persistent","fields":["c","u"],"unique":true}`)
	linksID, linkShards := w.collection("links", `{"name":"links","type":3,"numberOfShards":2,"replicationFactor":2}`)
	colls := map[string]int{"orders": 3, "links": 2}

	wr := newWriter(w)
	wr.start()
	wr.progress(200) // data before the initial sync
	w.startReceive("")
	refs := map[string]client.Shard{}
	for _, sh := range orderShards {
		r := w.startSend("orders", ordersID, sh)
		refs[r.v.Status().Shard] = sh
	}
	for _, sh := range linkShards {
		w.startSend("links", linksID, sh)
	}
	wr.progress(300) // during the initial sync and after
	wr.stop()
	w.waitIdentical(90*time.Second, colls)
	t.Logf("(a) initial sync + tailing: identical after %d writes (%d failed)", wr.ops.Load(), wr.errs.Load())
	for i := range 3 {
		n, err := w.orderCount(i)
		must(t, err)
		t.Logf("orders shard %d: %d documents", i, n)
	}

	ref := func(i int) string {
		return events.ShardRef{Database: dbName, CollectionID: ordersID, Index: i}.String()
	}

	t.Run("failover", func(t *testing.T) {
		w.t = t
		cur, err := w.clA.Shards(w.ctx, dbName, "orders")
		must(t, err)
		victim := cur[0].Leader
		before := w.sendTask(ref(0)).Status().Epochs
		wr.start()
		wr.progress(100)
		must(t, w.simA.StopServer(victim))
		w.eventually("a new epoch of orders shard 0", 60*time.Second, func() (bool, string) {
			st := w.sendTask(ref(0)).Status()
			return st.Epochs > before && st.Phase == "tailing", fmt.Sprintf("%+v", st)
		})
		wr.progress(100)
		wr.stop()
		if st := w.sendTask(ref(0)).Status(); st.EpochReason != source.ReasonFailover || st.TreeRequests < 2 || st.TreeFallbacks != 0 {
			t.Errorf("orders shard 0: new epoch for %q after %d tree requests (%d fell back to a full snapshot); want %q, ≥ 2 requests, no fallback",
				st.EpochReason, st.TreeRequests, st.TreeFallbacks, source.ReasonFailover)
		}
		w.waitIdentical(120*time.Second, colls)
		st, _ := w.shardStatus(ref(0))
		total := 0
		rep, err := w.clA.Shards(w.ctx, dbName, "orders")
		must(t, err)
		_ = rep
		if st.SnapshotMode != events.SnapshotRevisions {
			t.Errorf("orders shard 0 resynced in mode %q, want revisions", st.SnapshotMode)
		}
		cnt, err := w.orderCount(0)
		must(t, err)
		total = int(cnt)
		t.Logf("(b) failover of %s: revision resync sent %d documents and %d removals for a shard of %d documents", victim, st.SnapshotDocs, st.SnapshotRems, total)
		if st.SnapshotDocs >= int64(total) && total > 50 {
			t.Errorf("the revision resync sent %d documents of %d: not only what differs", st.SnapshotDocs, total)
		}
		must(t, w.simA.RestartServer(victim))
	})

	t.Run("failover when idle", func(t *testing.T) {
		// With A and B identical, a failover's revision resync must
		// transfer nothing at all: it sends only what differs.
		w.t = t
		w.waitIdentical(120*time.Second, colls)
		cur, err := w.clA.Shards(w.ctx, dbName, "orders")
		must(t, err)
		victim := cur[2].Leader
		var moved []int
		before := map[int]uint64{}
		for i, sh := range cur {
			before[i] = w.sendTask(ref(i)).Status().Epoch
			if sh.Leader == victim {
				moved = append(moved, i)
			}
		}
		must(t, w.simA.StopServer(victim))
		var fullFallback []int
		for _, i := range moved {
			w.eventually(fmt.Sprintf("orders shard %d's new epoch", i), 60*time.Second, func() (bool, string) {
				st := w.sendTask(ref(i)).Status()
				rs, _ := w.shardStatus(ref(i))
				return st.Epoch > before[i] && st.Phase == "tailing" && rs.Applied.Epoch == st.Epoch && rs.SnapshotEpoch == st.Epoch && rs.Phase == "tailing", fmt.Sprintf("%+v / %+v", st, rs)
			})
			st, _ := w.shardStatus(ref(i))
			t.Logf("idle failover of %s: orders shard %d resync (%s) sent %d documents and %d removals", victim, i, st.SnapshotMode, st.SnapshotDocs, st.SnapshotRems)
			switch {
			case st.SnapshotMode == events.SnapshotFull:
				fullFallback = append(fullFallback, i)
			case st.SnapshotDocs != 0 || st.SnapshotRems != 0:
				t.Errorf("orders shard %d: revisions resync sent %d documents, %d removals; want nothing", i, st.SnapshotDocs, st.SnapshotRems)
			}
		}
		w.waitIdentical(120*time.Second, colls)
		must(t, w.simA.RestartServer(victim))
		if len(fullFallback) > 0 {
			// A full snapshot into a non-empty B cannot remove what only B
			// holds: an idle failover must resync by revisions.
			t.Errorf("orders shards %v resynced by a full snapshot after an idle failover, want revisions", fullFallback)
		}
	})

	t.Run("pruned WAL", func(t *testing.T) {
		w.t = t
		r1 := ref(1)
		before := w.sendTask(r1).Status()
		w.stopSend(r1)
		wr.start()
		wr.progress(150)
		wr.stop()
		cur, err := w.clA.Shards(w.ctx, dbName, "orders")
		must(t, err)
		leader := cur[1].Leader
		srv, ok := w.simA.Server(leader)
		if !ok {
			t.Fatalf("no server %s", leader)
		}
		pruned, err := w.simA.PruneWAL(leader, srv.WAL().LastTick())
		must(t, err)
		t.Logf("pruned %d WAL entries of %s", pruned, leader)
		task := w.startSend("orders", ordersID, cur[1])
		w.eventually("a new epoch after the pruned WAL", 60*time.Second, func() (bool, string) {
			st := task.v.Status()
			return st.Epoch > before.Epoch && st.Phase == "tailing", fmt.Sprintf("%+v", st)
		})
		if r := task.v.Status().EpochReason; r != source.ReasonPruned {
			t.Errorf("orders shard 1's new epoch began for %q, want %q", r, source.ReasonPruned)
		}
		w.waitIdentical(120*time.Second, colls)
		st, _ := w.shardStatus(r1)
		if st.SnapshotMode != events.SnapshotRevisions {
			t.Errorf("orders shard 1 resynced in mode %q, want revisions", st.SnapshotMode)
		}
		t.Logf("(c) pruned WAL: epoch %d → %d, revision resync sent %d documents and %d removals", before.Epoch, task.v.Status().Epoch, st.SnapshotDocs, st.SnapshotRems)
	})

	t.Run("send restart", func(t *testing.T) {
		w.t = t
		r2 := ref(2)
		before := w.sendTask(r2).Status()
		w.stopSend(r2)
		wr.start()
		wr.progress(100)
		cur, err := w.clA.Shards(w.ctx, dbName, "orders")
		must(t, err)
		task := w.startSend("orders", ordersID, cur[2])
		wr.progress(100)
		wr.stop()
		w.waitIdentical(120*time.Second, colls)
		if st := task.v.Status(); st.Epoch != before.Epoch || st.Epochs != 0 {
			t.Errorf("the restarted task is in epoch %d (%d new), want to resume epoch %d from its checkpoint", st.Epoch, st.Epochs, before.Epoch)
		}
		t.Logf("send task restarted: resumed epoch %d from its checkpoint", before.Epoch)
	})

	t.Run("receive restart", func(t *testing.T) {
		w.t = t
		wr.start()
		wr.progress(100)
		w.stopReceive()
		wr.progress(100)
		// A new worker in a new consumer group: it replays the whole
		// data topic from the start, every epoch of every shard.
		w.startReceive("dc2dc." + syncID + ".apply-new-worker")
		wr.progress(100)
		wr.stop()
		w.waitIdentical(120*time.Second, colls)
		var skipped, applied uint64
		for _, s := range w.receiver().Status() {
			skipped += s.Messages - s.Batches
			applied += s.Batches
		}
		t.Logf("(d) receive restarted mid-stream, replaying the topic from the start: identical; %d replayed batches skipped, %d applied", skipped, applied)
		if skipped == 0 {
			t.Error("the new receivers skipped no replayed batch")
		}
	})

	t.Run("truncate", func(t *testing.T) {
		w.t = t
		must(t, wr.orders.Truncate(w.ctx))
		wr.mu.Lock()
		wr.keys = nil
		wr.mu.Unlock()
		w.eventually("a resync request", 60*time.Second, func() (bool, string) {
			for i := range 3 {
				if st, ok := w.shardStatus(ref(i)); ok && st.Resyncs > 0 {
					return true, ""
				}
			}
			return false, ""
		})
		wr.start()
		wr.progress(100)
		wr.stop()
		w.waitIdentical(120*time.Second, colls)
		for i := range 3 {
			st, _ := w.shardStatus(ref(i))
			t.Logf("(e) truncate: orders shard %d: %d resync requests, last snapshot %s: %d documents, %d removals", i, st.Resyncs, st.SnapshotMode, st.SnapshotDocs, st.SnapshotRems)
			if st.Resyncs != 1 {
				t.Errorf("orders shard %d: %d resync requests, want exactly 1 (one per epoch)", i, st.Resyncs)
			}
			if r := w.sendTask(ref(i)).Status().EpochReason; r != "resync-request" {
				t.Errorf("orders shard %d's epoch began for %q, want resync-request", i, r)
			}
		}
	})

	t.Run("drop", func(t *testing.T) { w.dropLinks(t, linksID) })
}

// dropLinks drops the edge collection in A: the send tasks of its shards
// end (nil, phase done).
func (w *world) dropLinks(t *testing.T, linksID string) {
	w.t = t
	db, err := w.drvA.Database(w.ctx, dbName)
	must(t, err)
	col, err := db.Collection(w.ctx, "links")
	must(t, err)
	must(t, col.Remove(w.ctx))
	for i := range 2 {
		r := events.ShardRef{Database: dbName, CollectionID: linksID, Index: i}.String()
		w.mu.Lock()
		task := w.sends[r]
		w.mu.Unlock()
		select {
		case <-task.done:
			if task.err != nil {
				t.Errorf("links shard %d's task ended with %v", i, task.err)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("links shard %d's task did not end after the drop", i)
		}
		if st := task.v.Status(); st.Phase != "done" {
			t.Errorf("links shard %d: phase %q, want done", i, st.Phase)
		}
		// B sees a drop marker only when the tail read it before the shard
		// went away; otherwise the master drops the collection in B.
		st, _ := w.shardStatus(r)
		t.Logf("links shard %d dropped: send task done, receive phase %q", i, st.Phase)
	}
}

// orderCount counts the documents of orders shard i on its leader in A.
func (w *world) orderCount(i int) (uint64, error) {
	cur, err := w.clA.Shards(w.ctx, dbName, "orders")
	if err != nil {
		return 0, err
	}
	srv, ok := w.simA.Server(cur[i].Leader)
	if !ok {
		return 0, fmt.Errorf("no server %s", cur[i].Leader)
	}
	sn, err := srv.Snapshot(dbName)
	if err != nil {
		return 0, err
	}
	ss, ok := sn.Shard(cur[i].Name)
	if !ok {
		return 0, fmt.Errorf("no shard %s", cur[i].Name)
	}
	return uint64(ss.Len()), nil
}
