package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	driver "github.com/arangodb/go-driver"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/arango/wal"
	"github.com/dc2dc/dc2dc/handlers/source"
)

// collector is a source.Sink that keeps every Emit and the documents the
// records amount to.
type collector struct {
	mu    sync.Mutex
	emits []emitted
	docs  map[string]json.RawMessage
	ended bool // SnapshotEnd seen
}

type emitted struct {
	recs []events.Record
	pos  source.Position
}

func newCollector() *collector { return &collector{docs: map[string]json.RawMessage{}} }

func (c *collector) Emit(_ context.Context, recs []events.Record, pos source.Position) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.emits = append(c.emits, emitted{recs: slices.Clone(recs), pos: pos})
	for _, r := range recs {
		switch ev := r.Event.(type) {
		case *events.SnapshotDocuments:
			for _, d := range ev.Docs {
				k, _, err := wal.KeyRev(d)
				if err != nil {
					return err
				}
				c.docs[k] = d
			}
		case *events.SnapshotRemove:
			for _, kr := range ev.Keys {
				delete(c.docs, kr.Key)
			}
		case *events.Document:
			c.docs[ev.Key] = ev.Doc
		case *events.Remove:
			delete(c.docs, ev.Key)
		case *events.SnapshotEnd:
			c.ended = true
		}
	}
	return nil
}

func (c *collector) snapshotEnded() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ended
}

func (c *collector) state() map[string]json.RawMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]json.RawMessage, len(c.docs))
	for k, v := range c.docs {
		out[k] = v
	}
	return out
}

func (c *collector) all() []emitted {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.emits)
}

// running is a Source running in the background.
type running struct {
	sink   *collector
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// wait returns Run's result once it has returned.
func (r *running) wait(t testing.TB) error {
	t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(Timeout):
		t.Fatalf("the source did not return within %v", Timeout)
		return nil
	}
}

func (r *running) stop() error {
	r.cancel()
	<-r.done
	return r.err
}

func sourceConfig() source.Config {
	return source.Config{PollInterval: 10 * time.Millisecond, RetryBackoff: 10 * time.Millisecond, MaxRetryBackoff: 200 * time.Millisecond,
		ChunkSize: 64 << 10, DumpChunkSize: 16 << 10, MaxRecords: 100, SyncerID: 4712, ServerID: 4712, ClientInfo: "dc2dc conformance",
		BatchTTL: 60 * time.Second}
}

// startSource runs one epoch of shard s in the background; leaders may be
// nil.
func (e *env) startSource(db string, col *client.Collection, s client.Shard, start source.Start, leaders source.Leaders) *running {
	e.t.Helper()
	sh := source.Shard{Ref: events.ShardRef{Database: db, CollectionID: col.ID, Index: s.Index}, Collection: col.Name, Name: s.Name, Leader: s.Leader}
	r := &running{sink: newCollector(), done: make(chan struct{})}
	src, err := source.New(sourceConfig(), sh, start, e.cl, leaders, nil, r.sink)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	r.cancel = cancel
	go func() {
		defer close(r.done)
		r.err = src.Run(ctx)
	}()
	e.t.Cleanup(func() { _ = r.stop() })
	return r
}

// dumpShard reads a shard's documents on its leader through a replication
// batch and /_api/replication/dump: key → document.
func (e *env) dumpShard(db, shard, leader string) map[string]json.RawMessage {
	e.t.Helper()
	out, err := dumpShard(e.ctx, e.dbserver(leader), db, shard)
	if err != nil {
		e.t.Fatalf("dump of %s on %s: %v", shard, leader, err)
	}
	return out
}

func dumpShard(ctx context.Context, conn *client.Conn, db, shard string) (map[string]json.RawMessage, error) {
	resp, err := conn.Do(ctx, client.Request{Method: "POST", Path: client.DBPath(db, "_api/replication/batch"),
		Query: url.Values{"serverId": {"4713"}}, Body: []byte(`{"ttl":60}`)}, 200)
	if err != nil {
		return nil, err
	}
	var b struct {
		ID       string `json:"id"`
		LastTick string `json:"lastTick"`
	}
	if err := json.Unmarshal(resp.Body, &b); err != nil {
		return nil, err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = conn.Do(dctx, client.Request{Method: "DELETE", Path: client.DBPath(db, "_api/replication/batch", b.ID)}, 200, 204, 404)
	}()
	tick, _ := strconv.ParseUint(b.LastTick, 10, 64)
	out := map[string]json.RawMessage{}
	var from uint64
	for {
		q := url.Values{"collection": {shard}, "batchId": {b.ID}, "useEnvelope": {"false"}, "chunkSize": {"65536"},
			"from": {strconv.FormatUint(from, 10)}, "to": {strconv.FormatUint(tick+1, 10)}, "serverId": {"4713"}}
		resp, err := conn.Do(ctx, client.Request{Method: "GET", Path: client.DBPath(db, "_api/replication/dump"), Query: q}, 200, 204)
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(bytes.NewReader(resp.Body))
		for dec.More() {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, fmt.Errorf("dump body: %w", err)
			}
			k, _, err := wal.KeyRev(raw)
			if err != nil {
				return nil, err
			}
			out[k] = raw
		}
		if resp.Status == 204 || resp.Header(wal.HeaderCheckMore) != "true" {
			return out, nil
		}
		li, _ := strconv.ParseUint(resp.Header(wal.HeaderLastIncluded), 10, 64)
		if li <= from {
			return out, nil
		}
		from = li
	}
}

// sameDocs compares two key → document maps by JSON value; "" means equal.
func sameDocs(want, got map[string]json.RawMessage) string {
	var diffs []string
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			diffs = append(diffs, "missing "+k)
			continue
		}
		if !jsonEqual(w, g) {
			diffs = append(diffs, fmt.Sprintf("%s: %s vs %s", k, w, g))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, "extra "+k)
		}
	}
	if len(diffs) == 0 {
		return ""
	}
	sort.Strings(diffs)
	if len(diffs) > 5 {
		diffs = append(diffs[:5], fmt.Sprintf("… %d more", len(diffs)-5))
	}
	return fmt.Sprintf("%d vs %d documents: %v", len(want), len(got), diffs)
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// changeDocs changes a collection made by insertDocs(0, 300): inserts,
// updates, removes, and a stream transaction that does all three.
func changeDocs(t *testing.T, e *env, db driver.Database, col driver.Collection) {
	t.Helper()
	ctx := e.ctx
	insertDocs(t, ctx, col, 300, 60)
	for i := 0; i < 30; i++ {
		if _, err := col.UpdateDocument(ctx, "k"+strconv.Itoa(i), map[string]any{"s": "updated"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 30; i < 50; i++ {
		if _, err := col.RemoveDocument(ctx, "k"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	tid, err := db.BeginTransaction(ctx, driver.TransactionCollections{Write: []string{col.Name()}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tctx := driver.WithTransactionID(ctx, tid)
	insertDocs(t, tctx, col, 1000, 10)
	for i := 50; i < 60; i++ {
		if _, err := col.UpdateDocument(tctx, "k"+strconv.Itoa(i), map[string]any{"s": "in a transaction"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 60; i < 65; i++ {
		if _, err := col.RemoveDocument(tctx, "k"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CommitTransaction(ctx, tid, nil); err != nil {
		t.Fatal(err)
	}
}

// testSource: a full-snapshot epoch of a shard, then tailing through
// inserts, updates, removes and a transaction: the records reproduce the
// shard's documents exactly (compared with a dump on the leader).
func testSource(t *testing.T, e *env) {
	dbName, db := e.database()
	col, c := e.collection(db, "orders", 3, 2)
	insertDocs(t, e.ctx, col, 0, 300)
	s := c.Shards[0]
	r := e.startSource(dbName, c, s, source.Start{Epoch: 1}, nil)
	e.waitFor("the snapshot of "+s.Name, func() (bool, string) { return r.sink.snapshotEnded(), "no SnapshotEnd yet" })
	if d := sameDocs(e.dumpShard(dbName, s.Name, s.Leader), r.sink.state()); d != "" {
		t.Fatalf("after the snapshot: dump vs records: %s", d)
	}
	changeDocs(t, e, db, col)
	e.waitFor("the records to reproduce "+s.Name, func() (bool, string) {
		d := sameDocs(e.dumpShard(dbName, s.Name, s.Leader), r.sink.state())
		return d == "", "dump vs records: " + d
	})
	if err := r.stop(); !isCanceled(err) {
		t.Fatalf("Run after cancel = %v", err)
	}
	// Positions: the snapshot phase, then tailing positions that ascend.
	var last uint64
	for _, em := range r.sink.all() {
		if em.pos.Epoch != 1 || em.pos.Leader != s.Leader {
			t.Errorf("emit position %+v", em.pos)
		}
		if em.pos.Phase == source.PhaseTailing {
			if em.pos.Tick < last {
				t.Errorf("tailing position went back: %d after %d", em.pos.Tick, last)
			}
			last = em.pos.Tick
		}
	}
}
