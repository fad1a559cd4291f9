package conformance

import (
	"errors"
	"testing"

	"github.com/dc2dc/dc2dc/handlers/arango/wal"
	"github.com/dc2dc/dc2dc/handlers/source"
)

// epochEnd waits for the source to return and checks it ended its epoch
// for reason, naming leader as the next epoch's leader.
func epochEnd(t *testing.T, r *running, reason, oldLeader, leader string) {
	t.Helper()
	err := r.wait(t)
	var ne *source.NewEpochError
	if !errors.As(err, &ne) || !errors.Is(err, source.ErrNewEpoch) {
		t.Fatalf("Run = %v, want a *NewEpochError (%s)", err, reason)
	}
	if ne.Reason != reason || ne.Leader != leader || ne.OldLeader != oldLeader {
		t.Fatalf("new epoch: reason %q, leader %s → %s; want %q, %s → %s", ne.Reason, ne.OldLeader, ne.Leader, reason, oldLeader, leader)
	}
	t.Logf("new epoch: %v", err)
}

// testFaultLeaderMove: moving a shard's leader onto its follower ends the
// source's epoch with the new-epoch outcome naming the new leader.
func testFaultLeaderMove(t *testing.T, e *env) {
	f := e.needFaults()
	dbName, db := e.database()
	col, c := e.collection(db, "orders", 1, 2)
	insertDocs(t, e.ctx, col, 0, 50)
	s := c.Shards[0]
	r := e.startSource(dbName, c, s, source.Start{Epoch: 1}, e.watcher())
	e.waitFor("the snapshot of "+s.Name, func() (bool, string) { return r.sink.snapshotEnded(), "no SnapshotEnd yet" })
	if err := f.MoveShard(dbName, "orders", s.Name, s.Leader, s.Followers[0]); err != nil {
		t.Fatal(err)
	}
	insertDocs(t, e.ctx, col, 50, 5)
	epochEnd(t, r, source.ReasonFailover, s.Leader, s.Followers[0])
}

// testFaultServerStop: stopping a shard's leader fails the shard over to its
// follower; the source ends its epoch naming it.
func testFaultServerStop(t *testing.T, e *env) {
	f := e.needFaults()
	dbName, db := e.database()
	col, c := e.collection(db, "orders", 1, 2)
	insertDocs(t, e.ctx, col, 0, 50)
	s := c.Shards[0]
	r := e.startSource(dbName, c, s, source.Start{Epoch: 1}, e.watcher())
	e.waitFor("the snapshot of "+s.Name, func() (bool, string) { return r.sink.snapshotEnded(), "no SnapshotEnd yet" })
	if err := f.StopServer(s.Leader); err != nil {
		t.Fatal(err)
	}
	insertDocs(t, e.ctx, col, 50, 5)
	epochEnd(t, r, source.ReasonFailover, s.Leader, s.Followers[0])
}

// testFaultPrunedWAL: a WAL pruned past the position answers
// frompresent=false: the Tailer reports the start tick missing (1414) and
// the source ends its epoch on the same leader.
func testFaultPrunedWAL(t *testing.T, e *env) {
	f := e.needFaults()
	dbName, db := e.database()
	col, c := e.collection(db, "orders", 1, 1)
	s := c.Shards[0]
	leader := e.dbserver(s.Leader)
	from := e.lastTick(leader, dbName)
	insertDocs(t, e.ctx, col, 0, 20)
	upTo := e.lastTick(leader, dbName)
	if err := f.PruneWAL(s.Leader, upTo); err != nil {
		t.Fatal(err)
	}
	tl := &wal.Tailer{DBServer: leader, Database: dbName, Shard: s.Name, From: from}
	if _, _, err := tl.Next(e.ctx); !errors.Is(err, wal.ErrStartTickNotPresent) {
		t.Fatalf("Next from %d after pruning up to %d: %v, want ErrStartTickNotPresent", from, upTo, err)
	}
	if tl.From != from {
		t.Errorf("the position moved on an error: %d → %d", from, tl.From)
	}
	r := e.startSource(dbName, c, s, source.Start{Epoch: 1, Tick: from}, e.watcher())
	epochEnd(t, r, source.ReasonPruned, s.Leader, s.Leader)
}
