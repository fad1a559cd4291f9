package batcher

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/events"
)

// benchmarkBatcher pushes b.N 1 KiB documents through a batcher; emit is
// what happens to each batch. Reports records/s and (via SetBytes) MB/s of
// document bytes.
func benchmarkBatcher(b *testing.B, emit Emit) {
	body := json.RawMessage(`{"_key":"k","v":"` + strings.Repeat("x", 1024-17-2) + `"}`)
	recs := make([]events.Record, 4096)
	for i := range recs {
		recs[i] = events.Record{Event: &events.Document{Key: "k", Rev: "_r", Doc: body}}
	}
	bt, err := New(Config{Linger: time.Millisecond}, Stream{Sync: "s", Shard: shard, Epoch: 1}, emit)
	if err != nil {
		b.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- bt.Run(context.Background()) }()
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		r := recs[i%len(recs)]
		r.Tick = uint64(i + 1)
		if err := bt.Add(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	bt.Close()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}

// BenchmarkBatcher: batching alone (Emit discards).
func BenchmarkBatcher(b *testing.B) {
	benchmarkBatcher(b, func(context.Context, Out) error { return nil })
}

// BenchmarkBatcherEncode: batching plus events.Encode and Out.Metadata, the
// whole producer-side CPU work before Publish.
func BenchmarkBatcherEncode(b *testing.B) {
	benchmarkBatcher(b, func(_ context.Context, o Out) error {
		_ = o.Metadata()
		_, err := events.Encode(o.Batch)
		return err
	})
}
