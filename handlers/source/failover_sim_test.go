package source

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/tests/arangosim"
)

// snapshotsOf lists the SnapshotBegin events a replica received.
func snapshotsOf(r *replica) []*events.SnapshotBegin {
	var out []*events.SnapshotBegin
	for _, em := range r.allEmits() {
		for _, rec := range em.recs {
			if b, ok := rec.Event.(*events.SnapshotBegin); ok {
				out = append(out, b)
			}
		}
	}
	return out
}

// TestFailoverAndLeaderMove moves one shard's leader and stops another
// shard's leader while a client writes: each affected stream must end its
// epoch naming the new leader, and the new epoch's revision resync together
// with everything emitted before must give exactly A's documents.
func TestFailoverAndLeaderMove(t *testing.T) {
	if testing.Short() {
		t.Skip("failover test skipped in -short mode")
	}
	e := newEnv(t, 3)
	col, shards, id := e.collection("shop", "orders", 3, 2)
	ctx := context.Background()
	docs := make([]doc, 300)
	for i := range docs {
		docs[i] = doc{Key: key(i), N: i}
	}
	if _, _, err := col.CreateDocuments(ctx, docs); err != nil {
		t.Fatal(err)
	}
	reps := make([]*replica, len(shards))
	runners := make([]*runner, len(shards))
	for i, s := range shards {
		reps[i] = newReplica()
		runners[i] = e.run(testConfig(), shardOf("shop", "orders", id, s), reps[i], true, Start{Epoch: 1})
	}
	for i, s := range shards {
		e.waitFor("initial sync of "+s.Name, func() bool { return sameState(e.leaderDocs("shop", s.Name), reps[i].state()) == "" })
		if b := snapshotsOf(reps[i]); len(b) != 1 || b[0].Mode != events.SnapshotFull {
			t.Fatalf("shard %d: snapshots %+v, want one full", i, b)
		}
	}

	// A client writes all along.
	var written atomic.Int64
	stopWriter := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stopWriter:
				return
			default:
			}
			if _, err := col.CreateDocument(ctx, doc{Key: key(10000 + i), N: i}); err == nil {
				written.Add(1)
			}
			if _, err := col.UpdateDocument(ctx, key(i%300), map[string]any{"n": -i}); err == nil {
				written.Add(1)
			}
		}
	}()
	progress := func(n int64) {
		target := written.Load() + n
		e.waitFor("the writer", func() bool { return written.Load() >= target })
	}
	progress(50)

	// 1. Move shard 1's leader onto its follower.
	cur, err := e.cl.Shards(ctx, "shop", "orders")
	if err != nil {
		t.Fatal(err)
	}
	moved := cur[1]
	if len(moved.Followers) == 0 {
		t.Fatalf("shard 1 has no follower: %+v", moved)
	}
	newLeader := moved.Followers[0]
	if err := e.sim.MoveShard("shop", "orders", moved.Name, moved.Leader, newLeader); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the moved shard's new epoch", func() bool { return len(runners[1].newEpochs()) > 0 })
	if ne := runners[1].newEpochs()[0]; ne.Reason != ReasonFailover || ne.Leader != newLeader || ne.OldLeader != moved.Leader {
		t.Errorf("move: %v, want leader %s → %s", ne, moved.Leader, newLeader)
	}
	progress(50)

	// 2. Stop the leader of another shard (not shard 1's new leader).
	victim := -1
	for _, i := range []int{0, 2} {
		if cur[i].Leader != newLeader {
			victim = i
			break
		}
	}
	if victim < 0 {
		t.Fatal("no shard to fail over")
	}
	stopped := cur[victim].Leader
	if err := e.sim.StopServer(stopped); err != nil {
		t.Fatal(err)
	}
	var wantLeader string
	e.waitFor("the failover in the shard map", func() bool {
		l, ok := e.watcher.ShardLeader("shop", cur[victim].Name)
		wantLeader = l
		return ok && l != stopped
	})
	e.waitFor("the failed-over shard's new epoch", func() bool { return len(runners[victim].newEpochs()) > 0 })
	if ne := runners[victim].newEpochs()[0]; ne.Reason != ReasonFailover || ne.Leader != wantLeader || ne.OldLeader != stopped {
		t.Errorf("failover: %v, want leader %s → %s", ne, stopped, wantLeader)
	}
	progress(50)
	close(stopWriter)
	wg.Wait()

	for i, s := range shards {
		e.waitSame("shop", s.Name, reps[i])
		if err := runners[i].failed(); err != nil {
			t.Errorf("shard %d runner: %v", i, err)
		}
	}
	for _, i := range []int{1, victim} {
		b := snapshotsOf(reps[i])
		if len(b) < 2 || b[1].Mode != events.SnapshotRevisions {
			t.Errorf("shard %d: snapshots %+v, want a revisions resync after the full one", i, b)
		}
	}
	if err := e.sim.RestartServer(stopped); err != nil {
		t.Fatal(err)
	}
}

// TestPrunedWALResyncsOnlyDifferences stops a stream, changes 45 documents,
// prunes the leader's WAL past the stream's position and resumes: the
// stream must start a new epoch whose revision resync sends exactly the 40
// changed or new documents and removes exactly the 5 removed ones.
func TestPrunedWALResyncsOnlyDifferences(t *testing.T) {
	e := newEnv(t, 2)
	col, shards, id := e.collection("shop", "items", 1, 1)
	ctx := context.Background()
	docs := make([]doc, 500)
	for i := range docs {
		docs[i] = doc{Key: key(i), N: i}
	}
	if _, _, err := col.CreateDocuments(ctx, docs); err != nil {
		t.Fatal(err)
	}
	sh := shardOf("shop", "items", id, shards[0])
	rep := newReplica()
	r := e.run(testConfig(), sh, rep, true, Start{Epoch: 1})
	e.waitFor("initial sync", func() bool { return sameState(e.leaderDocs("shop", sh.Name), rep.state()) == "" })
	if err := r.stopped(); err != nil {
		t.Fatal(err)
	}
	pos, _ := rep.lastPos()
	if pos.Phase != PhaseTailing || pos.Tick == 0 {
		t.Fatalf("position %+v", pos)
	}
	for i := 0; i < 30; i++ {
		if _, err := col.UpdateDocument(ctx, key(i*7), map[string]any{"n": -1}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 10; i++ {
		if _, err := col.CreateDocument(ctx, doc{Key: key(5000 + i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 5; i++ {
		if _, err := col.RemoveDocument(ctx, key(i*7+1)); err != nil {
			t.Fatal(err)
		}
	}
	leader, _ := e.sim.Server(sh.Leader)
	if _, err := e.sim.PruneWAL(sh.Leader, leader.WAL().LastTick()); err != nil {
		t.Fatal(err)
	}
	before := len(rep.allEmits())
	r = e.run(testConfig(), sh, rep, true, Start{Epoch: 1, Leader: pos.Leader, Tick: pos.Tick, LastScanned: pos.LastScanned})
	e.waitFor("the resync", func() bool { return sameState(e.leaderDocs("shop", sh.Name), rep.state()) == "" })
	if err := r.stopped(); err != nil {
		t.Fatal(err)
	}
	eps := r.newEpochs()
	if len(eps) != 1 || eps[0].Reason != ReasonPruned || eps[0].Leader != sh.Leader {
		t.Fatalf("new epochs %v, want one wal-pruned on %s", eps, sh.Leader)
	}
	var sentDocs, removed, walRecords int
	var end *events.SnapshotEnd
	for _, em := range rep.allEmits()[before:] {
		for _, rec := range em.recs {
			switch ev := rec.Event.(type) {
			case *events.SnapshotDocuments:
				sentDocs += len(ev.Docs)
			case *events.SnapshotRemove:
				removed += len(ev.Keys)
			case *events.SnapshotEnd:
				end = ev
			case *events.Document, *events.Remove:
				walRecords++
			case *events.SnapshotBegin:
				if ev.Mode != events.SnapshotRevisions || ev.Documents != 505 {
					t.Errorf("snapshot begin %+v", ev)
				}
			}
		}
	}
	if sentDocs != 40 || removed != 5 || walRecords != 0 || end == nil || end.Documents != 40 {
		t.Errorf("resync sent %d documents and %d removals (end %+v, %d WAL records), want 40 and 5", sentDocs, removed, end, walRecords)
	}
}

// TestLargeDocument carries a 10 MiB document through the WAL tail and a
// full dump, byte for byte.
func TestLargeDocument(t *testing.T) {
	if testing.Short() {
		t.Skip("large document test skipped in -short mode")
	}
	e := newEnv(t, 2)
	col, shards, id := e.collection("shop", "blobs", 1, 1)
	ctx := context.Background()
	sh := shardOf("shop", "blobs", id, shards[0])
	rep := newReplica()
	r := e.run(testConfig(), sh, rep, false, Start{Epoch: 1})
	e.waitFor("snapshot end", func() bool { p, ok := rep.lastPos(); return ok && p.Phase == PhaseTailing })
	pad := strings.Repeat("0123456789abcdef", 10<<20/16)
	meta, err := col.CreateDocument(ctx, doc{Key: "big", Pad: pad})
	if err != nil {
		t.Fatal(err)
	}
	check := func(how string, raw json.RawMessage) {
		t.Helper()
		var d struct {
			Key string `json:"_key"`
			Rev string `json:"_rev"`
			Pad string `json:"pad"`
		}
		if err := json.Unmarshal(raw, &d); err != nil || d.Key != "big" || d.Rev != meta.Rev || d.Pad != pad {
			t.Errorf("%s: %d bytes, key %q rev %q (want %s), pad equal %v, err %v", how, len(raw), d.Key, d.Rev, meta.Rev, d.Pad == pad, err)
		}
	}
	e.waitFor("the big document via the WAL", func() bool { _, ok := rep.state()["big"]; return ok })
	check("tail", rep.docs["big"].doc)
	if err := r.stopped(); err != nil {
		t.Fatal(err)
	}
	rep2 := newReplica()
	r2 := e.run(testConfig(), sh, rep2, false, Start{Epoch: 2})
	e.waitFor("the big document via the dump", func() bool { _, ok := rep2.state()["big"]; return ok })
	check("dump", rep2.docs["big"].doc)
	if err := r2.stopped(); err != nil {
		t.Fatal(err)
	}
	_ = errors.New
	_ = client.DBPath
}

// TestTransientErrorsAreRetried injects 503s and latency on the leader's
// WAL and snapshot endpoints: the source retries, stays in its epoch and
// loses nothing.
func TestTransientErrorsAreRetried(t *testing.T) {
	e := newEnv(t, 2)
	col, shards, id := e.collection("shop", "flaky", 1, 1)
	ctx := context.Background()
	sh := shardOf("shop", "flaky", id, shards[0])
	if err := e.sim.InjectFault(sh.Leader, arangosim.Fault{PathPrefix: "/_api/replication/batch", Status: 503, Count: 3}); err != nil {
		t.Fatal(err)
	}
	rep := newReplica()
	cfg := testConfig()
	retries := &countHandler{msg: "source: retrying"}
	cfg.Logger = slog.New(retries)
	var tailed, answers atomic.Int64
	var behind atomic.Uint64
	cfg.OnTail = func(st TailStats) {
		tailed.Add(int64(st.Records))
		answers.Add(1)
		if st.LastTick >= st.From {
			behind.Store(st.LastTick - st.From)
		}
	}
	r := e.run(cfg, sh, rep, false, Start{Epoch: 1})
	e.waitFor("snapshot end", func() bool { p, ok := rep.lastPos(); return ok && p.Phase == PhaseTailing })
	if n := retries.n.Load(); n != 3 {
		t.Errorf("%d retries of the batch creation, want 3", n)
	}
	if err := e.sim.InjectFault(sh.Leader, arangosim.Fault{PathPrefix: "/_api/wal/tail", Status: 503, Count: 5}); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.InjectFault(sh.Leader, arangosim.Fault{PathPrefix: "/_api/wal/tail", Latency: 20 * time.Millisecond, Count: 5}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if _, err := col.CreateDocument(ctx, doc{Key: key(i)}); err != nil {
			t.Fatal(err)
		}
	}
	e.waitSame("shop", sh.Name, rep)
	if err := r.stopped(); err != nil {
		t.Fatal(err)
	}
	if eps := r.newEpochs(); len(eps) != 0 {
		t.Errorf("new epochs %v, want none", eps)
	}
	if b := snapshotsOf(rep); len(b) != 1 {
		t.Errorf("%d snapshots, want 1", len(b))
	}
	if n := retries.n.Load(); n != 3+5 {
		t.Errorf("%d retries, want 8", n)
	}
	if tailed.Load() != 50 || answers.Load() == 0 {
		t.Errorf("OnTail saw %d records in %d answers, want 50", tailed.Load(), answers.Load())
	}
	if behind.Load() > 1 {
		t.Errorf("OnTail: %d ticks behind at the end", behind.Load())
	}
}

// countHandler counts log records with a given message.
type countHandler struct {
	msg string
	n   atomic.Int64
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.n.Add(1)
	}
	return nil
}
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }

// slowSink delays every snapshot chunk, like a consumer under backpressure.
type slowSink struct {
	*replica
	delay time.Duration
}

func (s slowSink) Emit(ctx context.Context, recs []events.Record, pos Position) error {
	if pos.Phase == PhaseSnapshot {
		t := time.NewTimer(s.delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return s.replica.Emit(ctx, recs, pos)
}

// TestBatchKeptAliveDuringSlowSnapshot dumps a shard through a consumer so
// slow that the snapshot outlives the batch's ttl several times: the batch
// is extended meanwhile, so the snapshot completes in its epoch.
func TestBatchKeptAliveDuringSlowSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("slow snapshot test skipped in -short mode")
	}
	e := newEnv(t, 2)
	col, shards, id := e.collection("shop", "slow", 1, 1)
	ctx := context.Background()
	docs := make([]doc, 2000)
	for i := range docs {
		docs[i] = doc{Key: key(i), Pad: strings.Repeat("s", 100)}
	}
	if _, _, err := col.CreateDocuments(ctx, docs); err != nil {
		t.Fatal(err)
	}
	sh := shardOf("shop", "slow", id, shards[0])
	cfg := testConfig()
	cfg.BatchTTL, cfg.DumpChunkSize, cfg.MaxRecords = 4*time.Second, 16384, 1000
	rep := newReplica()
	src, err := New(cfg, sh, Start{Epoch: 1}, e.cl, e.watcher, nil, slowSink{replica: rep, delay: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- src.Run(rctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	}()
	e.waitFor("snapshot end", func() bool { p, ok := rep.lastPos(); return ok && p.Phase == PhaseTailing })
	if el := time.Since(start); el < 2*cfg.BatchTTL {
		t.Fatalf("the snapshot took %v, not longer than twice the ttl %v: the test proves nothing", el, cfg.BatchTTL)
	}
	e.waitSame("shop", sh.Name, rep)
	if b := snapshotsOf(rep); len(b) != 1 {
		t.Errorf("%d snapshots, want 1", len(b))
	}
}
