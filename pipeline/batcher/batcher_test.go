package batcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dc2dc/dc2dc/events"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var shard = events.ShardRef{Database: "db", CollectionID: "1001", Index: 2}

func doc(tick uint64, tid string, size int) events.Record {
	key := fmt.Sprintf("k%d", tick)
	body := `{"_key":"` + key + `","v":"` + strings.Repeat("x", max(0, size-20)) + `"}`
	return events.Record{Tick: tick, Event: &events.Document{TID: tid, Key: key, Rev: "_r" + key, Doc: json.RawMessage(body)}}
}
func start(tick uint64, tid string) events.Record {
	return events.Record{Tick: tick, Event: &events.TransactionStart{Database: "db", TID: tid}}
}
func commit(tick uint64, tid string) events.Record {
	return events.Record{Tick: tick, Event: &events.TransactionCommit{Database: "db", TID: tid}}
}
func abort(tick uint64, tid string) events.Record {
	return events.Record{Tick: tick, Event: &events.TransactionAbort{Database: "db", TID: tid}}
}
func hb(leader uint64) events.Record {
	return events.Record{Event: &events.Heartbeat{LeaderTick: leader, Phase: "tailing"}}
}
func snapBegin(t uint64) events.Record {
	return events.Record{Event: &events.SnapshotBegin{SnapshotTick: t, Mode: events.SnapshotFull}}
}
func snapDocs(n int) events.Record {
	docs := make([]json.RawMessage, n)
	for i := range docs {
		docs[i] = json.RawMessage(fmt.Sprintf(`{"_key":"s%d"}`, i))
	}
	return events.Record{Event: &events.SnapshotDocuments{Docs: docs}}
}
func snapEnd(t uint64) events.Record {
	return events.Record{Event: &events.SnapshotEnd{SnapshotTick: t}}
}

// collector is an Emit that records every batch.
type collector struct {
	mu   sync.Mutex
	outs []Out
}

func (c *collector) emit(_ context.Context, o Out) error {
	c.mu.Lock()
	c.outs = append(c.outs, o)
	c.mu.Unlock()
	return nil
}

func (c *collector) get() []Out {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Out(nil), c.outs...)
}

// runAll feeds recs, closes, and returns what was emitted.
func runAll(t *testing.T, cfg Config, st Stream, recs []events.Record) []Out {
	t.Helper()
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
	return c.get()
}

// checkStream verifies the invariants every output must keep.
func checkStream(t *testing.T, st Stream, cfg Config, outs []Out) {
	t.Helper()
	prev := st.Start
	if prev.IsZero() {
		prev = events.Position{Epoch: st.Epoch}
	}
	for i, o := range outs {
		b := o.Batch
		if err := b.Validate(); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		if b.Prev != prev || !prev.Less(b.Pos) {
			t.Fatalf("batch %d: prev %s pos %s after %s", i, b.Prev, b.Pos, prev)
		}
		prev = b.Pos
		payload, err := events.Encode(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(payload) > cfg.MaxBytes && len(b.Records) > 1 {
			t.Fatalf("batch %d: %d bytes > MaxBytes %d with %d records", i, len(payload), cfg.MaxBytes, len(b.Records))
		}
		md := o.Metadata()
		if (md[MetaOpenTransactions] != "") != (len(o.OpenTransactions) > 0) {
			t.Fatalf("batch %d: header %q vs %v", i, md[MetaOpenTransactions], o.OpenTransactions)
		}
	}
}

type want struct {
	pos   events.Position
	ticks []uint64 // record ticks (0 for tickless records)
	open  []string
}

func TestBatcherTable(t *testing.T) {
	p := func(e, t uint64, s uint32) events.Position { return events.Position{Epoch: e, Tick: t, Sub: s} }
	base := Config{MaxRecords: 2, MaxBytes: 4096, Linger: time.Hour}
	tests := []struct {
		name  string
		cfg   Config
		start events.Position
		recs  []events.Record
		want  []want
	}{
		{"max records", base, events.Position{}, []events.Record{doc(1, "", 10), doc(2, "", 10), doc(3, "", 10), doc(4, "", 10), doc(5, "", 10)},
			[]want{{p(7, 2, 0), []uint64{1, 2}, nil}, {p(7, 4, 0), []uint64{3, 4}, nil}, {p(7, 5, 0), []uint64{5}, nil}}},
		{"transaction kept whole past max records", base, events.Position{}, []events.Record{
			doc(1, "", 10), start(2, "t1"), doc(3, "t1", 10), doc(4, "t1", 10), doc(5, "t1", 10), commit(6, "t1"), doc(7, "", 10)},
			[]want{{p(7, 6, 0), []uint64{1, 2, 3, 4, 5, 6}, nil}, {p(7, 7, 0), []uint64{7}, nil}}},
		{"abort closes the transaction", base, events.Position{}, []events.Record{
			start(1, "t1"), doc(2, "t1", 10), abort(3, "t1"), doc(4, "", 10)},
			[]want{{p(7, 3, 0), []uint64{1, 2, 3}, nil}, {p(7, 4, 0), []uint64{4}, nil}}},
		{"transaction over max bytes is split and says so", Config{MaxRecords: 100, MaxBytes: 3000, Linger: time.Hour}, events.Position{}, []events.Record{
			doc(1, "", 100), start(2, "t9"), doc(3, "t9", 900), doc(4, "t9", 900), doc(5, "t9", 900), doc(6, "t9", 900), commit(7, "t9"), doc(8, "", 100)},
			[]want{
				{p(7, 4, 0), []uint64{1, 2, 3, 4}, []string{"t9"}},
				{p(7, 8, 0), []uint64{5, 6, 7, 8}, nil},
			}},
		{"long transaction spans many batches", Config{MaxRecords: 100, MaxBytes: 2048, Linger: time.Hour}, events.Position{}, []events.Record{
			start(1, "t"), doc(2, "t", 900), doc(3, "t", 900), doc(4, "t", 900), doc(5, "t", 900), commit(6, "t")},
			[]want{
				{p(7, 2, 0), []uint64{1, 2}, []string{"t"}},
				{p(7, 3, 0), []uint64{3}, []string{"t"}},
				{p(7, 4, 0), []uint64{4}, []string{"t"}},
				{p(7, 6, 0), []uint64{5, 6}, nil},
			}},
		{"a record over max bytes travels alone", Config{MaxRecords: 100, MaxBytes: 2048, Linger: time.Hour}, events.Position{}, []events.Record{
			doc(1, "", 100), doc(2, "", 5000), doc(3, "", 100)},
			[]want{{p(7, 1, 0), []uint64{1}, nil}, {p(7, 2, 0), []uint64{2}, nil}, {p(7, 3, 0), []uint64{3}, nil}}},
		{"snapshot chunks, end, then WAL", base, events.Position{}, []events.Record{
			snapBegin(100), snapDocs(3), snapDocs(3), snapDocs(3), snapEnd(100), doc(101, "", 10), doc(102, "", 10)},
			[]want{
				{p(7, 0, 1), []uint64{0, 0}, nil},
				{p(7, 0, 2), []uint64{0, 0}, nil},
				{p(7, 100, 0), []uint64{0}, nil},
				{p(7, 102, 0), []uint64{101, 102}, nil}, // cut after SnapshotEnd
			}},
		{"heartbeat-only batches share the tick", Config{MaxRecords: 1, MaxBytes: 4096, Linger: time.Hour}, events.Position{}, []events.Record{
			doc(10, "", 10), hb(12), hb(13), doc(11, "", 10), hb(14)},
			[]want{{p(7, 10, 0), []uint64{10}, nil}, {p(7, 10, 1), []uint64{0}, nil}, {p(7, 10, 2), []uint64{0}, nil},
				{p(7, 11, 0), []uint64{11}, nil}, {p(7, 11, 1), []uint64{0}, nil}}},
		{"resume from a start position", Config{MaxRecords: 1, MaxBytes: 4096, Linger: time.Hour}, p(7, 50, 2), []events.Record{
			hb(60), doc(60, "", 10)},
			[]want{{p(7, 50, 3), []uint64{0}, nil}, {p(7, 60, 0), []uint64{60}, nil}}},
		{"transaction open at close is flushed and flagged", base, events.Position{}, []events.Record{
			start(1, "a"), doc(2, "a", 10), doc(3, "a", 10)},
			[]want{{p(7, 3, 0), []uint64{1, 2, 3}, []string{"a"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := Stream{Sync: "s1", Shard: shard, Leader: "PRMR-1", Epoch: 7, Start: tt.start}
			outs := runAll(t, tt.cfg, st, tt.recs)
			cfg := tt.cfg
			cfg.EnsureDefaults()
			checkStream(t, st, cfg, outs)
			if len(outs) != len(tt.want) {
				for _, o := range outs {
					t.Logf("got %s %d records open %v", o.Batch.Pos, len(o.Batch.Records), o.OpenTransactions)
				}
				t.Fatalf("%d batches, want %d", len(outs), len(tt.want))
			}
			for i, w := range tt.want {
				o := outs[i]
				var ticks []uint64
				for _, r := range o.Batch.Records {
					ticks = append(ticks, r.Tick)
				}
				if o.Batch.Pos != w.pos || fmt.Sprint(ticks) != fmt.Sprint(w.ticks) || fmt.Sprint(o.OpenTransactions) != fmt.Sprint(w.open) {
					t.Errorf("batch %d: pos %s ticks %v open %v; want %s %v %v", i, o.Batch.Pos, ticks, o.OpenTransactions, w.pos, w.ticks, w.open)
				}
				if o.Batch.Sync != "s1" || o.Batch.Shard != shard || o.Batch.Leader != "PRMR-1" || o.Batch.SentAt.IsZero() {
					t.Errorf("batch %d: stream fields %+v", i, o.Batch)
				}
			}
		})
	}
}

func TestBatcherLinger(t *testing.T) {
	c := &collector{}
	b, err := New(Config{Linger: 5 * time.Millisecond}, Stream{Shard: shard, Epoch: 1}, c.emit)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- b.Run(context.Background()) }()
	defer func() {
		b.Close()
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}()
	ctx := context.Background()
	if err := b.Add(ctx, doc(1, "", 10)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the lingering batch", func() bool { return len(c.get()) == 1 })

	// An open transaction is not cut by Linger, only by its commit.
	for _, r := range []events.Record{start(2, "t"), doc(3, "t", 10)} {
		if err := b.Add(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(50 * time.Millisecond) // 10 lingers
	for time.Now().Before(deadline) {
		if len(c.get()) != 1 {
			t.Fatal("linger cut an open transaction")
		}
		time.Sleep(time.Millisecond)
	}
	if err := b.Add(ctx, commit(4, "t")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the committed transaction", func() bool { return len(c.get()) == 2 })
	if got := c.get()[1].Batch; len(got.Records) != 3 || got.Pos.Tick != 4 {
		t.Errorf("transaction batch %s with %d records", got.Pos, len(got.Records))
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polling interval
	}
}

func TestBatcherBackpressure(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	emitted := 0
	emit := func(ctx context.Context, o Out) error {
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		mu.Lock()
		emitted += len(o.Batch.Records)
		mu.Unlock()
		return nil
	}
	cfg := Config{MaxRecords: 1, MaxBytes: 4096, QueueRecords: 3, QueueBytes: 8192, Linger: time.Hour}
	b, err := New(cfg, Stream{Shard: shard, Epoch: 1}, emit)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- b.Run(context.Background()) }()
	// Emit is blocked: one record in the batch being emitted plus
	// QueueRecords queued; the next Add must block.
	added := 0
	for ; added < 10; added++ {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err := b.Add(ctx, doc(uint64(added+1), "", 10))
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if added > cfg.QueueRecords+1 || added < cfg.QueueRecords {
		t.Fatalf("%d records accepted while Emit was blocked (queue %d)", added, cfg.QueueRecords)
	}
	// Bytes bound: big records fill QueueBytes first.
	close(release)
	for i := 0; i < 20; i++ {
		if err := b.Add(context.Background(), doc(uint64(100+i), "", 3000)); err != nil {
			t.Fatal(err)
		}
	}
	b.Close()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if emitted != added+20 {
		t.Errorf("emitted %d records, want %d", emitted, added+20)
	}
	if b.used != 0 {
		t.Errorf("%d bytes still accounted after the last emit", b.used)
	}
}

func TestBatcherBytesBound(t *testing.T) {
	block := make(chan struct{})
	emit := func(ctx context.Context, o Out) error {
		select {
		case <-block:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	cfg := Config{MaxRecords: 1000, MaxBytes: 4096, QueueRecords: 1000, QueueBytes: 8192, Linger: time.Hour}
	b, err := New(cfg, Stream{Shard: shard, Epoch: 1}, emit)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- b.Run(ctx) }()
	accepted := 0
	for i := 1; i <= 50; i++ {
		actx, acancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err := b.Add(actx, doc(uint64(i), "", 1000))
		acancel()
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatal(err)
			}
			break
		}
		accepted++
	}
	held := accepted * Size(doc(1, "", 1000))
	if held > cfg.QueueBytes || accepted < 4 {
		t.Errorf("accepted %d records (%d bytes) with QueueBytes %d", accepted, held, cfg.QueueBytes)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	if err := b.Add(context.Background(), doc(99, "", 10)); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after Run stopped: %v", err)
	}
}

func TestBatcherErrors(t *testing.T) {
	boom := errors.New("publish failed")
	b, err := New(Config{MaxRecords: 1}, Stream{Shard: shard, Epoch: 1}, func(context.Context, Out) error { return boom })
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- b.Run(context.Background()) }()
	if err := b.Add(context.Background(), doc(5, "", 10)); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, boom) {
		t.Fatalf("Run: %v", err)
	}
	if err := b.Run(context.Background()); err == nil {
		t.Error("second Run accepted")
	}
	if err := b.Add(context.Background(), doc(3, "", 10)); !errors.Is(err, ErrTickOrder) {
		t.Errorf("tick order: %v", err)
	}
	if err := b.Add(context.Background(), doc(6, "", 10)); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after Run failed: %v", err)
	}
	b.Close()
	b.Close()
	if err := b.Add(context.Background(), doc(7, "", 10)); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after Close: %v", err)
	}
	if err := b.Add(context.Background(), events.Record{}); err == nil {
		t.Error("record without event accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	err := Config{MaxRecords: -1, MaxBytes: 10, Linger: -1, QueueRecords: -1, QueueBytes: 5}.Validate()
	for _, w := range []string{"MaxRecords", "MaxBytes", "Linger", "QueueRecords", "QueueBytes"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Validate does not report %s: %v", w, err)
		}
	}
	var c Config
	c.EnsureDefaults()
	if err := c.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	if _, err := New(Config{}, Stream{Epoch: 2, Start: events.Position{Epoch: 1, Tick: 5}}, nil); err == nil ||
		!strings.Contains(err.Error(), "Emit") || !strings.Contains(err.Error(), "epoch") || !strings.Contains(err.Error(), "database") {
		t.Errorf("New: %v", err)
	}
}

// Size never underestimates the encoded size.
func TestSizeBoundsEncoding(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	str := func() string { return strings.Repeat("a", r.IntN(300)) }
	raw := func() json.RawMessage { return json.RawMessage(`"` + str() + `"`) }
	gens := []func(tick uint64) events.Record{
		func(t uint64) events.Record { return doc(t, str(), r.IntN(5000)) },
		func(t uint64) events.Record { return start(t, str()) },
		func(t uint64) events.Record { return commit(t, str()) },
		func(t uint64) events.Record { return abort(t, str()) },
		func(t uint64) events.Record {
			return events.Record{Tick: t, Event: &events.Remove{TID: str(), Key: str(), Rev: str()}}
		},
		func(t uint64) events.Record {
			return events.Record{Tick: t, Event: &events.CollectionCreate{Database: str(), CUID: str(), Data: raw()}}
		},
		func(t uint64) events.Record {
			return events.Record{Tick: t, Event: &events.IndexDrop{Database: str(), CUID: str(), IndexID: str()}}
		},
		func(t uint64) events.Record {
			return events.Record{Tick: t, Event: &events.ViewChange{Database: str(), CUID: str(), Data: raw()}}
		},
		func(uint64) events.Record { return snapDocs(r.IntN(50)) },
		func(uint64) events.Record {
			return events.Record{Event: &events.SnapshotRemove{Keys: []events.KeyRev{{Key: str(), Rev: str()}}}}
		},
		func(uint64) events.Record {
			return events.Record{Event: &events.SnapshotBegin{SnapshotTick: 1 << 62, Leader: str(), Mode: "full", Documents: -1}}
		},
		func(uint64) events.Record {
			return events.Record{Event: &events.SnapshotEnd{SnapshotTick: 1 << 63, Documents: 1 << 62}}
		},
		func(uint64) events.Record {
			return events.Record{Event: &events.Heartbeat{SourceTime: time.Now(), LeaderTick: 1 << 63, Phase: str()}}
		},
		func(t uint64) events.Record {
			return events.Record{Tick: t, Event: &events.Control{Type: str(), LeaderEpoch: 1 << 60, From: str(), Payload: raw()}}
		},
		func(t uint64) events.Record {
			return events.Record{Tick: t, Event: &events.DatabaseCreate{Database: str(), Data: raw()}}
		},
	}
	for i := 0; i < 300; i++ {
		st := Stream{Sync: str(), Shard: events.ShardRef{Database: "d" + str(), CollectionID: "c", Index: r.IntN(100)}, Collection: str(), Leader: str(), Epoch: r.Uint64()}
		b := &events.Batch{Sync: st.Sync, Shard: st.Shard, Collection: st.Collection, Leader: st.Leader, SentAt: time.Now()}
		bound := headerSize(st)
		tick := uint64(1 << 62)
		for j := r.IntN(20); j >= 0; j-- {
			tick += uint64(r.IntN(1000))
			rec := gens[r.IntN(len(gens))](tick)
			b.Records = append(b.Records, rec)
			bound += Size(rec)
		}
		b.Pos = events.Position{Epoch: st.Epoch, Tick: tick + 1<<61, Sub: r.Uint32()}
		b.Prev = events.Position{Epoch: st.Epoch, Tick: tick}
		b.FirstTick = tick
		payload, err := events.Encode(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(payload) > bound {
			t.Fatalf("encoded %d bytes, Size bound %d", len(payload), bound)
		}
	}
}

// Records accepted by Adds racing with Close from other goroutines are all
// emitted; the others get ErrClosed.
func TestBatcherAddCloseRace(t *testing.T) {
	for round := 0; round < 20; round++ {
		c := &collector{}
		b, err := New(Config{MaxRecords: 3, Linger: time.Millisecond}, Stream{Shard: shard, Epoch: 1}, c.emit)
		if err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() { errc <- b.Run(context.Background()) }()
		var accepted sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for g := 0; g < 4; g++ {
			accepted.Add(1)
			go func() {
				defer accepted.Done()
				for i := 0; i < 50; i++ {
					err := b.Add(context.Background(), hb(1))
					if errors.Is(err, ErrClosed) {
						return
					}
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}()
		}
		b.Close()
		accepted.Wait()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, o := range c.get() {
			n += len(o.Batch.Records)
		}
		if n != ok {
			t.Fatalf("round %d: %d records accepted, %d emitted", round, ok, n)
		}
	}
}
