package store

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
)

// Benchmarks of the checkpoint paths. Each op is one checkpoint write (one
// shard) unless said otherwise; "records/s" is reported where a write holds
// several records. Run: go test -run '^$' -bench . ./store/

func benchShards(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("db%d/%d/%d", i%4, 1000+i/8, i%8)
	}
	return out
}

// BenchmarkPutSync: one synced Put per batch of events, one writer.
func BenchmarkPutSync(b *testing.B) {
	s := openTest(b, Config{})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := s.Put(src("db/1/0", 1, uint64(i))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutSyncParallel: synced Puts of distinct shards from 16 and 128
// writers (many shards checkpointing at once); Pebble's commit pipeline
// shares fsyncs between concurrent commits.
func BenchmarkPutSyncParallel(b *testing.B) {
	for _, writers := range []int{16, 128} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := openTest(b, Config{})
			runParallelWriters(b, writers, func(shard string, tick uint64) error {
				return s.Put(src(shard, 1, tick))
			})
		})
	}
}

// runParallelWriters runs put from about writers goroutines, each writing
// its own shard with increasing ticks.
func runParallelWriters(b *testing.B, writers int, put func(shard string, tick uint64) error) {
	var next atomic.Int64
	b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		shard := fmt.Sprintf("db/1/%d", next.Add(1))
		for tick := uint64(0); pb.Next(); tick++ {
			if err := put(shard, tick); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkPutMany100Sync: one synced PutMany of 100 shards per op.
func BenchmarkPutMany100Sync(b *testing.B) {
	s := openTest(b, Config{})
	shards := benchShards(100)
	recs := make([]Record, len(shards))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for k, sh := range shards {
			recs[k] = src(sh, 1, uint64(i))
		}
		if err := s.PutMany(recs...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(shards))/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkPutNoSync: one unsynced Put per op (tests only; for comparison).
func BenchmarkPutNoSync(b *testing.B) {
	s := openTest(b, Config{NoSync: true})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := s.Put(src("db/1/0", 1, uint64(i))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGet: point reads of 1000 stored shards.
func BenchmarkGet(b *testing.B) {
	s := openTest(b, Config{})
	shards := benchShards(1000)
	recs := make([]Record, len(shards))
	for k, sh := range shards {
		recs[k] = src(sh, 1, 1)
	}
	if err := s.PutMany(recs...); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Source("sync-1", shards[i%len(shards)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListSync: listing the 1000 shards of one sync (startup path).
func BenchmarkListSync(b *testing.B) {
	s := openTest(b, Config{})
	shards := benchShards(1000)
	recs := make([]Record, len(shards))
	for k, sh := range shards {
		recs[k] = src(sh, 1, 1)
	}
	if err := s.PutMany(recs...); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		got, err := s.Sources("sync-1")
		if err != nil || len(got) != len(shards) {
			b.Fatal(len(got), err)
		}
	}
}
