package batcher

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/events"
)

// FuzzBatcher drives a batcher with a record stream decoded from the input
// and checks it against a model: every record emitted once, in order;
// positions chained and increasing; no batch over MaxBytes unless it holds a
// single record; a batch is cut only when it must be (MaxRecords reached with
// no transaction open, MaxBytes, or the end), never inside a transaction
// except for MaxBytes; OpenTransactions is exactly the set still open.
func FuzzBatcher(f *testing.F) {
	f.Add([]byte{2, 3, 0, 10, 1, 2, 5, 2, 9, 3, 0, 1, 5, 1, 2, 200, 2, 200, 2, 200, 4, 0, 0})
	f.Add([]byte{0, 0, 1, 2, 255, 2, 255, 2, 255, 2, 255, 3, 5, 5, 0, 1})
	f.Add([]byte{7, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(checkBatcher)
}

func checkBatcher(t *testing.T, in []byte) {
	if len(in) < 2 {
		return
	}
	cfg := Config{MaxRecords: 1 + int(in[0]%8), MaxBytes: 1024 + 256*int(in[1]%16), Linger: time.Hour}
	cfg.EnsureDefaults()
	in = in[2:]
	var recs []events.Record
	var open []string
	tick := uint64(10)
	nextTx := 0
	for i := 0; i < len(in) && len(recs) < 400; i++ {
		op := in[i] % 6
		arg := 0
		if i+1 < len(in) {
			arg = int(in[i+1])
		}
		switch op {
		case 0:
			tick++
			recs = append(recs, doc(tick, "", 20+arg*12))
			i++
		case 1:
			tick++
			nextTx++
			tid := fmt.Sprintf("t%d", nextTx)
			open = append(open, tid)
			recs = append(recs, start(tick, tid))
		case 2:
			if len(open) > 0 {
				tick++
				recs = append(recs, doc(tick, open[arg%len(open)], 20+arg*12))
				i++
			}
		case 3, 4:
			if len(open) > 0 {
				tick++
				k := arg % len(open)
				if op == 3 {
					recs = append(recs, commit(tick, open[k]))
				} else {
					recs = append(recs, abort(tick, open[k]))
				}
				open = slices.Delete(open, k, k+1)
				i++
			}
		case 5:
			recs = append(recs, hb(tick+5))
		}
	}
	st := Stream{Sync: "s", Shard: shard, Leader: "L", Epoch: 3}
	c := &collector{}
	b, err := New(cfg, st, c.emit)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- b.Run(context.Background()) }()
	for _, r := range recs {
		if err := b.Add(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	b.Close()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	outs := c.get()
	checkStream(t, st, cfg, outs)

	// The model: replay the records, tracking open transactions.
	var modelOpen []string
	step := func(r events.Record) {
		switch e := r.Event.(type) {
		case *events.TransactionStart:
			modelOpen = append(modelOpen, e.TID)
		case *events.TransactionCommit:
			modelOpen = slices.DeleteFunc(modelOpen, func(s string) bool { return s == e.TID })
		case *events.TransactionAbort:
			modelOpen = slices.DeleteFunc(modelOpen, func(s string) bool { return s == e.TID })
		}
	}
	i := 0
	for bi, o := range outs {
		last := bi == len(outs)-1
		bytes := headerSize(st)
		for k, r := range o.Batch.Records {
			if i >= len(recs) || r.Event != recs[i].Event {
				t.Fatalf("batch %d record %d is not input record %d", bi, k, i)
			}
			step(r)
			bytes += Size(r)
			i++
			if k+1 >= cfg.MaxRecords && k+1 < len(o.Batch.Records) && len(modelOpen) == 0 {
				t.Fatalf("batch %d not cut after %d records with no transaction open", bi, k+1)
			}
		}
		if fmt.Sprint(o.OpenTransactions) != fmt.Sprint(modelOpen) && (len(o.OpenTransactions) != 0 || len(modelOpen) != 0) {
			t.Fatalf("batch %d: open %v, model %v", bi, o.OpenTransactions, modelOpen)
		}
		if last {
			continue
		}
		// Why was it cut?
		next := Size(recs[i])
		bytesCut := bytes+next > cfg.MaxBytes || bytes >= cfg.MaxBytes
		recordsCut := len(o.Batch.Records) >= cfg.MaxRecords && len(modelOpen) == 0
		_, snapEnd := o.Batch.Records[len(o.Batch.Records)-1].Event.(*events.SnapshotEnd)
		if !bytesCut && !recordsCut && !snapEnd {
			t.Fatalf("batch %d (%d records, %d bytes, open %v) cut without reason", bi, len(o.Batch.Records), bytes, modelOpen)
		}
	}
	if i != len(recs) {
		t.Fatalf("emitted %d of %d records", i, len(recs))
	}
}
