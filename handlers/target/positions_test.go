package target

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/failure"
	"github.com/dc2dc/dc2dc/tests/arangosim"
)

func TestPositionsSaveLoadMonotonic(t *testing.T) {
	c := startSim(t, arangosim.Config{})
	conn := dialSim(t, c)
	ctx := context.Background()
	at := time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)
	p := NewPositions(conn, func() time.Time { return at })
	shard := events.ShardRef{Database: "shop", CollectionID: "8010045", Index: 2}
	if _, ok, err := p.Load(ctx, "a-to-b", shard); err != nil || ok {
		t.Fatalf("Load before anything (no collection yet) = %v, %v", ok, err)
	}
	rec := Record{Sync: "a-to-b", Shard: shard, Pos: events.Position{Epoch: 3, Tick: 1<<62 + 5, Sub: 1}, Leader: "PRMR-x", Partition: 7, Offset: 42}
	if err := p.Save(ctx, rec); err != nil {
		t.Fatalf("first Save (creates _dc2dc): %v", err)
	}
	got, ok, err := NewPositions(conn, nil).Load(ctx, "a-to-b", shard)
	rec.UpdatedAt = at
	if err != nil || !ok || got != rec {
		t.Fatalf("Load = %+v, %v, %v; want %+v", got, ok, err, rec)
	}
	// Forward moves succeed; the same position again succeeds (new offset).
	rec.Pos.Tick++
	if err := p.Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	rec.Offset = 43
	if err := p.Save(ctx, rec); err != nil {
		t.Fatalf("Save of the same position: %v", err)
	}
	// A stale writer (another process that read an older rev) loses.
	q := NewPositions(conn, nil)
	old := rec
	old.Pos.Tick -= 2
	err = q.Save(ctx, old)
	var se *StaleError
	if !errors.As(err, &se) || !errors.Is(err, ErrStale) || !failure.IsPermanent(err) || failure.CodeOf(err) != failure.CodeSyncFenced {
		t.Fatalf("stale Save = %v, want a permanent *StaleError", err)
	}
	if se.Stored != rec.Pos {
		t.Fatalf("StaleError.Stored = %s, want %s", se.Stored, rec.Pos)
	}
	// A writer with a cached, outdated _rev re-reads and wins when ahead.
	newer := rec
	newer.Pos = events.Position{Epoch: 4}
	if err := q.Save(ctx, newer); err != nil {
		t.Fatalf("newer epoch Save: %v", err)
	}
	rec.Pos.Tick += 100 // ahead in epoch 3, but epoch 4 is stored: stale, although p's cached rev is outdated
	if err := p.Save(ctx, rec); !errors.Is(err, ErrStale) {
		t.Fatalf("Save behind a newer epoch = %v, want ErrStale", err)
	}
	if err := p.Delete(ctx, "a-to-b", shard); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := p.Load(ctx, "a-to-b", shard); err != nil || ok {
		t.Fatalf("after Delete: %v, %v", ok, err)
	}
}

// TestPositionsConcurrentWritersStayMonotonic races writers with increasing
// positions: the stored position never goes back and the highest wins.
func TestPositionsConcurrentWritersStayMonotonic(t *testing.T) {
	c := startSim(t, arangosim.Config{})
	conn := dialSim(t, c)
	ctx := context.Background()
	shard := events.ShardRef{Database: "db", CollectionID: "1", Index: 0}
	if err := NewPositions(conn, nil).Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			p := NewPositions(conn, nil)
			for i := 1; i <= 25; i++ {
				err := p.Save(ctx, Record{Sync: "s", Shard: shard, Pos: events.Position{Epoch: 1, Tick: uint64(i*4 + w)}})
				if err != nil && !errors.Is(err, ErrStale) && !failure.IsRetryable(err) {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	got, ok, err := NewPositions(conn, nil).Load(ctx, "s", shard)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	// The last Save of writer 3 is tick 103; every other final write is lower
	// and loses against it, so 103 must be stored unless writer 3's last
	// Save lost a CAS race five times in a row (then something higher is
	// impossible, and a lower one means a regression).
	if got.Pos.Tick != 103 {
		t.Logf("stored tick %d (writer 3's final save lost its CAS retries)", got.Pos.Tick)
		if got.Pos.Tick < 100 {
			t.Fatalf("stored tick %d went back below the writers' final positions", got.Pos.Tick)
		}
	}
}

func TestPositionKey(t *testing.T) {
	k := PositionKey("a-to-b", events.ShardRef{Database: "shop", CollectionID: "8010045", Index: 1})
	if k != "pos:a-to-b:shop:8010045:1" {
		t.Fatalf("key = %q", k)
	}
	k = PositionKey("x/y z:", events.ShardRef{Database: "Ünï", CollectionID: "1", Index: 0})
	if k != "pos:x%2Fy%20z%3A:%C3%9Cn%C3%AF:1:0" {
		t.Fatalf("escaped key = %q", k)
	}
	long := PositionKey(string(make([]byte, 300)), events.ShardRef{Database: "d", CollectionID: "1"})
	if len(long) != 4+64 {
		t.Fatalf("long key = %q", long)
	}
}

func TestCheckRules(t *testing.T) {
	p := func(e, t uint64, s uint32) events.Position { return events.Position{Epoch: e, Tick: t, Sub: s} }
	shard := events.ShardRef{Database: "d", CollectionID: "1"}
	cases := []struct {
		name               string
		applied, prev, pos events.Position
		want               Outcome
		gap                bool
	}{
		{"replay", p(1, 100, 0), p(1, 50, 0), p(1, 100, 0), Skipped, false},
		{"older replay", p(1, 100, 0), p(1, 10, 0), p(1, 50, 0), Skipped, false},
		{"continuation", p(1, 100, 0), p(1, 100, 0), p(1, 150, 0), Applied, false},
		{"straddles", p(1, 100, 0), p(1, 80, 0), p(1, 150, 0), Applied, false},
		{"gap", p(1, 100, 0), p(1, 120, 0), p(1, 150, 0), 0, true},
		{"first ever", p(0, 0, 0), p(1, 0, 0), p(1, 0, 1), Applied, false},
		{"first ever mid-stream", p(0, 0, 0), p(1, 5, 0), p(1, 9, 0), 0, true},
		{"new epoch start", p(1, 900, 0), p(2, 0, 0), p(2, 0, 1), Applied, false},
		{"new epoch mid-stream", p(1, 900, 0), p(2, 0, 3), p(2, 0, 4), 0, true},
		{"older epoch", p(2, 0, 1), p(1, 900, 0), p(1, 950, 0), Skipped, false},
		{"snapshot chunks", p(2, 0, 1), p(2, 0, 1), p(2, 0, 2), Applied, false},
		{"snapshot end", p(2, 0, 9), p(2, 0, 9), p(2, 777, 0), Applied, false},
	}
	for _, c := range cases {
		got, err := Check(shard, c.applied, c.prev, c.pos)
		var re *ResyncError
		var ge *GapError
		if c.gap {
			if !errors.As(err, &re) || re.Reason != ReasonGap || !errors.As(err, &ge) || failure.CodeOf(err) != failure.CodeStreamGap {
				t.Errorf("%s: got %v, %v; want a gap", c.name, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: got %v, %v; want %v", c.name, got, err, c.want)
		}
	}
}

func TestReceiverGapAndStale(t *testing.T) {
	_, conn := setupShop(t)
	ctx := context.Background()
	s := newStream(shopShard, 1)
	b1 := s.batch(docEvent("a", 1, ""))
	s.batch(docEvent("lost", 2, ""))
	b3 := s.batch(docEvent("c", 3, ""))
	r := NewReceiver("a-to-b", newTestApplier(t, conn, Config{}), NewPositions(conn, nil))
	if _, err := r.Receive(ctx, b1, 0, 1); err != nil {
		t.Fatal(err)
	}
	_, err := r.Receive(ctx, b3, 0, 3)
	var ge *GapError
	if !errors.As(err, &ge) || ge.Applied != b1.Pos {
		t.Fatalf("gap: %v", err)
	}
	// Another worker moved further; this one's next save is stale.
	other := NewPositions(conn, nil)
	if err := other.Save(ctx, Record{Sync: "a-to-b", Shard: shopShard, Pos: events.Position{Epoch: 2}}); err != nil {
		t.Fatal(err)
	}
	b2 := &events.Batch{Shard: shopShard, Prev: b1.Pos, Pos: events.Position{Epoch: 1, Tick: b1.Pos.Tick + 1}, Records: []events.Record{{Tick: b1.Pos.Tick + 1, Event: docEvent("b", 2, "")}}}
	if _, err := r.Receive(ctx, b2, 0, 2); !errors.Is(err, ErrStale) {
		t.Fatalf("stale receiver: %v", err)
	}
}

// TestReceiverStalledWorkerDoesNotWriteOver: a worker stalls (SIGSTOP, a
// long pause) past the Kafka session timeout; another takes the shard over
// and applies newer versions. When the first wakes up with a batch it
// fetched before, it must not apply it over them: it reads B's record again
// first (it wrote none for longer than RecheckAfter) and skips the batch.
func TestReceiverStalledWorkerDoesNotWriteOver(t *testing.T) {
	c, conn := setupShop(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { return at }
	s := newStream(shopShard, 1)
	b1 := s.batch(docEvent("k", 1, ""))
	b2 := s.batch(docEvent("k", 2, ""))
	b3 := s.batch(docEvent("k", 3, ""))
	stalled := NewReceiver("a-to-b", newTestApplier(t, conn, Config{}), NewPositions(conn, clock))
	if out, err := stalled.Receive(ctx, b1, 0, 1); err != nil || out != Applied {
		t.Fatalf("b1: %v, %v", out, err)
	}
	// Within RecheckAfter nothing is read again: the next batch is applied
	// from memory. (Here: b2, later taken back below by the takeover.)
	takeover := NewReceiver("a-to-b", newTestApplier(t, conn, Config{}), NewPositions(conn, nil))
	for i, b := range []*events.Batch{b2, b3} {
		if out, err := takeover.Receive(ctx, b, 0, int64(i+2)); err != nil || out != Applied {
			t.Fatalf("takeover, batch %d: %v, %v", i+2, out, err)
		}
	}
	at = at.Add(DefaultRecheckAfter + time.Second) // the stall
	out, err := stalled.Receive(ctx, b2, 0, 2)
	if err != nil || out != Skipped {
		t.Fatalf("the stalled worker's old batch after the takeover: %v, %v; want skipped", out, err)
	}
	if stalled.Reloads() != 1 || stalled.Applied() != b3.Pos {
		t.Fatalf("after the stall: %d reloads, applied %s; want 1 and %s", stalled.Reloads(), stalled.Applied(), b3.Pos)
	}
	if got := contents(t, c, "shop", "orders")["k"]; !strings.Contains(got, `"n":3`) {
		t.Fatalf("k in B = %s, want the takeover's version 3", got)
	}
	// Without a stall, a worker does not read again: b1's replay is
	// skipped from memory and nothing is counted.
	if out, err := takeover.Receive(ctx, b1, 0, 1); err != nil || out != Skipped || takeover.Reloads() != 0 {
		t.Fatalf("replay at the live worker: %v, %v, %d reloads", out, err, takeover.Reloads())
	}
}

// TestReceiverGapClosedByAnotherWorker: the shard's partition went to
// another worker for a moment (less than RecheckAfter) and came back; the
// next batch continues the other worker's position, not this one's memory.
// It is applied, not taken for a gap (which would resynchronise the shard).
func TestReceiverGapClosedByAnotherWorker(t *testing.T) {
	_, conn := setupShop(t)
	ctx := context.Background()
	s := newStream(shopShard, 1)
	b1, b2, b3 := s.batch(docEvent("a", 1, "")), s.batch(docEvent("b", 2, "")), s.batch(docEvent("c", 3, ""))
	r := NewReceiver("a-to-b", newTestApplier(t, conn, Config{}), NewPositions(conn, nil))
	if _, err := r.Receive(ctx, b1, 0, 1); err != nil {
		t.Fatal(err)
	}
	other := NewReceiver("a-to-b", newTestApplier(t, conn, Config{}), NewPositions(conn, nil))
	if out, err := other.Receive(ctx, b2, 0, 2); err != nil || out != Applied {
		t.Fatalf("other worker: %v %v", out, err)
	}
	if out, err := r.Receive(ctx, b3, 0, 3); err != nil || out != Applied || r.Reloads() != 1 {
		t.Fatalf("back at the first worker: %v, %v, %d reloads; want applied after one reload", out, err, r.Reloads())
	}
}

// TestWithAuthentication runs apply and positions against a cluster with a
// JWT secret: the superuser JWT made from it is accepted, a wrong secret is
// a permanent CodeArangoAuth error.
func TestWithAuthentication(t *testing.T) {
	c := startSim(t, arangosim.Config{JWTSecret: "s3cret"})
	conn, err := Dial(ConnConfig{Endpoints: []string{c.Endpoint()}, JWTSecret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	createDB(t, conn, "shop")
	createColl(t, conn, "shop", "orders", 2)
	r := NewReceiver("s", newTestApplier(t, conn, Config{}), NewPositions(conn, nil))
	if _, err := r.Receive(context.Background(), newStream(shopShard, 1).batch(docEvent("a", 1, "")), 0, 0); err != nil {
		t.Fatalf("Receive with the superuser JWT: %v", err)
	}
	bad, err := Dial(ConnConfig{Endpoints: []string{c.Endpoint()}, JWTSecret: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	err = newTestApplier(t, bad, Config{}).Apply(context.Background(), newStream(shopShard, 1).batch(docEvent("b", 2, "")))
	if failure.CodeOf(err) != failure.CodeArangoAuth || !failure.IsPermanent(err) {
		t.Fatalf("wrong secret: %v", err)
	}
}

func TestReceiverTruncateThenNewEpochAndDrop(t *testing.T) {
	c, conn := setupShop(t)
	ctx := context.Background()
	r := NewReceiver("a-to-b", newTestApplier(t, conn, Config{}), NewPositions(conn, nil))
	s := newStream(shopShard, 1)
	b1 := s.batch(docEvent("a", 1, ""))
	trunc := s.batch(docEvent("b", 2, ""), &events.CollectionTruncate{})
	after := s.batch(docEvent("c", 3, ""))
	if _, err := r.Receive(ctx, b1, 0, 1); err != nil {
		t.Fatal(err)
	}
	_, err := r.Receive(ctx, trunc, 0, 2)
	var re *ResyncError
	if !errors.As(err, &re) || re.Reason != ReasonTruncate {
		t.Fatalf("truncate: %v", err)
	}
	// Until the new epoch arrives the stream has a gap.
	if _, err := r.Receive(ctx, after, 0, 3); !errors.As(err, &re) || re.Reason != ReasonGap {
		t.Fatalf("after the truncate: %v", err)
	}
	s2 := newStream(shopShard, 2)
	if out, err := r.Receive(ctx, s2.batch(&events.SnapshotRemove{Keys: []events.KeyRev{{Key: "a"}, {Key: "b"}}}), 0, 4); err != nil || out != Applied {
		t.Fatalf("new epoch: %v, %v", out, err)
	}
	out, err := r.Receive(ctx, s2.batch(docEvent("d", 4, ""), &events.CollectionDrop{}, docEvent("e", 5, "")), 0, 5)
	if out != Applied || !errors.Is(err, ErrStreamEnded) {
		t.Fatalf("drop: %v, %v", out, err)
	}
	if got := contents(t, c, "shop", "orders"); len(got) != 1 || got["d"] == "" {
		t.Fatalf("B holds %v, want d", sortedKeys(got))
	}
	if r.Last().Pos != r.Applied() || r.Last().Offset != 6 {
		t.Fatalf("after the drop: last %+v, applied %s", r.Last(), r.Applied())
	}
}
