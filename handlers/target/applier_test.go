package target

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/failure"
	"github.com/dc2dc/dc2dc/tests/arangosim"
)

var shopShard = events.ShardRef{Database: "shop", CollectionID: "8010045", Index: 0}

// setupShop starts B with database shop and collection orders (3 shards).
func setupShop(t testing.TB) (*arangosim.Cluster, *Conn) {
	t.Helper()
	c := startSim(t, arangosim.Config{})
	conn := dialSim(t, c)
	createDB(t, conn, "shop")
	createColl(t, conn, "shop", "orders", 3)
	return c, conn
}

func newTestApplier(t testing.TB, conn Doer, cfg Config) *Applier {
	t.Helper()
	a, err := NewApplier(conn, resolverFor(shopShard, "orders"), shopShard, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestApplyKeepsKeysAndRevisionsAndRemovesByKey(t *testing.T) {
	c, conn := setupShop(t)
	a := newTestApplier(t, conn, Config{MaxRequestDocs: 7, Parallelism: 3})
	s := newStream(shopShard, 1)
	var evs []events.Event
	want := map[string]string{}
	for i := 1; i <= 50; i++ {
		k := fmt.Sprintf("k%02d", i)
		evs = append(evs, docEvent(k, uint64(i), `,"x":"y"`))
	}
	// Overwrite k01 later in the stream, remove k02 and a key B never had.
	evs = append(evs, docEvent("k01", 100, `,"x":"z"`), &events.Remove{Key: "k02"}, &events.Remove{Key: "never"})
	if err := a.Apply(context.Background(), s.batch(evs...)); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	got := contents(t, c, "shop", "orders")
	if len(got) != 49 {
		t.Fatalf("B holds %d documents, want 49", len(got))
	}
	for i := 3; i <= 50; i++ {
		k := fmt.Sprintf("k%02d", i)
		want[k] = fmt.Sprintf(`{"_key":%q,"_id":"orders/%s","_rev":%q,"n":%d,"x":"y"}`, k, k, rev(uint64(i)), i)
	}
	want["k01"] = fmt.Sprintf(`{"_key":"k01","_id":"orders/k01","_rev":%q,"n":100,"x":"z"}`, rev(100))
	if d := diffContents(want, got); d != "" {
		t.Fatalf("contents differ: %s", d)
	}
}

func TestReplayOfAppliedSuffixChangesNothing(t *testing.T) {
	c, conn := setupShop(t)
	pos := NewPositions(conn, nil)
	a := newTestApplier(t, conn, Config{MaxRequestDocs: 10, Parallelism: 4})
	r := NewReceiver("a-to-b", a, pos)
	s := newStream(shopShard, 1)
	var batches []*events.Batch
	for i := 0; i < 20; i++ {
		var evs []events.Event
		for j := 0; j < 25; j++ {
			n := uint64(i*25 + j + 1)
			evs = append(evs, docEvent(fmt.Sprintf("k%d", n%173), n, ""))
		}
		if i%3 == 2 {
			evs = append(evs, &events.Remove{Key: fmt.Sprintf("k%d", i*7%173)})
		}
		if i%5 == 4 {
			evs = append(evs, &events.TransactionStart{TID: "t" + fmt.Sprint(i)},
				docEvent(fmt.Sprintf("k%d", i), uint64(10000+i), `,"t":1`),
				&events.Remove{TID: "t" + fmt.Sprint(i), Key: fmt.Sprintf("k%d", i+1)},
				&events.TransactionCommit{TID: "t" + fmt.Sprint(i)})
		}
		batches = append(batches, s.batch(evs...))
	}
	ctx := context.Background()
	for _, b := range batches {
		if out, err := r.Receive(ctx, b, 3, 0); err != nil || out != Applied {
			t.Fatalf("Receive %s = %v, %v", b.Pos, out, err)
		}
	}
	before := contents(t, c, "shop", "orders")

	// A new worker takes over and sees every batch again: all skipped.
	a2 := newTestApplier(t, conn, Config{})
	r2 := NewReceiver("a-to-b", a2, NewPositions(conn, nil))
	rec, ok, err := r2.Start(ctx)
	if err != nil || !ok || rec.Pos != batches[len(batches)-1].Pos || rec.Partition != 3 {
		t.Fatalf("Start = %+v, %v, %v", rec, ok, err)
	}
	for _, b := range batches {
		if out, err := r2.Receive(ctx, b, 3, 0); err != nil || out != Skipped {
			t.Fatalf("replayed Receive %s = %v, %v", b.Pos, out, err)
		}
	}
	// Re-applying a suffix without dedupe (a crash between apply and the
	// position record) leaves B unchanged too: compare contents and _revs.
	for _, b := range batches[12:] {
		if err := a2.Apply(ctx, b); err != nil {
			t.Fatalf("re-Apply %s: %v", b.Pos, err)
		}
	}
	after := contents(t, c, "shop", "orders")
	if d := diffContents(before, after); d != "" {
		t.Fatalf("replay changed B: %s", d)
	}
	if len(before) == 0 {
		t.Fatal("nothing applied")
	}
}

func TestMissingDatabaseIsRetryableThenPermanent(t *testing.T) {
	c := startSim(t, arangosim.Config{})
	conn := dialSim(t, c)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	shard := events.ShardRef{Database: "nosuchdb", CollectionID: "1", Index: 0}
	a, err := NewApplier(conn, resolverFor(shard, "orders"), shard, Config{StructureWait: time.Minute, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	b := newStream(shard, 1).batch(docEvent("k", 1, ""))
	err = a.Apply(context.Background(), b)
	var sm *StructureMissingError
	if !errors.As(err, &sm) || !failure.IsRetryable(err) {
		t.Fatalf("Apply into a missing database = %v (retryable %v), want a retryable *StructureMissingError", err, failure.IsRetryable(err))
	}
	if !strings.Contains(err.Error(), `"orders"`) || !strings.Contains(err.Error(), `"nosuchdb"`) {
		t.Fatalf("error does not name the collection and database: %v", err)
	}
	now = now.Add(2 * time.Minute)
	err = a.Apply(context.Background(), b)
	if !errors.As(err, &sm) || !failure.IsPermanent(err) {
		t.Fatalf("after StructureWait: %v, want a permanent *StructureMissingError", err)
	}
	// An unmapped shard is missing structure as well.
	other := events.ShardRef{Database: "nosuchdb", CollectionID: "2", Index: 0}
	a2, _ := NewApplier(conn, resolverFor(shard, "orders"), other, Config{})
	if err := a2.Apply(context.Background(), newStream(other, 1).batch(docEvent("k", 1, ""))); !errors.As(err, &sm) || !failure.IsRetryable(err) {
		t.Fatalf("unmapped shard: %v", err)
	}
}

func TestTruncateAndDropEndTheBatch(t *testing.T) {
	c, conn := setupShop(t)
	a := newTestApplier(t, conn, Config{})
	s := newStream(shopShard, 1)
	err := a.Apply(context.Background(), s.batch(docEvent("a", 1, ""), &events.CollectionTruncate{Database: "shop"}, docEvent("b", 2, "")))
	var re *ResyncError
	if !errors.As(err, &re) || re.Reason != ReasonTruncate || !failure.IsPermanent(err) {
		t.Fatalf("truncate: %v", err)
	}
	err = a.Apply(context.Background(), s.batch(&events.IndexCreate{}, docEvent("c", 3, ""), &events.CollectionDrop{}, docEvent("d", 4, "")))
	if !errors.Is(err, ErrStreamEnded) {
		t.Fatalf("drop: %v", err)
	}
	got := contents(t, c, "shop", "orders")
	if len(got) != 2 || got["a"] == "" || got["c"] == "" {
		t.Fatalf("B holds %v, want a and c", sortedKeys(got))
	}
}

func TestUniqueConstraintConflictIsRepaired(t *testing.T) {
	c, conn := setupShop(t)
	mustDo(t, conn, Request{Method: "POST", Path: DBPath("shop", "/_api/index"), Query: map[string][]string{"collection": {"orders"}},
		Body: []byte(`{"type":"persistent","fields":["_key","u"],"unique":true}`)}, 200, 201)
	_ = c
	// The index covers _key, so use a single-shard collection to make u alone unique.
	createColl(t, conn, "shop", "single", 1)
	mustDo(t, conn, Request{Method: "POST", Path: DBPath("shop", "/_api/index"), Query: map[string][]string{"collection": {"single"}},
		Body: []byte(`{"type":"persistent","fields":["u"],"unique":true}`)}, 200, 201)
	shard := events.ShardRef{Database: "shop", CollectionID: "77", Index: 0}
	a, err := NewApplier(conn, resolverFor(shard, "single"), shard, Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := newStream(shard, 1)
	// Out of order (as a snapshot may deliver): y takes u=1, which x on B still holds.
	if err := a.Apply(context.Background(), s.batch(docEvent("x", 1, `,"u":1`))); err != nil {
		t.Fatal(err)
	}
	if err := a.Apply(context.Background(), s.batch(docEvent("y", 2, `,"u":1`), docEvent("z", 3, `,"u":2`))); err != nil {
		t.Fatalf("Apply with a unique conflict: %v", err)
	}
	got := contents(t, c, "shop", "single")
	if _, ok := got["x"]; ok || got["y"] == "" || got["z"] == "" {
		t.Fatalf("B holds %v, want y and z (x removed)", sortedKeys(got))
	}
	// A conflict with a document the same request moves away is not a
	// reason to remove it: y2 takes u=2 from z, which the request rewrites
	// with u=3 after it (z was written first on B, so y2 fails once).
	if err := a.Apply(context.Background(), s.batch(docEvent("y2", 7, `,"u":2`), docEvent("z", 8, `,"u":3`))); err != nil {
		t.Fatalf("conflict with a later write of the same request: %v", err)
	}
	got = contents(t, c, "shop", "single")
	if got["z"] == "" || got["y2"] == "" || !strings.Contains(got["z"], `"u":3`) {
		t.Fatalf("B holds %v (z = %s), want z with u=3 and y2", sortedKeys(got), got["z"])
	}
	// The repair is bounded: with one try the conflict is a permanent error.
	strict, _ := NewApplier(conn, resolverFor(shard, "single"), shard, Config{UniqueRetries: 1})
	err = strict.Apply(context.Background(), s.batch(docEvent("w", 4, `,"u":2`)))
	if !failure.IsPermanent(err) || !strings.Contains(err.Error(), "unique constraint") {
		t.Fatalf("conflict without repairs left: %v", err)
	}
	// Inside a transaction the repair happens in the transaction.
	err = a.Apply(context.Background(), s.batch(&events.TransactionStart{TID: "5"}, tdoc("5", "v", 5), &events.TransactionCommit{TID: "5"}))
	if err != nil {
		t.Fatal(err)
	}
	vdoc := docEvent("v2", 6, `,"u":2`)
	vdoc.TID = "6"
	if err := a.Apply(context.Background(), s.batch(&events.TransactionStart{TID: "6"}, vdoc, &events.TransactionCommit{TID: "6"})); err != nil {
		t.Fatalf("conflict inside a transaction: %v", err)
	}
	got = contents(t, c, "shop", "single")
	if _, ok := got["y2"]; ok || got["v2"] == "" || got["z"] == "" {
		t.Fatalf("B holds %v, want v2 instead of y2 (u=2)", sortedKeys(got))
	}
}

// TestEdgesAndForeignIDs: documents from A carry _id with A's collection
// name (which may differ in B after a rename) and edges carry _from/_to; B
// keeps _from/_to verbatim and builds its own _id.
func TestEdgesAndForeignIDs(t *testing.T) {
	c, conn := setupShop(t)
	mustDo(t, conn, Request{Method: "POST", Path: DBPath("shop", "/_api/collection"), Body: []byte(`{"name":"links","type":3,"numberOfShards":2}`)}, 200)
	shard := events.ShardRef{Database: "shop", CollectionID: "55", Index: 1}
	a, err := NewApplier(conn, resolverFor(shard, "links"), shard, Config{})
	if err != nil {
		t.Fatal(err)
	}
	e := fmt.Sprintf(`{"_key":"e1","_id":"oldname/e1","_from":"orders/a","_to":"orders/b","_rev":%q,"w":1}`, rev(1))
	n := fmt.Sprintf(`{"_key":"n1","_id":"oldname/n1","_rev":%q}`, rev(2))
	err = a.Apply(context.Background(), newStream(shard, 1).batch(&events.Document{Key: "e1", Doc: json.RawMessage(e)}, &events.Document{Key: "n1", Doc: json.RawMessage(n)}))
	if err == nil {
		t.Fatal("an edge without _from/_to was accepted")
	}
	if !failure.IsPermanent(err) || !strings.Contains(err.Error(), `"n1"`) {
		t.Fatalf("invalid edge: %v, want a permanent error naming n1", err)
	}
	if err := a.Apply(context.Background(), newStream(shard, 1).batch(&events.Document{Key: "e1", Doc: json.RawMessage(e)})); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{"_key":"e1","_id":"links/e1","_from":"orders/a","_to":"orders/b","_rev":%q,"w":1}`, rev(1))
	if got := contents(t, c, "shop", "links")["e1"]; got != want {
		t.Fatalf("edge in B = %s, want %s", got, want)
	}
}

func TestLargeDocuments(t *testing.T) {
	if testing.Short() {
		t.Skip("10 MiB documents")
	}
	c, conn := setupShop(t)
	a := newTestApplier(t, conn, Config{})
	big := strings.Repeat("x", 10<<20)
	var evs []events.Event
	for i := 1; i <= 3; i++ {
		evs = append(evs, docEvent(fmt.Sprintf("big%d", i), uint64(i), `,"blob":"`+big+`"`))
	}
	if err := a.Apply(context.Background(), newStream(shopShard, 1).batch(evs...)); err != nil {
		t.Fatalf("Apply 3 × 10 MiB: %v", err)
	}
	got := contents(t, c, "shop", "orders")
	for i := 1; i <= 3; i++ {
		d := got[fmt.Sprintf("big%d", i)]
		var v struct {
			Rev  string `json:"_rev"`
			Blob string `json:"blob"`
		}
		if err := json.Unmarshal([]byte(d), &v); err != nil || len(v.Blob) != 10<<20 || v.Rev != rev(uint64(i)) {
			t.Fatalf("big%d: %d bytes, rev %q, %v", i, len(v.Blob), v.Rev, err)
		}
	}
}

// TestParallelRunsKeepPerKeyOrderAndRepairSafely writes long runs through
// concurrent request streams: a key written twice ends with its last
// version, and a unique conflict with a document a concurrent stream is
// about to move never removes that document.
func TestParallelRunsKeepPerKeyOrderAndRepairSafely(t *testing.T) {
	c, conn := setupShop(t)
	createColl(t, conn, "shop", "single", 1)
	mustDo(t, conn, Request{Method: "POST", Path: DBPath("shop", "/_api/index"), Query: map[string][]string{"collection": {"single"}},
		Body: []byte(`{"type":"persistent","fields":["u"],"unique":true}`)}, 200, 201)
	shard := events.ShardRef{Database: "shop", CollectionID: "78", Index: 0}
	a, err := NewApplier(conn, resolverFor(shard, "single"), shard, Config{MaxRequestDocs: 1, Parallelism: 4})
	if err != nil {
		t.Fatal(err)
	}
	s := newStream(shard, 1)
	ctx := context.Background()
	n := uint64(1)
	next := func() uint64 { n++; return n }
	for round := 0; round < 15; round++ {
		p, q, q2, r := fmt.Sprintf("p%d", round), fmt.Sprintf("q%d", round), fmt.Sprintf("qq%d", round), fmt.Sprintf("r%d", round)
		u := func(i int) string { return fmt.Sprintf(`,"u":%d`, round*100+i) }
		if err := a.Apply(ctx, s.batch(docEvent(p, next(), u(10)), docEvent(q, next(), u(11)))); err != nil {
			t.Fatal(err)
		}
		// q2 takes p's value, p moves on, r takes q's value, q moves on;
		// p and q are written twice in the run.
		err := a.Apply(ctx, s.batch(docEvent(p, next(), u(20)), docEvent(q2, next(), u(10)), docEvent(p, next(), u(12)),
			docEvent(r, next(), u(11)), docEvent(q, next(), u(13))))
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		got := contents(t, c, "shop", "single")
		for k, want := range map[string]string{p: u(12), q: u(13), q2: u(10), r: u(11)} {
			if !strings.Contains(got[k], want[1:]) {
				t.Fatalf("round %d: %s = %q, want %s", round, k, got[k], want[1:])
			}
		}
	}
}
