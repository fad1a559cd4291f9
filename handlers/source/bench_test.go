package source

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/events"
)

// countSink counts the documents a source emits and closes done at want.
type countSink struct {
	mu        sync.Mutex
	want      int
	docs      int
	bytes     int64
	done      chan struct{}
	closed    bool
	stopAtEnd bool
}

var errBenchDone = errors.New("benchmark: snapshot done")

func (c *countSink) Emit(ctx context.Context, recs []events.Record, pos Position) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range recs {
		switch e := r.Event.(type) {
		case *events.Document:
			c.docs++
			c.bytes += int64(len(e.Doc))
		case *events.SnapshotDocuments:
			c.docs += len(e.Docs)
			for _, d := range e.Docs {
				c.bytes += int64(len(d))
			}
		case *events.SnapshotEnd:
			if c.stopAtEnd {
				if !c.closed {
					c.closed = true
					close(c.done)
				}
				return errBenchDone
			}
		}
	}
	if c.docs >= c.want && !c.closed {
		c.closed = true
		close(c.done)
	}
	return nil
}

// benchEnv ingests n documents of about 1 KiB into a one-shard collection
// with 8 concurrent single-document writers (multi-document requests are
// write-batch transactions, whose commit arangosim loses when it splits the
// batch over tail answers) and returns arangosim's ingest rate, the shard and
// the leader's tick before the ingest.
func benchEnv(b *testing.B, n int) (*env, Shard, uint64, float64) {
	e := newEnv(b, 2)
	col, shards, id := e.collection("bench", "docs", 1, 1)
	sh := shardOf("bench", "docs", id, shards[0])
	leader, _ := e.sim.Server(sh.Leader)
	t0 := leader.WAL().LastTick()
	pad := strings.Repeat("p", 1000)
	ctx := context.Background()
	start := time.Now()
	const writers = 8
	var wg sync.WaitGroup
	errc := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := w; j < n; j += writers {
				if _, err := col.CreateDocument(ctx, doc{Key: key(j), N: j, Pad: pad}); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	return e, sh, t0, float64(n) / time.Since(start).Seconds()
}

func runUntil(b *testing.B, e *env, cfg Config, sh Shard, start Start, sink *countSink) {
	ctx, cancel := context.WithCancel(context.Background())
	src, err := New(cfg, sh, start, e.cl, e.watcher, nil, sink)
	if err != nil {
		b.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- src.Run(ctx) }()
	select {
	case <-sink.done:
	case err := <-errc:
		cancel()
		if !errors.Is(err, errBenchDone) {
			b.Fatalf("source ended: %v", err)
		}
		return
	case <-time.After(5 * time.Minute):
		b.Fatal("benchmark timed out")
	}
	cancel()
	if err := <-errc; err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, errBenchDone) {
		b.Fatal(err)
	}
}

func benchConfig() Config {
	return Config{PollInterval: time.Millisecond, RetryBackoff: 10 * time.Millisecond, BatchTTL: time.Minute}
}

// BenchmarkTail measures the WAL tail rate of one shard: 20000 documents of
// about 1 KiB already in the leader's WAL, tailed from before the first.
func BenchmarkTail(b *testing.B) {
	const n = 20000
	e, sh, t0, ingest := benchEnv(b, n)
	b.ResetTimer()
	var bytes int64
	for i := 0; i < b.N; i++ {
		sink := &countSink{want: n, done: make(chan struct{})}
		runUntil(b, e, benchConfig(), sh, Start{Epoch: 1, Tick: t0}, sink)
		bytes += sink.bytes
	}
	el := b.Elapsed().Seconds()
	b.ReportMetric(float64(n*b.N)/el, "docs/s")
	b.ReportMetric(float64(bytes)/(1<<20)/el, "MB/s")
	b.ReportMetric(ingest, "ingest-docs/s")
}

// BenchmarkDump measures the initial sync (full dump) rate of one shard of
// 20000 documents of about 1 KiB.
func BenchmarkDump(b *testing.B) {
	const n = 20000
	e, sh, _, ingest := benchEnv(b, n)
	b.ResetTimer()
	var bytes int64
	for i := 0; i < b.N; i++ {
		sink := &countSink{want: n + 1, done: make(chan struct{}), stopAtEnd: true}
		runUntil(b, e, benchConfig(), sh, Start{Epoch: uint64(i + 1)}, sink)
		if sink.docs != n {
			b.Fatalf("dump sent %d documents, want %d", sink.docs, n)
		}
		bytes += sink.bytes
	}
	el := b.Elapsed().Seconds()
	b.ReportMetric(float64(n*b.N)/el, "docs/s")
	b.ReportMetric(float64(bytes)/(1<<20)/el, "MB/s")
	b.ReportMetric(ingest, "ingest-docs/s")
}
