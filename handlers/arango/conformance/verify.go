package conformance

import (
	"encoding/json"
	"testing"

	driver "github.com/arangodb/go-driver"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/arango/verify"
	"github.com/dc2dc/dc2dc/handlers/target"
)

// copyCollection copies every document of from into to (same sharding)
// with isRestore, through an Applier, so both hold the same _key and _rev.
func (e *env) copyCollection(db driver.Database, c *client.Collection, to string) int {
	e.t.Helper()
	var docs []json.RawMessage
	for _, s := range c.Shards {
		for _, d := range e.dumpShard(db.Name(), s.Name, s.Leader) {
			docs = append(docs, d)
		}
	}
	ref := events.ShardRef{Database: db.Name(), CollectionID: "copy", Index: 0}
	a, err := target.NewApplier(conn(e.t, e.c), fixedResolver(to), ref, target.Config{})
	if err != nil {
		e.t.Fatal(err)
	}
	b := &events.Batch{Shard: ref, Prev: events.Position{Epoch: 1}, Pos: events.Position{Epoch: 1, Sub: 1},
		Records: []events.Record{{Event: &events.SnapshotDocuments{Docs: docs}}}}
	if err := a.Apply(e.ctx, b); err != nil {
		e.t.Fatalf("copying %s to %s: %v", c.Name, to, err)
	}
	return len(docs)
}

// testVerify: a collection and its copy (same sharding, written with
// isRestore) have equal counts and checksums per shard and as a whole; a
// planted difference in the copy is listed by key and kind, in its shard
// only.
func testVerify(t *testing.T, e *env) {
	dbName, db := e.database()
	col, c := e.collection(db, "orders", 3, 1)
	e.collection(db, "orders_copy", 3, 1)
	insertDocs(t, e.ctx, col, 0, 500)
	if n := e.copyCollection(db, c, "orders_copy"); n != 500 {
		t.Fatalf("copied %d documents", n)
	}
	A := verifyCluster(t, e.c)
	for k := range c.Shards {
		rep, err := verify.CompareShards(e.ctx, A, A, dbName, "orders", "orders_copy", k, verify.Config{})
		if err != nil {
			t.Fatalf("shard %d: %v", k, err)
		}
		if !rep.Equal || len(rep.Differences) != 0 || rep.A.Count != rep.B.Count || rep.A.Checksum != rep.B.Checksum || rep.A.Count == 0 {
			t.Errorf("shard %d of a copy: %+v", k, rep)
		}
	}
	coord := conn(t, e.c)
	sa, err := verify.Collection(e.ctx, coord, dbName, "orders", false)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := verify.Collection(e.ctx, coord, dbName, "orders_copy", false)
	if err != nil {
		t.Fatal(err)
	}
	if sa != sb || sa.Count != 500 || sa.Checksum == "" {
		t.Errorf("collection summaries: orders %+v, copy %+v", sa, sb)
	}

	// Plant differences in the copy: a changed document, a removed one, an
	// extra one.
	copyCol, err := db.Collection(e.ctx, "orders_copy")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := copyCol.UpdateDocument(e.ctx, "k7", map[string]any{"s": "planted"}); err != nil {
		t.Fatal(err)
	}
	if _, err := copyCol.RemoveDocument(e.ctx, "k8"); err != nil {
		t.Fatal(err)
	}
	if _, err := copyCol.CreateDocument(e.ctx, doc{Key: "planted", N: -1}); err != nil {
		t.Fatal(err)
	}
	want := map[string]verify.Kind{"k7": verify.Differs, "k8": verify.MissingInB, "planted": verify.ExtraInB}
	got := map[string]verify.Kind{}
	for k := range c.Shards {
		rep, err := verify.CompareShards(e.ctx, A, A, dbName, "orders", "orders_copy", k, verify.Config{DocsPerRequest: 7})
		if err != nil {
			t.Fatalf("shard %d: %v", k, err)
		}
		if rep.Equal != (len(rep.Differences) == 0) {
			t.Errorf("shard %d: Equal %v with %d differences", k, rep.Equal, len(rep.Differences))
		}
		for _, d := range rep.Differences {
			if _, dup := got[d.Key]; dup {
				t.Errorf("key %s listed twice", d.Key)
			}
			got[d.Key] = d.Kind
		}
	}
	if len(got) != len(want) {
		t.Errorf("differences %v, want %v", got, want)
	}
	for k, kind := range want {
		if got[k] != kind {
			t.Errorf("key %s: %q, want %q (all: %v)", k, got[k], kind, got)
		}
	}
}
