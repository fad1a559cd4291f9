package target

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/dc2dc/dc2dc/events"
)

// TestSnapshotThenTailAndNewEpoch runs a shard through an initial snapshot,
// tailing with an open transaction, and a new epoch (resync) that drops the
// old epoch's unfinished transaction and repairs B with a revision snapshot.
func TestSnapshotThenTailAndNewEpoch(t *testing.T) {
	c, conn := setupShop(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	m, err := NewMetrics(mp)
	if err != nil {
		t.Fatal(err)
	}
	a := newTestApplier(t, conn, Config{Metrics: m})
	r := NewReceiver("a-to-b", a, NewPositions(conn, nil))
	ctx := context.Background()

	// Epoch 1: snapshot chunks at tick 0 (sub = chunk number), then the WAL.
	e1 := events.Position{Epoch: 1}
	var chunk1, chunk2 []json.RawMessage
	for i := 1; i <= 10; i++ {
		d := json.RawMessage(fmt.Sprintf(`{"_key":"s%d","_rev":%q}`, i, rev(uint64(i))))
		if i <= 5 {
			chunk1 = append(chunk1, d)
		} else {
			chunk2 = append(chunk2, d)
		}
	}
	batches := []*events.Batch{
		{Shard: shopShard, Prev: e1, Pos: events.Position{Epoch: 1, Sub: 1}, Records: []events.Record{
			{Event: &events.SnapshotBegin{SnapshotTick: 100, Mode: events.SnapshotFull}}, {Event: &events.SnapshotDocuments{Docs: chunk1}}}},
		{Shard: shopShard, Prev: events.Position{Epoch: 1, Sub: 1}, Pos: events.Position{Epoch: 1, Sub: 2}, Records: []events.Record{
			{Event: &events.SnapshotDocuments{Docs: chunk2}}}},
		{Shard: shopShard, Prev: events.Position{Epoch: 1, Sub: 2}, Pos: events.Position{Epoch: 1, Tick: 100}, Records: []events.Record{
			{Tick: 100, Event: &events.SnapshotEnd{SnapshotTick: 100, Documents: 10}}}},
		{Shard: shopShard, Prev: events.Position{Epoch: 1, Tick: 100}, Pos: events.Position{Epoch: 1, Tick: 103}, Records: []events.Record{
			{Tick: 101, Event: &events.Remove{Key: "s1"}},
			{Tick: 102, Event: &events.TransactionStart{TID: "7"}},
			{Tick: 103, Event: tdoc("7", "lost", 50)}}},
	}
	for _, b := range batches {
		if out, err := r.Receive(ctx, b, 0, 0); err != nil || out != Applied {
			t.Fatalf("Receive %s: %v, %v", b.Pos, out, err)
		}
	}
	if !a.Pending() {
		t.Fatal("transaction 7 should be pending")
	}
	// Epoch 2 (say the leader failed over before committing 7): a revision
	// snapshot sends what B lacks and removes what A no longer has.
	e2 := []*events.Batch{
		{Shard: shopShard, Prev: events.Position{Epoch: 2}, Pos: events.Position{Epoch: 2, Sub: 1}, Records: []events.Record{
			{Event: &events.SnapshotBegin{SnapshotTick: 9, Mode: events.SnapshotRevisions}},
			{Event: &events.SnapshotDocuments{Docs: []json.RawMessage{json.RawMessage(fmt.Sprintf(`{"_key":"s2","_rev":%q,"v":2}`, rev(60)))}}},
			{Event: &events.SnapshotRemove{Keys: []events.KeyRev{{Key: "s3", Rev: rev(3)}}}}}},
		{Shard: shopShard, Prev: events.Position{Epoch: 2, Sub: 1}, Pos: events.Position{Epoch: 2, Tick: 9}, Records: []events.Record{
			{Tick: 9, Event: &events.SnapshotEnd{SnapshotTick: 9}}}},
	}
	for _, b := range e2 {
		if out, err := r.Receive(ctx, b, 1, 0); err != nil || out != Applied {
			t.Fatalf("Receive %s: %v, %v", b.Pos, out, err)
		}
	}
	if a.Pending() {
		t.Fatal("the old epoch's transaction is still pending")
	}
	// A late batch of epoch 1 (the old sender still running) is skipped.
	late := &events.Batch{Shard: shopShard, Prev: events.Position{Epoch: 1, Tick: 103}, Pos: events.Position{Epoch: 1, Tick: 104},
		Records: []events.Record{{Tick: 104, Event: &events.TransactionCommit{TID: "7"}}}}
	if out, err := r.Receive(ctx, late, 0, 0); err != nil || out != Skipped {
		t.Fatalf("late epoch-1 batch: %v, %v", out, err)
	}
	got := contents(t, c, "shop", "orders")
	if len(got) != 8 || got["s1"] != "" || got["s3"] != "" || got["lost"] != "" || got["s2"] == "" {
		t.Fatalf("B holds %v", sortedKeys(got))
	}
	rec, _, err := r.pos.Load(ctx, "a-to-b", shopShard)
	if err != nil || rec.Pos != (events.Position{Epoch: 2, Tick: 9}) || rec.Partition != 1 {
		t.Fatalf("record %+v, %v", rec, err)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	sums := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			switch d := mt.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					sums[mt.Name] += p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					sums[mt.Name] += int64(p.Count)
				}
			}
		}
	}
	if sums[MetricWrites] != 10+1+1+1 || sums[MetricApplyDuration] != 6 || sums[MetricBufferedBytes] != 0 || sums[MetricWrittenBytes] == 0 {
		t.Fatalf("metrics %v", sums)
	}
}
