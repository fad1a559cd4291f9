package loadgen

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/batcher"
	"github.com/dc2dc/dc2dc/pipeline/broker"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
)

// sarama starts one process-wide go-metrics meter goroutine that never ends.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"))
}

func docBatch(shard int, prev, last uint64, from, to uint64) *events.Batch {
	b := &events.Batch{Sync: "s", Shard: ShardRef(shard), Pos: events.Position{Epoch: 1, Tick: last}, Prev: events.Position{Epoch: 1, Tick: prev}}
	for t := from; t <= to; t++ {
		b.Records = append(b.Records, events.Record{Tick: t, Event: &events.Document{Key: "k", Doc: []byte(`{}`)}})
	}
	return b
}

func TestLedgerCountsDuplicatesAndGaps(t *testing.T) {
	l, err := OpenLedger(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	mustApply := func(b *events.Batch, want int) {
		t.Helper()
		n, err := l.Apply(b)
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Fatalf("applied %d, want %d", n, want)
		}
	}
	mustApply(docBatch(0, 0, 3, 1, 3), 3)
	mustApply(docBatch(0, 0, 3, 1, 3), 0) // replay of an applied batch: skipped whole
	mustApply(docBatch(0, 2, 5, 3, 5), 2) // straddles: 3 skipped, 4 and 5 applied
	res, err := Verify(l, 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() {
		t.Fatalf("want a clean ledger, got %s", res)
	}

	// A gap (ticks 6..7 missing) and a duplicate effect must both be seen.
	mustApply(docBatch(0, 5, 9, 8, 9), 2)
	res, _ = Verify(l, 1, 9)
	if res.OK() || res.Gaps == 0 || res.Missing != 2 {
		t.Fatalf("the gap went unnoticed: %s", res)
	}
	// Force a second application of tick 4 by writing through a new epoch.
	b := docBatch(0, 0, 4, 4, 4)
	b.Pos.Epoch, b.Prev.Epoch = 2, 2
	mustApply(b, 1)
	res, _ = Verify(l, 1, 9)
	if res.Duplicates != 1 {
		t.Fatalf("the duplicate went unnoticed: %s", res)
	}
}

func TestLedgerSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenLedger(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Apply(docBatch(1, 0, 2, 1, 2)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l, err = OpenLedger(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if p, ok, err := l.Applied(ShardRef(1).String()); err != nil || !ok || p.Tick != 2 {
		t.Fatalf("applied position after reopen: %v %v", p, ok)
	}
	// The ledger looks a tick up only at or below the highest recorded one:
	// after a reopen that bound comes from disk, so a second application
	// through a new epoch is still counted, and a new tick is not.
	b := docBatch(1, 0, 3, 2, 3)
	b.Pos.Epoch, b.Prev.Epoch = 2, 2
	if n, err := l.Apply(b); err != nil || n != 2 {
		t.Fatalf("apply through a new epoch: %d %v", n, err)
	}
	res, err := Verify(l, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if res.Duplicates != 1 {
		t.Fatalf("want exactly tick 2 counted as a duplicate, got %s", res)
	}
}

// TestLedgerAppliesShardsConcurrently applies several shards from their own
// goroutines while progress is read, as the consumer does: every shard ends
// exactly once, in order (run with -race).
func TestLedgerAppliesShardsConcurrently(t *testing.T) {
	l, err := OpenLedger(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const shards, batches, per = 6, 40, 5
	var wg sync.WaitGroup
	errs := make(chan error, shards+1)
	stop := make(chan struct{})
	for sh := range shards {
		wg.Go(func() {
			for i := range uint64(batches) {
				from := i*per + 1
				if _, err := l.Apply(docBatch(sh, from-1, from+per-1, from, from+per-1)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := l.Summary(); err != nil {
				errs <- err
				return
			}
			if _, err := l.Report(); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-readerDone
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	res, err := Verify(l, shards, batches*per)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() {
		t.Fatalf("want every shard applied exactly once, got %s", res)
	}
}

// TestProduceConsumeInProcess runs both sides against an in-process broker,
// stops the producer half-way and starts it again: every event is applied
// exactly once.
func TestProduceConsumeInProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bk, err := broker.Start(ctx, broker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	kcfg := kafka.Config{Brokers: bk.Addrs()}
	dir := t.TempDir()
	const shards, perShard = 3, 3000
	pcfg := ProduceConfig{
		Kafka: kcfg, Sync: "inproc", Shards: shards, Events: perShard, DocBytes: 200, Partitions: 4,
		StoreDir: filepath.Join(dir, "producer"), Batch: batcher.Config{MaxRecords: 100},
	}
	// First run: cancelled once a third is acknowledged.
	pctx, pcancel := context.WithCancel(ctx)
	var once sync.Once
	pcfg.ProgressEvery = 5 * time.Millisecond
	pcfg.Progress = func(acked uint64) {
		if acked >= shards*perShard/3 {
			once.Do(pcancel)
		}
	}
	if err := Produce(pctx, pcfg); err != nil && pctx.Err() == nil {
		t.Fatal(err)
	}
	pcancel()
	pcfg.Progress = nil
	if err := Produce(ctx, pcfg); err != nil {
		t.Fatal(err)
	}

	cctx, ccancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	var last Progress
	var mu sync.Mutex
	go func() {
		done <- Consume(cctx, ConsumeConfig{
			Kafka: kcfg, Sync: "inproc", StoreDir: filepath.Join(dir, "consumer"), LedgerDir: filepath.Join(dir, "ledger"),
			ProgressEvery: 20 * time.Millisecond,
			Progress: func(p Progress) {
				mu.Lock()
				last = p
				mu.Unlock()
			},
		})
	}()
	deadline := time.Now().Add(90 * time.Second)
	for {
		mu.Lock()
		p := last
		mu.Unlock()
		if p.Applied == shards*perShard {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer applied %+v of %d", p, shards*perShard)
		}
		select {
		case err := <-done:
			t.Fatalf("consumer stopped: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	ccancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	l, err := OpenLedger(filepath.Join(dir, "ledger"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	res, err := Verify(l, shards, perShard)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() {
		t.Fatalf("ledger: %s", res)
	}
}

// TestMakeDoc: both paddings give valid JSON of the asked size whose creation
// time reads back; the random one hardly compresses, the 'x' run does.
func TestMakeDoc(t *testing.T) {
	created := time.Unix(1700000000, 123456789)
	for _, random := range []bool{false, true} {
		var batch []byte
		for seq := uint64(1); seq <= 50; seq++ {
			doc := makeDoc(nil, "k1", "r1", seq, created.UnixNano(), 1024, random)
			if len(doc) != 1024 {
				t.Fatalf("random=%v: %d bytes, want 1024", random, len(doc))
			}
			var v map[string]any
			if err := json.Unmarshal(doc, &v); err != nil {
				t.Fatalf("random=%v: not JSON: %v\n%s", random, err, doc)
			}
			if got := CreatedAt(doc); !got.Equal(created) {
				t.Fatalf("random=%v: CreatedAt %v, want %v", random, got, created)
			}
			batch = append(batch, doc...)
		}
		var z bytes.Buffer
		w, _ := flate.NewWriter(&z, flate.BestSpeed)
		_, _ = w.Write(batch)
		_ = w.Close()
		ratio := float64(z.Len()) / float64(len(batch))
		if random && ratio < 0.6 {
			t.Errorf("random padding compresses to %.2f of its size: want it hardly compressible", ratio)
		}
		if !random && ratio > 0.2 {
			t.Errorf("'x' padding compresses to %.2f of its size only", ratio)
		}
	}
}
