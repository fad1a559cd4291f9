package arangosim

import (
	"context"
	"testing"

	"github.com/arangodb/go-driver/v2/arangodb"
	"github.com/arangodb/go-driver/v2/arangodb/shared"
	"github.com/arangodb/go-driver/v2/connection"
)

// In a stream transaction, a write by key on a collection sharded by
// another attribute finds the document the transaction itself wrote (a
// Coordinator asks every shard; each sees the transaction's changes): an
// insert then a removal of the same key in one transaction leaves nothing.
func TestTrxRemoveOwnInsertCustomShardKeys(t *testing.T) {
	c := startSim(t, Config{RootPassword: "pw"})
	ctx := context.Background()
	cl := v2Client(t, c, connection.NewBasicAuth("root", "pw"))
	db, err := cl.CreateDatabase(ctx, "sk", nil)
	if err != nil {
		t.Fatal(err)
	}
	shards := 4
	col, err := db.CreateCollectionV2(ctx, "orders", &arangodb.CreateCollectionPropertiesV2{NumberOfShards: &shards, ShardKeys: &[]string{"c"}})
	if err != nil {
		t.Fatal(err)
	}
	trx, err := db.BeginTransaction(ctx, arangodb.TransactionCollections{Write: []string{"orders"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tcol, err := trx.GetCollection(ctx, "orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := range 8 { // several customers, so some land off the first shard
		m, err := tcol.CreateDocument(ctx, map[string]any{"c": i, "v": 1})
		if err != nil {
			t.Fatalf("insert: %v", err)
		}
		keys = append(keys, m.Key)
	}
	for _, k := range keys {
		if _, err := tcol.UpdateDocument(ctx, k, map[string]any{"v": 2}); err != nil {
			t.Fatalf("update %s (written in this transaction): %v", k, err)
		}
		if _, err := tcol.DeleteDocument(ctx, k); err != nil {
			t.Fatalf("remove %s (written in this transaction): %v", k, err)
		}
	}
	if err := trx.Commit(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := col.Count(ctx); err != nil || n != 0 {
		t.Fatalf("count after the transaction = %d, %v; want 0", n, err)
	}
	var out map[string]any
	if _, err := col.ReadDocument(ctx, keys[len(keys)-1], &out); !shared.IsNotFound(err) {
		t.Fatalf("removed document still readable: %v", err)
	}
}
