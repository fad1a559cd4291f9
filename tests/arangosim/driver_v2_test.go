package arangosim

import (
	"context"
	"net/http"
	"testing"

	"github.com/arangodb/go-driver/v2/arangodb"
	"github.com/arangodb/go-driver/v2/arangodb/shared"
	"github.com/arangodb/go-driver/v2/connection"
)

func v2Client(t testing.TB, c *Cluster, auth connection.Authentication) arangodb.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	conn := connection.NewHttpConnection(connection.HttpConfiguration{
		Endpoint: connection.NewRoundRobinEndpoints([]string{c.Endpoint()}), Authentication: auth,
		ContentType: connection.ApplicationJSON, Transport: tr,
	})
	return arangodb.NewClient(conn)
}

func TestDriverV2(t *testing.T) {
	c := startSim(t, Config{RootPassword: "pw"})
	ctx := context.Background()
	cl := v2Client(t, c, connection.NewBasicAuth("root", "pw"))
	v, err := cl.Version(ctx)
	if err != nil || v.Version != "3.12.10" {
		t.Fatalf("Version = %+v, %v", v, err)
	}
	db, err := cl.CreateDatabase(ctx, "v2db", nil)
	if err != nil {
		t.Fatalf("CreateDatabase: %v", err)
	}
	if _, err := cl.GetDatabase(ctx, "v2db", nil); err != nil {
		t.Fatalf("GetDatabase: %v", err)
	}
	col, err := db.CreateCollectionV2(ctx, "items", &arangodb.CreateCollectionPropertiesV2{})
	if err != nil {
		t.Fatalf("CreateCollection: %v", err)
	}
	meta, err := col.CreateDocument(ctx, map[string]any{"_key": "a", "v": 1})
	if err != nil || meta.Key != "a" {
		t.Fatalf("CreateDocument = %+v, %v", meta, err)
	}
	restore := true
	rm, err := col.CreateDocumentWithOptions(ctx, map[string]any{"_key": "b", "_rev": "_l6zhVDW---"},
		&arangodb.CollectionDocumentCreateOptions{IsRestore: &restore})
	if err != nil || rm.Rev != "_l6zhVDW---" {
		t.Fatalf("isRestore = %+v, %v", rm, err)
	}
	var out map[string]any
	if _, err := col.ReadDocument(ctx, "a", &out); err != nil || out["v"].(float64) != 1 {
		t.Fatalf("ReadDocument = %v, %v", out, err)
	}
	if _, err := col.ReadDocument(ctx, "zz", &out); !shared.IsNotFound(err) {
		t.Fatalf("missing doc: %v", err)
	}
	if _, err := col.UpdateDocument(ctx, "a", map[string]any{"w": 2}); err != nil {
		t.Fatalf("UpdateDocument: %v", err)
	}
	if n, err := col.Count(ctx); err != nil || n != 2 {
		t.Fatalf("Count = %d, %v", n, err)
	}
	trx, err := db.BeginTransaction(ctx, arangodb.TransactionCollections{Write: []string{"items"}}, nil)
	if err != nil {
		t.Fatalf("BeginTransaction: %v", err)
	}
	tcol, err := trx.GetCollection(ctx, "items", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tcol.CreateDocument(ctx, map[string]any{"_key": "t"}); err != nil {
		t.Fatalf("trx insert: %v", err)
	}
	if _, err := col.ReadDocument(ctx, "t", &out); !shared.IsNotFound(err) {
		t.Fatalf("uncommitted visible: %v", err)
	}
	if err := trx.Commit(ctx, nil); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if _, err := col.ReadDocument(ctx, "t", &out); err != nil {
		t.Fatalf("committed invisible: %v", err)
	}
	h, err := cl.Health(ctx)
	if err != nil || len(h.Health) != 4 {
		t.Fatalf("Health = %+v, %v", h, err)
	}
	if _, err := col.DeleteDocument(ctx, "a"); err != nil {
		t.Fatalf("DeleteDocument: %v", err)
	}
}
