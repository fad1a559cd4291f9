package arangosim

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	driver "github.com/arangodb/go-driver"
	dhttp "github.com/arangodb/go-driver/http"
	"github.com/arangodb/go-driver/v2/arangodb"
	"github.com/arangodb/go-driver/v2/arangodb/shared"
	"github.com/arangodb/go-driver/v2/connection"

	"github.com/dc2dc/dc2dc/handlers/arango/revtree"
)

// TestReplGoDriverV1 drives the snapshot endpoints of a DB-Server with
// go-driver v1's Replication API and a superuser JWT, the way a replicator
// built on the official driver would.
func TestReplGoDriverV1(t *testing.T) {
	e := newReplEnv(t)
	col := e.createCollection("drv", 1)
	sh := col.Shards[0]
	var in []map[string]any
	for i := 0; i < 120; i++ {
		in = append(in, map[string]any{"_key": fmt.Sprintf("x%d", i), "i": i})
	}
	meta := e.insert("drv", in)

	s := sh.Leader()
	conn, err := dhttp.NewConnection(dhttp.ConnectionConfig{Endpoints: []string{s.Endpoint()}})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := driver.NewClient(driver.ClientConfig{Connection: conn, Authentication: driver.RawAuthentication("bearer " + e.token)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if tr, ok := http.DefaultTransport.(*http.Transport); ok {
			tr.CloseIdleConnections()
		}
	})
	ctx := context.Background()
	db, err := cl.Database(ctx, "_system")
	if err != nil {
		t.Fatal(err)
	}
	rep := cl.Replication()
	batch, err := rep.CreateBatch(ctx, db, 4711, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if batch.BatchID() == "" || batch.LastTick() == "" {
		t.Fatalf("batch %q at %q", batch.BatchID(), batch.LastTick())
	}
	if err := batch.Extend(ctx, 2*time.Minute); err != nil {
		t.Fatalf("extend: %v", err)
	}
	inv, err := rep.DatabaseInventory(driver.WithBatchID(ctx, batch.BatchID()), db)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range inv.Collections {
		if c.Parameters.Name == sh.Name {
			found = true
		}
	}
	if !found {
		t.Fatalf("inventory lacks shard %s: %+v", sh.Name, inv.Collections)
	}

	tree, err := rep.GetRevisionTree(ctx, db, batch.BatchID(), sh.Name)
	if err != nil {
		t.Fatal(err)
	}
	if tree.Version != 1 || tree.MaxDepth != revtree.DefaultDepth || tree.Count != 120 || len(tree.Nodes) != 262144 {
		t.Fatalf("tree version %d depth %d count %d nodes %d", tree.Version, tree.MaxDepth, tree.Count, len(tree.Nodes))
	}
	ranges, err := rep.GetRevisionsByRanges(ctx, db, batch.BatchID(), sh.Name,
		[]driver.RevisionMinMax{{driver.RevisionUInt64(revtree.LowerBound), driver.RevisionUInt64(1<<63 - 1)}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ranges.Ranges) != 1 || len(ranges.Ranges[0]) != 120 || ranges.Resume != 0 {
		t.Fatalf("ranges %d, resume %d", len(ranges.Ranges), ranges.Resume)
	}
	docs, err := rep.GetRevisionDocuments(ctx, db, batch.BatchID(), sh.Name, ranges.Ranges[0][:5])
	if err != nil {
		t.Fatal(err)
	}
	byRev := map[string]string{}
	for _, m := range meta {
		byRev[m["_rev"].(string)] = m["_key"].(string)
	}
	for i, d := range docs {
		want := byRev[revtree.EncodeHLC(uint64(ranges.Ranges[0][i]))]
		if d["_key"] != want {
			t.Fatalf("document %d is %v, want key %s", i, d["_key"], want)
		}
	}
	if err := batch.Delete(ctx); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := rep.GetRevisionTree(ctx, db, batch.BatchID(), sh.Name); !driver.IsNotFoundGeneral(err) {
		t.Fatalf("tree of a deleted batch: %v", err)
	}
}

// TestReplGoDriverV2Trampoline drives batch and inventory through a
// Coordinator with go-driver v2's replication client, which insists on
// DBserver= there (arangod's trampoline), with basic auth as root.
func TestReplGoDriverV2Trampoline(t *testing.T) {
	e := newReplEnv(t)
	col := e.createCollection("v2repl", 2)
	cl := v2Client(t, e.c, connection.NewBasicAuth("root", "pw"))
	ctx := context.Background()
	rep := cl // ClientReplication is embedded in arangodb.Client
	target := col.Shards[0].Leader()
	id := target.ID
	yes := true
	b, err := rep.CreateNewBatch(ctx, "_system", &id, &yes, arangodb.CreateNewBatchOptions{Ttl: 60})
	if err != nil {
		t.Fatal(err)
	}
	if b.ID == "" || b.LastTick == "" || b.State["running"] != true {
		t.Fatalf("batch %+v", b)
	}
	if err := rep.ExtendBatch(ctx, "_system", &id, b.ID, arangodb.CreateNewBatchOptions{Ttl: 120}); err != nil {
		t.Fatalf("extend: %v", err)
	}
	shard := col.Shards[0].Name
	inv, err := rep.GetInventory(ctx, "_system", arangodb.InventoryQueryParams{BatchID: b.ID, DBserver: &id, Collection: &shard})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Collections) != 1 || inv.State.LastLogTick == nil || *inv.State.LastLogTick != b.LastTick {
		t.Fatalf("inventory %+v", inv)
	}
	if _, err := rep.CreateNewBatch(ctx, "_system", nil, nil, arangodb.CreateNewBatchOptions{Ttl: 60}); err == nil {
		t.Fatal("go-driver v2 accepted a Coordinator batch without DBserver")
	}
	if err := rep.DeleteBatch(ctx, "_system", &id, b.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if err := rep.DeleteBatch(ctx, "_system", &id, b.ID); !shared.IsNotFound(err) {
		t.Fatalf("second delete: %v", err)
	}
}
