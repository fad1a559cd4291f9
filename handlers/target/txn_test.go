package target

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/failure"
	"github.com/dc2dc/dc2dc/tests/arangosim"
)

// TestTransactionOf10000DocumentsIsAtomic applies a 10,000-document
// transaction that spans four batches while a reader polls the count: the
// reader sees 0 or 10,000, never a part.
//
// The documents of one source shard land in one shard of B (identical
// sharding), so the collection here has one shard: a stream transaction on
// an ArangoDB cluster is atomic per shard, and readers of several shards can
// see one shard committed before another (as in ArangoDB itself).
func TestTransactionOf10000DocumentsIsAtomic(t *testing.T) {
	_, conn := setupShop(t)
	createColl(t, conn, "shop", "single", 1)
	a, err := NewApplier(conn, resolverFor(shopShard, "single"), shopShard, Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := newStream(shopShard, 1)
	const n = 10000
	var batches []*events.Batch
	batches = append(batches, s.batch(&events.TransactionStart{TID: "77"}))
	for part := 0; part < 4; part++ {
		var evs []events.Event
		for i := part * n / 4; i < (part+1)*n/4; i++ {
			d := docEvent(fmt.Sprintf("t%05d", i), uint64(i+1), "")
			d.TID = "77"
			evs = append(evs, d)
		}
		if part == 3 {
			evs = append(evs, &events.TransactionCommit{TID: "77"})
		}
		batches = append(batches, s.batch(evs...))
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var partial atomic.Int64
	var seenFull atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			c := countCtx(ctx, conn, "shop", "single")
			if c > 0 && c < n {
				partial.Store(int64(c))
			}
			if c == n {
				seenFull.Store(true)
			}
		}
	}()
	for i, b := range batches {
		if err := a.Apply(ctx, b); err != nil {
			t.Fatalf("Apply batch %d: %v", i, err)
		}
		if i < len(batches)-1 {
			if !a.Pending() {
				t.Fatalf("after batch %d the transaction is not pending", i)
			}
			if d := a.Durable(b); d != batches[0].Prev {
				t.Fatalf("Durable after batch %d = %s, want %s (before the transaction began)", i, d, batches[0].Prev)
			}
			if c := count(t, conn, "shop", "single"); c != 0 {
				t.Fatalf("after batch %d B already holds %d documents of an uncommitted transaction", i, c)
			}
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for !seenFull.Load() && time.Now().Before(deadline) {
		runtime_Gosched()
	}
	cancel()
	wg.Wait()
	if p := partial.Load(); p != 0 {
		t.Fatalf("a reader saw %d of %d documents", p, n)
	}
	if c := count(t, conn, "shop", "single"); c != n {
		t.Fatalf("B holds %d documents, want %d", c, n)
	}
	if a.Pending() {
		t.Fatal("still pending after the commit")
	}
}

// TestCrashBeforeCommitLeavesNothing: a worker that dies with a transaction
// buffered leaves nothing on B; the recorded position makes the next worker
// replay the transaction from its start.
func TestCrashBeforeCommitLeavesNothing(t *testing.T) {
	c, conn := setupShop(t)
	ctx := context.Background()
	s := newStream(shopShard, 1)
	b1 := s.batch(docEvent("before", 1, ""))
	start := s.batch(&events.TransactionStart{TID: "9"}, tdoc("9", "x1", 2), tdoc("9", "x2", 3))
	mid := s.batch(tdoc("9", "x3", 4), docEvent("after", 5, ""))
	commit := s.batch(&events.TransactionCommit{TID: "9"})

	r := NewReceiver("a-to-b", newTestApplier(t, conn, Config{}), NewPositions(conn, nil))
	for i, b := range []*events.Batch{b1, start, mid} {
		if _, err := r.Receive(ctx, b, 0, int64(10+i)); err != nil {
			t.Fatal(err)
		}
	}
	got := contents(t, c, "shop", "orders")
	if len(got) != 1 || got["before"] == "" {
		t.Fatalf("before the commit B holds %v, want only 'before' ('after' waits behind the transaction)", sortedKeys(got))
	}
	// "Crash": a new worker starts from B's record.
	r2 := NewReceiver("a-to-b", newTestApplier(t, conn, Config{}), NewPositions(conn, nil))
	rec, ok, err := r2.Start(ctx)
	if err != nil || !ok || rec.Pos != b1.Pos || rec.Offset != 11 {
		t.Fatalf("record after the crash = %+v, %v, %v; want position %s and offset 11 (the transaction's first batch)", rec, ok, err, b1.Pos)
	}
	for i, b := range []*events.Batch{start, mid, commit} {
		if out, err := r2.Receive(ctx, b, 0, int64(11+i)); err != nil || out != Applied {
			t.Fatalf("replay %s: %v, %v", b.Pos, out, err)
		}
	}
	got = contents(t, c, "shop", "orders")
	if len(got) != 5 {
		t.Fatalf("B holds %v, want before, x1..x3, after", sortedKeys(got))
	}
	rec, _, _ = r2.pos.Load(ctx, "a-to-b", shopShard)
	if rec.Pos != commit.Pos || rec.Offset != 14 {
		t.Fatalf("record = %+v, want %s / offset 14", rec, commit.Pos)
	}
	if last := r2.Last(); last.Pos != rec.Pos || last.Offset != rec.Offset {
		t.Fatalf("Last = %+v, B holds %+v", last, rec)
	}
}

func TestAbortAndTooLargeTransactions(t *testing.T) {
	c, conn := setupShop(t)
	a := newTestApplier(t, conn, Config{MaxRequestBytes: 1024, MaxTxnBytes: 4096})
	s := newStream(shopShard, 1)
	ctx := context.Background()
	if err := a.Apply(ctx, s.batch(&events.TransactionStart{TID: "1"}, tdoc("1", "a", 1), &events.TransactionAbort{TID: "1"}, docEvent("b", 2, ""))); err != nil {
		t.Fatal(err)
	}
	if got := contents(t, c, "shop", "orders"); len(got) != 1 || got["b"] == "" || a.Pending() {
		t.Fatalf("after abort B holds %v (pending %v), want b", sortedKeys(got), a.Pending())
	}
	evs := []events.Event{&events.TransactionStart{TID: "2"}}
	for i := 0; i < 100; i++ {
		evs = append(evs, tdoc("2", fmt.Sprintf("big%d", i), uint64(10+i)))
	}
	err := a.Apply(ctx, s.batch(evs...))
	var re *ResyncError
	if !errors.As(err, &re) || re.Reason != ReasonTxnTooLarge || !failure.IsPermanent(err) {
		t.Fatalf("oversized transaction: %v", err)
	}
	if a.Pending() {
		t.Fatal("oversized transaction still buffered")
	}
}

// TestRetriesOn503AndLatency injects 503s and latency into B's Coordinator:
// retries apply everything exactly once (same contents as without faults).
func TestRetriesOn503AndLatency(t *testing.T) {
	c, conn := setupShop(t)
	coord := c.Coordinators()[0].ID
	r := NewReceiver("a-to-b", newTestApplier(t, conn, Config{MaxRequestDocs: 20}), NewPositions(conn, nil))
	s := newStream(shopShard, 1)
	var batches []*events.Batch
	want := map[string]bool{}
	for i := 0; i < 12; i++ {
		var evs []events.Event
		for j := 0; j < 50; j++ {
			k := fmt.Sprintf("k%d", (i*50+j)%400)
			evs = append(evs, docEvent(k, uint64(i*50+j+1), ""))
			want[k] = true
		}
		if i%4 == 1 {
			evs = append(evs, &events.TransactionStart{TID: fmt.Sprint(i)}, tdoc(fmt.Sprint(i), fmt.Sprintf("tx%d", i), uint64(9000+i)), &events.TransactionCommit{TID: fmt.Sprint(i)})
			want[fmt.Sprintf("tx%d", i)] = true
		}
		batches = append(batches, s.batch(evs...))
	}
	if err := c.InjectFault(coord, arangosim.Fault{PathPrefix: "/_api/document", Status: 503, Count: 7}); err != nil {
		t.Fatal(err)
	}
	if err := c.InjectFault(coord, arangosim.Fault{PathPrefix: "/_api/transaction", Status: 503, Count: 3}); err != nil {
		t.Fatal(err)
	}
	if err := c.InjectFault(coord, arangosim.Fault{PathPrefix: "/_api/", Latency: 20 * time.Millisecond, Count: 30}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	retries := 0
	for _, b := range batches {
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, err := r.Receive(ctx, b, 0, 0)
			if err == nil {
				break
			}
			if !failure.IsRetryable(err) || time.Now().After(deadline) {
				t.Fatalf("Receive %s: %v", b.Pos, err)
			}
			retries++
		}
	}
	if retries < 10 {
		t.Fatalf("only %d retries: the faults did not hit", retries)
	}
	if err := c.ClearFaults(coord); err != nil {
		t.Fatal(err)
	}
	got := contents(t, c, "shop", "orders")
	if len(got) != len(want) {
		t.Fatalf("B holds %d documents, want %d", len(got), len(want))
	}
	// Compare with a clean apply of the same stream into another collection.
	createColl(t, conn, "shop", "clean", 3)
	clean := events.ShardRef{Database: "shop", CollectionID: "clean", Index: 0}
	a2, _ := NewApplier(conn, resolverFor(clean, "clean"), clean, Config{})
	for _, b := range batches {
		b2 := *b
		b2.Shard = clean
		if err := a2.Apply(ctx, &b2); err != nil {
			t.Fatal(err)
		}
	}
	cleanContents := contents(t, c, "shop", "clean")
	for k, v := range got {
		if w := cleanContents[k]; w != replaceColl(v, "orders", "clean") {
			t.Fatalf("key %s: %s with faults, %s without", k, v, w)
		}
	}
}

func tdoc(tid, key string, n uint64) *events.Document {
	d := docEvent(key, n, "")
	d.TID = tid
	return d
}

// TestFailureInsideTransactionLeavesNothing: a 503 in the middle of applying
// a committed transaction aborts it on B (nothing visible), and the retry
// applies it whole, once.
func TestFailureInsideTransactionLeavesNothing(t *testing.T) {
	c, conn := setupShop(t)
	createColl(t, conn, "shop", "single", 1)
	a, err := NewApplier(conn, resolverFor(shopShard, "single"), shopShard, Config{MaxRequestDocs: 100})
	if err != nil {
		t.Fatal(err)
	}
	s := newStream(shopShard, 1)
	evs := []events.Event{&events.TransactionStart{TID: "3"}}
	for i := 0; i < 1000; i++ {
		evs = append(evs, tdoc("3", fmt.Sprintf("k%04d", i), uint64(i+1)))
	}
	evs = append(evs, &events.TransactionCommit{TID: "3"})
	b := s.batch(evs...)
	coord := c.Coordinators()[0].ID
	// Let the begin and four document requests through, then fail one.
	if err := c.InjectFault(coord, arangosim.Fault{PathPrefix: "/_api/document", Latency: time.Millisecond, Count: 4}); err != nil {
		t.Fatal(err)
	}
	if err := c.InjectFault(coord, arangosim.Fault{PathPrefix: "/_api/document", Status: 503, Count: 1}); err != nil {
		t.Fatal(err)
	}
	err = a.Apply(context.Background(), b)
	if !failure.IsRetryable(err) {
		t.Fatalf("Apply with a 503 inside the transaction: %v", err)
	}
	if n := count(t, conn, "shop", "single"); n != 0 {
		t.Fatalf("after the failed transaction B holds %d documents", n)
	}
	if err := a.Apply(context.Background(), b); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if n := count(t, conn, "shop", "single"); n != 1000 {
		t.Fatalf("after the retry B holds %d documents", n)
	}
}

// countingDoer counts the requests by method and path prefix.
type countingDoer struct {
	Doer
	mu    sync.Mutex
	begin int
	reqs  int
}

func (d *countingDoer) Do(ctx context.Context, req Request) (*Response, error) {
	d.mu.Lock()
	d.reqs++
	if strings.HasSuffix(req.Path, "/_api/transaction/begin") {
		d.begin++
	}
	d.mu.Unlock()
	return d.Doer.Do(ctx, req)
}

// TestCommittedTransactionsOfABatchShareOneStreamTransaction: a batch of
// small committed transactions with plain writes between them (a WAL of
// multi-document inserts) is applied as few stream transactions (one begin,
// one commit each) in stream order; a transaction still open stays buffered and
// is applied when its commit comes; MaxMergeBytes bounds a merge.
func TestCommittedTransactionsOfABatchShareOneStreamTransaction(t *testing.T) {
	c, conn := setupShop(t)
	ctx := context.Background()
	cd := &countingDoer{Doer: conn}
	a := newTestApplier(t, cd, Config{})
	s := newStream(shopShard, 1)
	var evs []events.Event
	n, lastK0 := uint64(1), uint64(0)
	for tx := 1; tx <= 10; tx++ {
		tid := fmt.Sprint(tx)
		evs = append(evs, &events.TransactionStart{TID: tid})
		for i := 0; i < 5; i++ {
			// "k<i>" is written by every transaction: the last one wins.
			evs = append(evs, tdoc(tid, fmt.Sprintf("k%d", i), n))
			if i == 0 {
				lastK0 = n
			}
			n++
		}
		evs = append(evs, &events.TransactionCommit{TID: tid})
		if tx == 5 {
			evs = append(evs, docEvent("plain", n, ""), &events.Remove{Key: "k4", Rev: rev(n + 1)})
			n += 2
		}
	}
	// An open transaction at the end waits for its commit.
	evs = append(evs, &events.TransactionStart{TID: "99"}, tdoc("99", "open", n))
	if err := a.Apply(ctx, s.batch(evs...)); err != nil {
		t.Fatal(err)
	}
	// Two runs: the removal of k4, which transaction 5 wrote, starts the second.
	if cd.begin != 2 {
		t.Fatalf("%d stream transactions for 10 committed transactions of one batch, want 2", cd.begin)
	}
	got := contents(t, c, "shop", "orders")
	// k4 was removed after transaction 5 and written again by 6..10.
	want := []string{"k0", "k1", "k2", "k3", "k4", "plain"}
	if keys := sortedKeys(got); fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Fatalf("B holds %v, want %v", keys, want)
	}
	if !strings.Contains(got["k0"], rev(lastK0)) {
		t.Fatalf("k0 = %s, want the last transaction's revision %s", got["k0"], rev(lastK0))
	}
	if !a.Pending() {
		t.Fatal("the open transaction is not pending")
	}
	if err := a.Apply(ctx, s.batch(&events.TransactionCommit{TID: "99"})); err != nil {
		t.Fatal(err)
	}
	if got := contents(t, c, "shop", "orders"); got["open"] == "" {
		t.Fatal("the committed transaction 99 is not in B")
	}

	// A merge bound below two transactions' writes: one stream transaction each.
	cd2 := &countingDoer{Doer: conn}
	a2 := newTestApplier(t, cd2, Config{MaxMergeBytes: 1})
	s2 := newStream(shopShard, 2)
	if err := a2.Apply(ctx, s2.batch(&events.TransactionStart{TID: "1"}, tdoc("1", "m1", 500), &events.TransactionCommit{TID: "1"},
		&events.TransactionStart{TID: "2"}, tdoc("2", "m2", 501), &events.TransactionCommit{TID: "2"})); err != nil {
		t.Fatal(err)
	}
	if cd2.begin != 2 {
		t.Fatalf("MaxMergeBytes 1: %d stream transactions, want 2", cd2.begin)
	}
}

// TestMergedRunEndsBeforeRemovingItsOwnWrite: in a collection sharded by
// another attribute than _key, a removal by key inside a stream transaction
// does not see a document the same transaction wrote (arangosim looks the
// shard up in committed data): a run of units ends before such a removal,
// so a document created by a transaction and removed right after is gone
// from B (TestDataPath found it left behind).
func TestMergedRunEndsBeforeRemovingItsOwnWrite(t *testing.T) {
	c, conn := setupShop(t)
	ctx := context.Background()
	mustDo(t, conn, Request{Method: http.MethodPost, Path: DBPath("shop", "/_api/collection"),
		Body: jsonBody(map[string]any{"name": "bycust", "numberOfShards": 3, "shardKeys": []string{"c"}})}, 200, 201)
	a, err := NewApplier(conn, resolverFor(shopShard, "bycust"), shopShard, Config{})
	if err != nil {
		t.Fatal(err)
	}
	doc := func(tid, key string, n uint64) *events.Document {
		return &events.Document{TID: tid, Key: key, Rev: rev(n), Doc: []byte(fmt.Sprintf(`{"_key":%q,"_rev":%q,"c":"c1"}`, key, rev(n)))}
	}
	s := newStream(shopShard, 1)
	if err := a.Apply(ctx, s.batch(&events.TransactionStart{TID: "1"}, doc("1", "a", 1), doc("1", "b", 2), &events.TransactionCommit{TID: "1"},
		doc("", "p", 3), &events.Remove{Key: "a", Rev: rev(4)},
		&events.TransactionStart{TID: "2"}, doc("2", "d", 5), &events.TransactionCommit{TID: "2"}, &events.Remove{Key: "p", Rev: rev(6)})); err != nil {
		t.Fatal(err)
	}
	got := contents(t, c, "shop", "bycust")
	if want := []string{"b", "d"}; fmt.Sprint(sortedKeys(got)) != fmt.Sprint(want) {
		t.Fatalf("B holds %v, want %v", sortedKeys(got), want)
	}
}
