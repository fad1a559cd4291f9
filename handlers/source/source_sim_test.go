package source

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	driver "github.com/arangodb/go-driver"

	"github.com/dc2dc/dc2dc/events"
)

type doc struct {
	Key string `json:"_key"`
	N   int    `json:"n"`
	Pad string `json:"pad,omitempty"`
}

// op is one write as the client saw it.
type op struct {
	key    string
	rev    string // the new revision; "" for a remove
	remove bool
	trx    bool
}

// TestTailEveryLeaderExactlyOnce tails the three shards of a collection with
// replicationFactor 2 on their leaders while a client inserts, updates,
// removes and runs a stream transaction; every operation must arrive exactly
// once, in order, on its shard's stream, the transaction's part between its
// start and commit in one Emit.
func TestTailEveryLeaderExactlyOnce(t *testing.T) {
	e := newEnv(t, 3)
	col, shards, id := e.collection("shop", "orders", 3, 2)
	ctx := context.Background()

	reps := make([]*replica, len(shards))
	runners := make([]*runner, len(shards))
	for i, s := range shards {
		reps[i] = newReplica()
		runners[i] = e.run(testConfig(), shardOf("shop", "orders", id, s), reps[i], false, Start{Epoch: 1})
	}
	// Wait until every source finished its (empty) snapshot.
	for i := range shards {
		e.waitFor("snapshot end", func() bool {
			p, ok := reps[i].lastPos()
			return ok && p.Phase == PhaseTailing
		})
	}

	var ops []op
	for i := 0; i < 150; i++ {
		meta, err := col.CreateDocument(ctx, doc{Key: key(i), N: i})
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op{key: key(i), rev: meta.Rev})
	}
	for i := 0; i < 150; i += 3 {
		meta, err := col.UpdateDocument(ctx, key(i), map[string]any{"n": -i})
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op{key: key(i), rev: meta.Rev})
	}
	for i := 1; i < 150; i += 5 {
		if _, err := col.RemoveDocument(ctx, key(i)); err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op{key: key(i), remove: true})
	}
	// A stream transaction over several shards.
	db, _ := e.drv.Database(ctx, "shop")
	tid, err := db.BeginTransaction(ctx, driver.TransactionCollections{Write: []string{"orders"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tctx := driver.WithTransactionID(ctx, tid)
	var trxOps []op
	for i := 1000; i < 1010; i++ {
		meta, err := col.CreateDocument(tctx, doc{Key: key(i), N: i})
		if err != nil {
			t.Fatal(err)
		}
		trxOps = append(trxOps, op{key: key(i), rev: meta.Rev, trx: true})
	}
	meta, err := col.UpdateDocument(tctx, key(3), map[string]any{"n": 3333})
	if err != nil {
		t.Fatal(err)
	}
	trxOps = append(trxOps, op{key: key(3), rev: meta.Rev, trx: true})
	if _, err := col.RemoveDocument(tctx, key(9)); err != nil {
		t.Fatal(err)
	}
	trxOps = append(trxOps, op{key: key(9), remove: true, trx: true})
	if err := db.CommitTransaction(ctx, tid, nil); err != nil {
		t.Fatal(err)
	}
	ops = append(ops, trxOps...)
	for i := 2000; i < 2020; i++ {
		meta, err := col.CreateDocument(ctx, doc{Key: key(i), N: i})
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op{key: key(i), rev: meta.Rev})
	}

	// Which shard holds which key: from A's final state and from the
	// removed keys' first insert.
	shardOfKey := map[string]int{}
	for i, s := range shards {
		e.waitFor("shard "+s.Name+" to catch up", func() bool {
			return sameState(e.leaderDocs("shop", s.Name), reps[i].state()) == ""
		})
	}
	for i := range shards {
		for _, em := range reps[i].allEmits() {
			for _, r := range em.recs {
				if d, ok := r.Event.(*events.Document); ok {
					if prev, seen := shardOfKey[d.Key]; seen && prev != i {
						t.Fatalf("key %s on shards %d and %d", d.Key, prev, i)
					}
					shardOfKey[d.Key] = i
				}
			}
		}
	}
	total := 0
	for i, s := range shards {
		var want []string
		for _, o := range ops {
			if shardOfKey[o.key] != i {
				continue
			}
			if o.remove {
				want = append(want, "remove "+o.key)
			} else {
				want = append(want, "document "+o.key+" "+o.rev)
			}
		}
		var got []string
		inTrx := false
		trxRecords := 0
		for _, em := range reps[i].allEmits() {
			openInEmit := false
			for _, r := range em.recs {
				switch ev := r.Event.(type) {
				case *events.Document:
					got = append(got, "document "+ev.Key+" "+ev.Rev)
					if inTrx {
						trxRecords++
						if ev.TID == "0" || ev.TID == "" {
							t.Errorf("shard %d: document %s inside a transaction without tid", i, ev.Key)
						}
					}
				case *events.Remove:
					got = append(got, "remove "+ev.Key)
					if inTrx {
						trxRecords++
					}
				case *events.TransactionStart:
					inTrx, openInEmit = true, true
				case *events.TransactionCommit:
					if !openInEmit {
						t.Errorf("shard %d: commit without its start in the same Emit", i)
					}
					inTrx, openInEmit = false, false
				}
			}
			if openInEmit {
				t.Errorf("shard %d: transaction start without commit in one Emit", i)
			}
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("shard %d (%s): stream\n%s\nwant\n%s", i, s.Name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		// Every transactional op of this shard travelled inside a transaction
		// (multi-op write batches are transactions too, so there may be more).
		n := 0
		for _, o := range trxOps {
			if shardOfKey[o.key] == i {
				n++
			}
		}
		if trxRecords < n {
			t.Errorf("shard %d: %d records inside transactions, want at least %d", i, trxRecords, n)
		}
		total += len(got)
	}
	if total != len(ops) {
		t.Errorf("%d operations arrived, want %d", total, len(ops))
	}
	for i, r := range runners {
		if err := r.stopped(); err != nil {
			t.Errorf("runner %d: %v", i, err)
		}
		if ep := r.newEpochs(); len(ep) != 0 {
			t.Errorf("runner %d: unexpected new epochs %v", i, ep)
		}
	}
	// Positions never go back.
	for i := range reps {
		var prev Position
		for _, em := range reps[i].allEmits() {
			if em.pos.Phase == PhaseTailing && em.pos.Tick < prev.Tick {
				t.Errorf("shard %d: position went back from %d to %d", i, prev.Tick, em.pos.Tick)
			}
			if em.pos.Phase == PhaseTailing {
				prev = em.pos
			}
		}
	}
	_ = fmt.Sprint
	_ = errors.New
}

// TestHugeTransactionInChunks commits a 400-document stream transaction
// while MaxTxnRecords is 60: the transaction arrives whole and in order,
// start first and commit last, in several Emit calls whose positions stay
// before its start until the commit. With a 16 KiB tail chunk the server
// splits the write batch over several answers (lastScanned > 0).
func TestHugeTransactionInChunks(t *testing.T) {
	t.Run("one answer", func(t *testing.T) { testHugeTransaction(t, 1<<20) })
	t.Run("split by the server", func(t *testing.T) { testHugeTransaction(t, 16384) })
}

func testHugeTransaction(t *testing.T, chunk int) {
	e := newEnv(t, 2)
	col, shards, id := e.collection("shop", "bulk", 1, 1)
	ctx := context.Background()
	cfg := testConfig()
	cfg.MaxTxnRecords, cfg.ChunkSize, cfg.MaxRecords = 60, chunk, 100
	rep := newReplica()
	r := e.run(cfg, shardOf("shop", "bulk", id, shards[0]), rep, false, Start{Epoch: 1})
	e.waitFor("snapshot end", func() bool { p, ok := rep.lastPos(); return ok && p.Phase == PhaseTailing })
	db, _ := e.drv.Database(ctx, "shop")
	tid, err := db.BeginTransaction(ctx, driver.TransactionCollections{Write: []string{"bulk"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tctx := driver.WithTransactionID(ctx, tid)
	var want []string
	for i := 0; i < 400; i++ {
		meta, err := col.CreateDocument(tctx, doc{Key: key(i), N: i, Pad: strings.Repeat("x", 100)})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, key(i)+" "+meta.Rev)
	}
	if err := db.CommitTransaction(ctx, tid, nil); err != nil {
		t.Fatal(err)
	}
	e.waitSame("shop", shards[0].Name, rep)
	if err := r.stopped(); err != nil {
		t.Fatal(err)
	}
	if eps := r.newEpochs(); len(eps) > 0 {
		t.Fatalf("unexpected new epochs: %v", eps)
	}
	var got []string
	var startTick uint64
	chunks, started, committed := 0, false, false
	for _, em := range rep.allEmits() {
		if em.pos.Phase != PhaseTailing || len(em.recs) == 0 {
			continue
		}
		inTrx := false
		for i, rec := range em.recs {
			switch ev := rec.Event.(type) {
			case *events.TransactionStart:
				if started || i != 0 {
					t.Errorf("start at index %d (started before: %v)", i, started)
				}
				started, startTick, inTrx = true, rec.Tick, true
			case *events.TransactionCommit:
				if !started || i != len(em.recs)-1 {
					t.Errorf("commit at index %d of %d", i, len(em.recs))
				}
				committed = true
			case *events.Document:
				if started && !committed {
					inTrx = true
				}
				got = append(got, ev.Key+" "+ev.Rev)
			}
		}
		if inTrx {
			chunks++
			if !committed && em.pos.Tick != startTick-1 {
				t.Errorf("chunk position %d, want %d (before the start)", em.pos.Tick, startTick-1)
			}
		}
	}
	if !committed || chunks < 400/60 {
		t.Errorf("committed %v in %d chunks", committed, chunks)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("documents out of order or missing: %d of %d", len(got), len(want))
	}
}

// TestResumeInsideTransaction resumes from a position emitted while a large
// transaction was still open: the resumed stream reads the whole
// transaction again, start to commit, never its tail alone.
func TestResumeInsideTransaction(t *testing.T) {
	e := newEnv(t, 2)
	col, shards, id := e.collection("shop", "resume", 1, 1)
	ctx := context.Background()
	cfg := testConfig()
	cfg.MaxTxnRecords, cfg.ChunkSize, cfg.MaxRecords = 60, 1<<20, 100
	sh := shardOf("shop", "resume", id, shards[0])
	rep := newReplica()
	r := e.run(cfg, sh, rep, false, Start{Epoch: 1})
	e.waitFor("snapshot end", func() bool { p, ok := rep.lastPos(); return ok && p.Phase == PhaseTailing })
	db, _ := e.drv.Database(ctx, "shop")
	tid, err := db.BeginTransaction(ctx, driver.TransactionCollections{Write: []string{"resume"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tctx := driver.WithTransactionID(ctx, tid)
	for i := 0; i < 200; i++ {
		if _, err := col.CreateDocument(tctx, doc{Key: key(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CommitTransaction(ctx, tid, nil); err != nil {
		t.Fatal(err)
	}
	e.waitSame("shop", sh.Name, rep)
	if err := r.stopped(); err != nil {
		t.Fatal(err)
	}
	// The position of the first chunk of the transaction.
	var resume Position
	for _, em := range rep.allEmits() {
		if _, ok := em.recs[0].Event.(*events.TransactionStart); ok {
			resume = em.pos
			if resume.Tick != em.recs[0].Tick-1 {
				t.Fatalf("position %d with an open transaction, want %d (before its start)", resume.Tick, em.recs[0].Tick-1)
			}
			break
		}
	}
	if resume.Tick == 0 {
		t.Fatal("no emitted transaction start")
	}
	rep2 := newReplica()
	r2 := e.run(cfg, sh, rep2, false, Start{Epoch: 1, Leader: resume.Leader, Tick: resume.Tick, LastScanned: resume.LastScanned})
	e.waitSame("shop", sh.Name, rep2)
	if err := r2.stopped(); err != nil {
		t.Fatal(err)
	}
	if eps := r2.newEpochs(); len(eps) != 0 {
		t.Fatalf("new epochs %v", eps)
	}
	var kinds []string
	for _, em := range rep2.allEmits() {
		for _, rec := range em.recs {
			switch rec.Event.(type) {
			case *events.TransactionStart:
				kinds = append(kinds, "start")
			case *events.TransactionCommit:
				kinds = append(kinds, "commit")
			case *events.Document:
				if len(kinds) == 0 || kinds[len(kinds)-1] != "docs" {
					kinds = append(kinds, "docs")
				}
			}
		}
	}
	if strings.Join(kinds, ",") != "start,docs,commit" {
		t.Errorf("resumed stream: %v, want start,docs,commit", kinds)
	}
}
