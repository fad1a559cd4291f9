package conformance

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	driver "github.com/arangodb/go-driver"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/arango/wal"
)

// walShard is a one-shard collection and a Tailer on its leader.
type walShard struct {
	db     string
	col    driver.Collection
	dbase  driver.Database
	shard  client.Shard
	leader *client.Conn
}

func (e *env) walShard() walShard {
	e.t.Helper()
	dbName, db := e.database()
	col, c := e.collection(db, "wal", 1, 1)
	s := c.Shards[0]
	return walShard{db: dbName, col: col, dbase: db, shard: s, leader: e.dbserver(s.Leader)}
}

func (w walShard) tailer(from uint64) *wal.Tailer {
	return &wal.Tailer{DBServer: w.leader, Database: w.db, Shard: w.shard.Name, From: from, ChunkSize: 8 << 20,
		SyncerID: 4711, ClientInfo: "dc2dc conformance"}
}

// tailUntil calls Next until done says the records read so far are complete,
// checking on the way that every record's tick is above the From it was
// asked with and that ticks ascend strictly.
func (e *env) tailUntil(tl *wal.Tailer, done func([]events.Record) (bool, string)) []events.Record {
	e.t.Helper()
	var all []events.Record
	var last uint64
	e.waitFor("the WAL tail of "+tl.Shard, func() (bool, string) {
		for {
			from := tl.From
			recs, st, err := tl.Next(e.ctx)
			if err != nil {
				e.t.Fatalf("Next from %d: %v", from, err)
			}
			for _, r := range recs {
				if r.Tick <= from || r.Tick <= last {
					e.t.Fatalf("record %s at tick %d after from=%d, previous tick %d", r.Event.Kind(), r.Tick, from, last)
				}
				last = r.Tick
			}
			all = append(all, recs...)
			if ok, why := done(all); ok || !st.CheckMore {
				return ok, why
			}
		}
	})
	return all
}

// dataOps renders the document and remove records: "D k1", "R k2".
func dataOps(recs []events.Record) []string {
	var out []string
	for _, r := range recs {
		switch ev := r.Event.(type) {
		case *events.Document:
			out = append(out, "D "+ev.Key)
		case *events.Remove:
			out = append(out, "R "+ev.Key)
		}
	}
	return out
}

// testWALTail: inserts, an update, a remove and a stream transaction come
// out of the leader's WAL once each, in order; the transaction's writes are
// framed by 2200 … 2201 with their tid.
func testWALTail(t *testing.T, e *env) {
	w := e.walShard()
	start := e.lastTick(w.leader, w.db)
	ctx := e.ctx
	for _, k := range []string{"k1", "k2", "k3"} {
		if _, err := w.col.CreateDocument(ctx, doc{Key: k, N: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.col.UpdateDocument(ctx, "k1", map[string]any{"n": 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.col.ReplaceDocument(ctx, "k3", doc{Key: "k3", N: 3, S: "replaced"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.col.RemoveDocument(ctx, "k2"); err != nil {
		t.Fatal(err)
	}
	tid, err := w.dbase.BeginTransaction(ctx, driver.TransactionCollections{Write: []string{"wal"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tctx := driver.WithTransactionID(ctx, tid)
	if _, err := w.col.CreateDocument(tctx, doc{Key: "t1", N: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.col.CreateDocument(tctx, doc{Key: "t2", N: 11}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.col.UpdateDocument(tctx, "k1", map[string]any{"n": 12}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.col.RemoveDocument(tctx, "k3"); err != nil {
		t.Fatal(err)
	}
	if err := w.dbase.CommitTransaction(ctx, tid, nil); err != nil {
		t.Fatal(err)
	}
	want := []string{"D k1", "D k2", "D k3", "D k1", "D k3", "R k2", "D t1", "D t2", "D k1", "R k3"}
	recs := e.tailUntil(w.tailer(start), func(r []events.Record) (bool, string) {
		got := dataOps(r)
		return len(got) >= len(want), fmt.Sprintf("%d of %d operations: %v", len(got), len(want), got)
	})
	if got := dataOps(recs); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("operations %v, want %v", got, want)
	}
	// Documents carry the full new document; removes the removed revision.
	for _, r := range recs {
		switch ev := r.Event.(type) {
		case *events.Document:
			k, rev, err := wal.KeyRev(ev.Doc)
			if err != nil || k != ev.Key || rev != ev.Rev || ev.Rev == "" {
				t.Errorf("document %s@%s: data %s (%v)", ev.Key, ev.Rev, ev.Doc, err)
			}
		case *events.Remove:
			if ev.Rev == "" {
				t.Errorf("remove of %s without the removed revision", ev.Key)
			}
		}
	}
	// The stream transaction: 2200, its 4 writes with its tid, 2201.
	var txn []string
	for _, r := range recs {
		switch ev := r.Event.(type) {
		case *events.TransactionStart:
			txn = append(txn, "start "+ev.TID)
		case *events.TransactionCommit:
			txn = append(txn, "commit "+ev.TID)
		case *events.Document:
			if ev.TID != "" && ev.TID != "0" {
				txn = append(txn, "D "+ev.Key+" "+ev.TID)
			}
		case *events.Remove:
			if ev.TID != "" && ev.TID != "0" {
				txn = append(txn, "R "+ev.Key+" "+ev.TID)
			}
		}
	}
	// Single-document operations may be framed as transactions of one write
	// (arangod may do so); the stream transaction is the frame with 4 writes.
	found, txnTID := false, ""
	for i := 0; i+5 < len(txn); i++ {
		if !strings.HasPrefix(txn[i], "start ") {
			continue
		}
		id := strings.TrimPrefix(txn[i], "start ")
		exp := []string{"start " + id, "D t1 " + id, "D t2 " + id, "D k1 " + id, "R k3 " + id, "commit " + id}
		if strings.Join(txn[i:i+6], ",") == strings.Join(exp, ",") {
			found = true
			txnTID = id
		}
	}
	if !found {
		t.Fatalf("no 2200 … 2201 frame around the stream transaction's writes: %v", txn)
	}
	t.Logf("stream transaction tid %s", txnTID)
}

func txnKinds(recs []events.Record) string {
	var b strings.Builder
	for _, r := range recs {
		b.WriteString(r.Event.Kind().String())
		b.WriteByte(' ')
	}
	return b.String()
}

// testWALEmpty: once everything is read, a tail answers 204 with no records;
// the position does not go back, nothing is included and the caller is not
// told to call again at once.
func testWALEmpty(t *testing.T, e *env) {
	w := e.walShard()
	start := e.lastTick(w.leader, w.db)
	if _, err := w.col.CreateDocument(e.ctx, doc{Key: "a", N: 1}); err != nil {
		t.Fatal(err)
	}
	tl := w.tailer(start)
	e.tailUntil(tl, func(r []events.Record) (bool, string) {
		return len(dataOps(r)) == 1, fmt.Sprintf("records %s", txnKinds(r))
	})
	before := tl.From
	// Other shards' writes may still be scanned: call until the leader has
	// nothing more to say, then once more.
	var st wal.State
	e.waitFor("an empty tail", func() (bool, string) {
		recs, s, err := tl.Next(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(dataOps(recs)) != 0 {
			t.Fatalf("records after everything was read: %s", txnKinds(recs))
		}
		st = s
		return s.Status == 204, fmt.Sprintf("status %d", s.Status)
	})
	if st.LastIncluded != 0 || st.CheckMore || tl.From < before || st.LastTick < tl.From {
		t.Errorf("empty tail: %+v (From before %d, after %d)", st, before, tl.From)
	}
	// The raw 204: empty body, headers still set, frompresent true.
	resp, err := w.leader.Do(e.ctx, client.Request{Method: "GET", Path: client.DBPath(w.db, "_api/wal/tail"),
		Query: walQuery(w.shard.Name, tl.From)}, 200, 204)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status == 204 {
		if len(resp.Body) != 0 || resp.Header(wal.HeaderLastIncluded) != "0" || resp.Header(wal.HeaderFromPresent) != "true" ||
			resp.Header(wal.HeaderCheckMore) != "false" || !resp.HasHeader(wal.HeaderLastScanned) || !resp.HasHeader(wal.HeaderLastTick) {
			t.Errorf("204: body %q, headers included=%q present=%q checkmore=%q scanned=%q tick=%q", resp.Body,
				resp.Header(wal.HeaderLastIncluded), resp.Header(wal.HeaderFromPresent), resp.Header(wal.HeaderCheckMore),
				resp.Header(wal.HeaderLastScanned), resp.Header(wal.HeaderLastTick))
		}
		if ct := resp.Header("Content-Type"); !strings.HasPrefix(ct, "application/x-arango-dump") {
			t.Errorf("204 content-type %q", ct)
		}
	}
}

// testWALFromZero: a tail from tick 0 is never "start tick not present"
// (whatever frompresent says, there is nothing before 0 to miss) and
// returns the shard's operations from the start.
func testWALFromZero(t *testing.T, e *env) {
	w := e.walShard()
	for _, k := range []string{"z1", "z2"} {
		if _, err := w.col.CreateDocument(e.ctx, doc{Key: k, N: 1}); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := w.leader.Do(e.ctx, client.Request{Method: "GET", Path: client.DBPath(w.db, "_api/wal/tail"),
		Query: walQuery(w.shard.Name, 0)}, 200, 204)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("from=0: status %d, frompresent=%s", resp.Status, resp.Header(wal.HeaderFromPresent))
	recs := e.tailUntil(w.tailer(0), func(r []events.Record) (bool, string) {
		got := dataOps(r)
		return len(got) >= 2, fmt.Sprintf("operations %v", got)
	})
	if got := dataOps(recs); strings.Join(got, ",") != "D z1,D z2" {
		t.Errorf("operations from tick 0: %v", got)
	}
}

// testWALFromBeyondLastTick: asked from beyond the leader's latest tick, the
// leader returns no records; the Tailer either waits (204, frompresent
// true) or, when the server says frompresent=false, reports that the start
// tick is not present. It never returns a record at or below from.
func testWALBeyond(t *testing.T, e *env) {
	w := e.walShard()
	if _, err := w.col.CreateDocument(e.ctx, doc{Key: "b", N: 1}); err != nil {
		t.Fatal(err)
	}
	beyond := e.lastTick(w.leader, w.db) + 1000
	resp, err := w.leader.Do(e.ctx, client.Request{Method: "GET", Path: client.DBPath(w.db, "_api/wal/tail"),
		Query: walQuery(w.shard.Name, beyond)}, 200, 204)
	if err != nil {
		// RocksDB's GetUpdatesSince fails beyond the latest sequence; a
		// server may turn that into an error answer. The Tailer must then
		// fail too, never return records.
		t.Logf("from=lastTick+1000: error answer: %v", err)
		if recs, _, err := w.tailer(beyond).Next(e.ctx); err == nil || len(recs) != 0 {
			t.Errorf("Next from beyond after an error answer: %d records, %v", len(recs), err)
		}
		return
	}
	t.Logf("from=lastTick+1000: status %d, frompresent=%s, lastincluded=%s, lastscanned=%s, lasttick=%s", resp.Status,
		resp.Header(wal.HeaderFromPresent), resp.Header(wal.HeaderLastIncluded), resp.Header(wal.HeaderLastScanned), resp.Header(wal.HeaderLastTick))
	if resp.Status != 204 || len(resp.Body) != 0 || resp.Header(wal.HeaderLastIncluded) != "0" {
		t.Errorf("from beyond the last tick: status %d, body %q, lastincluded %q; want 204, empty, 0", resp.Status, resp.Body, resp.Header(wal.HeaderLastIncluded))
	}
	tl := w.tailer(beyond)
	recs, st, err := tl.Next(e.ctx)
	switch {
	case errors.Is(err, wal.ErrStartTickNotPresent):
		if resp.Header(wal.HeaderFromPresent) != "false" {
			t.Errorf("ErrStartTickNotPresent although the server said frompresent=%s", resp.Header(wal.HeaderFromPresent))
		}
	case err != nil:
		t.Fatalf("Next from beyond: %v", err)
	default:
		if len(recs) != 0 || st.CheckMore || tl.From < beyond {
			t.Errorf("Next from beyond: %d records, %+v, From %d", len(recs), st, tl.From)
		}
	}
	if lt, _ := strconv.ParseUint(resp.Header(wal.HeaderLastTick), 10, 64); lt >= beyond {
		t.Errorf("lasttick %d >= from %d", lt, beyond)
	}
}

// testWALTruncated: a Tailer whose MaxRecords cuts an answer inside a write
// batch (a stream transaction) must read the rest of the batch on the next
// calls, nothing lost or repeated. (The server skips every batch that starts
// before the scan start, so after a cut the Tailer keeps the lastScanned of
// the cut answer's request: the batch is read again and only the markers
// above from are printed.)
func testWALTruncated(t *testing.T, e *env) {
	w := e.walShard()
	start := e.lastTick(w.leader, w.db)
	if _, err := w.col.CreateDocument(e.ctx, doc{Key: "k1", N: 1}); err != nil {
		t.Fatal(err)
	}
	tid, err := w.dbase.BeginTransaction(e.ctx, driver.TransactionCollections{Write: []string{"wal"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tctx := driver.WithTransactionID(e.ctx, tid)
	insertDocs(t, tctx, w.col, 100, 4)
	if _, err := w.col.RemoveDocument(tctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if err := w.dbase.CommitTransaction(e.ctx, tid, nil); err != nil {
		t.Fatal(err)
	}
	want := "D k1,D k100,D k101,D k102,D k103,R k1"
	tl := w.tailer(start)
	tl.MaxRecords = 3
	var recs []events.Record
	for i := 0; i < 20 && strings.Join(dataOps(recs), ",") != want; i++ {
		got, _, err := tl.Next(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, got...)
	}
	if got := strings.Join(dataOps(recs), ","); got != want {
		t.Fatalf("with MaxRecords 3: operations %s after 20 calls (position from=%d lastScanned=%d), want %s", got, tl.From, tl.LastScanned, want)
	}
	if k := txnKinds(recs); !strings.HasSuffix(strings.TrimSpace(k), "transaction-commit") {
		t.Errorf("records %s: the transaction's commit is missing", k)
	}
}
