package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/arango/verify"
	"github.com/dc2dc/dc2dc/handlers/source"
	"github.com/dc2dc/dc2dc/handlers/target"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// fixedResolver maps every shard to one collection name.
type fixedResolver string

func (r fixedResolver) Collection(context.Context, events.ShardRef) (string, error) {
	return string(r), nil
}

// batches turns a source's emits into the batches a sender publishes:
// snapshot chunks at tick 0 with Sub 1, 2, …; the batch with SnapshotEnd at
// the snapshot tick; WAL batches at their last tick; each Prev the Pos
// before.
func batches(sync string, ref events.ShardRef, leader string, ems []emitted) []*events.Batch {
	var out []*events.Batch
	prev := events.Position{Epoch: 1}
	var sub uint32
	for _, em := range ems {
		pos := events.Position{Epoch: em.pos.Epoch}
		var maxTick, first uint64
		var end *events.SnapshotEnd
		for _, r := range em.recs {
			if first == 0 && r.Tick > 0 {
				first = r.Tick
			}
			maxTick = max(maxTick, r.Tick)
			if x, ok := r.Event.(*events.SnapshotEnd); ok {
				end = x
			}
		}
		switch {
		case end != nil:
			pos.Tick = max(end.SnapshotTick, maxTick)
		case maxTick == 0:
			sub++
			pos.Sub = sub
		default:
			pos.Tick = maxTick
		}
		out = append(out, &events.Batch{Sync: sync, Shard: ref, Leader: leader, Pos: pos, Prev: prev, FirstTick: first,
			SentAt: time.Now(), Records: em.recs})
		prev = pos
	}
	return out
}

// replicate runs a source on every shard of A's collection (made by
// insertDocs(0, 300) and then changed by changeDocs) until its records
// reproduce the shard, and returns each shard's emits.
func (e *env) replicate(dbName string, c *client.Collection, change func()) [][]emitted {
	e.t.Helper()
	runs := make([]*running, len(c.Shards))
	for i, s := range c.Shards {
		runs[i] = e.startSource(dbName, c, s, source.Start{Epoch: 1}, nil)
	}
	for i, s := range c.Shards {
		e.waitFor("the snapshot of "+s.Name, func() (bool, string) { return runs[i].sink.snapshotEnded(), "no SnapshotEnd yet" })
	}
	change()
	out := make([][]emitted, len(c.Shards))
	for i, s := range c.Shards {
		e.waitFor("the records to reproduce "+s.Name, func() (bool, string) {
			d := sameDocs(e.dumpShard(dbName, s.Name, s.Leader), runs[i].sink.state())
			return d == "", "dump vs records: " + d
		})
		if err := runs[i].stop(); !isCanceled(err) {
			e.t.Fatalf("source of %s: %v", s.Name, err)
		}
		out[i] = runs[i].sink.all()
	}
	return out
}

// testTarget: the records of every shard of A, applied to B through
// Receiver and Positions, give equal shards (verify: 0 differences);
// replaying the applied suffix, through a Receiver (skipped) and straight
// through an Applier (idempotent), changes nothing.
func testTarget(t *testing.T, e *env) {
	bc := e.needB()
	dbName, db := e.database()
	col, c := e.collection(db, "orders", 3, 2)
	insertDocs(t, e.ctx, col, 0, 300)
	emits := e.replicate(dbName, c, func() { changeDocs(t, e, db, col) })

	// Structure in B: the database and the collection from A's definition.
	connB := conn(t, bc)
	st := target.NewStructure(connB, connB.Client())
	if err := st.CreateDatabase(e.ctx, dbName, target.DatabaseOptions{}); err != nil {
		t.Fatalf("creating %s in B: %v", dbName, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := st.DropDatabase(ctx, dbName); err != nil {
			t.Errorf("dropping %s in B: %v", dbName, err)
		}
	})
	if err := st.CreateCollection(e.ctx, dbName, c.Parameters); err != nil {
		t.Fatalf("creating orders in B: %v", err)
	}
	positions := target.NewPositions(connB, nil)
	if err := positions.Ensure(e.ctx); err != nil {
		t.Fatal(err)
	}
	sync := "conformance-" + randomID()
	all := make([][]*events.Batch, len(c.Shards))
	for i, s := range c.Shards {
		ref := events.ShardRef{Database: dbName, CollectionID: c.ID, Index: s.Index}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := positions.Delete(ctx, sync, ref); err != nil {
				t.Errorf("deleting the position of %s in B: %v", ref, err)
			}
		})
		bs := batches(sync, ref, s.Leader, emits[i])
		all[i] = bs
		a, err := target.NewApplier(connB, fixedResolver("orders"), ref, target.Config{})
		if err != nil {
			t.Fatal(err)
		}
		rcv := target.NewReceiver(sync, a, positions)
		if _, ok, err := rcv.Start(e.ctx); err != nil || ok {
			t.Fatalf("shard %d: Start = %v, %v; want no position yet", i, ok, err)
		}
		for j, b := range bs {
			out, err := rcv.Receive(e.ctx, b, 0, int64(j))
			if err != nil || out != target.Applied {
				t.Fatalf("shard %d batch %d (%s): %v, %v", i, j, b.Pos, out, err)
			}
		}
		last := bs[len(bs)-1].Pos
		if rcv.Applied() != last || rcv.Last().Pos != last {
			t.Errorf("shard %d: applied %s, recorded %s, want %s", i, rcv.Applied(), rcv.Last().Pos, last)
		}
	}
	A, B := verifyCluster(t, e.c), verifyCluster(t, bc)
	compareAll := func(when string) {
		t.Helper()
		for k := range c.Shards {
			rep, err := verify.CompareShards(e.ctx, A, B, dbName, "orders", "orders", k, verify.Config{})
			if err != nil {
				t.Fatalf("%s: verify shard %d: %v", when, k, err)
			}
			if !rep.Equal || len(rep.Differences) != 0 || rep.A.Count != rep.B.Count || rep.A.Count == 0 {
				t.Errorf("%s: shard %d differs: A %+v B %+v, %d differences %v", when, k, rep.A, rep.B, len(rep.Differences), rep.Differences)
			}
		}
	}
	compareAll("after apply")

	// Replay the second half of every stream: a Receiver that starts from
	// B's recorded position skips it; an Applier applies it again, which
	// changes nothing.
	for i, bs := range all {
		ref := bs[0].Shard
		a, err := target.NewApplier(connB, fixedResolver("orders"), ref, target.Config{})
		if err != nil {
			t.Fatal(err)
		}
		rcv := target.NewReceiver(sync, a, positions)
		rec, ok, err := rcv.Start(e.ctx)
		if err != nil || !ok || rec.Pos != bs[len(bs)-1].Pos {
			t.Fatalf("shard %d: Start = %+v, %v, %v; want position %s", i, rec, ok, err, bs[len(bs)-1].Pos)
		}
		for j := len(bs) / 2; j < len(bs); j++ {
			out, err := rcv.Receive(e.ctx, bs[j], 0, int64(j))
			if err != nil || out != target.Skipped {
				t.Fatalf("shard %d replay of batch %d: %v, %v; want Skipped", i, j, out, err)
			}
		}
		raw, err := target.NewApplier(connB, fixedResolver("orders"), ref, target.Config{})
		if err != nil {
			t.Fatal(err)
		}
		for j := len(bs) / 2; j < len(bs); j++ {
			if err := raw.Apply(e.ctx, bs[j]); err != nil {
				t.Fatalf("shard %d: applying batch %d again: %v", i, j, err)
			}
		}
	}
	compareAll("after the replay")
}

// testTargetMissingDatabase: writing into a database B lacks is the clear
// structure-missing error, retryable (the master may still create it).
func testTargetMissingDatabase(t *testing.T, e *env) {
	bc := e.needB()
	missing := "dc2dc_conformance_missing_" + randomID()
	ref := events.ShardRef{Database: missing, CollectionID: "1", Index: 0}
	a, err := target.NewApplier(conn(t, bc), fixedResolver("orders"), ref, target.Config{})
	if err != nil {
		t.Fatal(err)
	}
	d := json.RawMessage(`{"_key":"a","_rev":"_kZ1ZW8K---","n":1}`)
	b := &events.Batch{Shard: ref, Prev: events.Position{Epoch: 1}, Pos: events.Position{Epoch: 1, Tick: 5}, FirstTick: 5,
		Records: []events.Record{{Tick: 5, Event: &events.Document{Key: "a", Rev: "_kZ1ZW8K---", Doc: d}}}}
	err = a.Apply(e.ctx, b)
	var sm *target.StructureMissingError
	if !errors.As(err, &sm) || sm.Database != missing || !failure.IsRetryable(err) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("apply into a missing database: %v (%T), want a retryable *StructureMissingError naming %s", err, err, missing)
	}
	t.Logf("missing database: %v", err)
}
