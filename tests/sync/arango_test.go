package sync_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	driver "github.com/arangodb/go-driver"

	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/tests/harness"
)

// arango connects to a datacenter's cluster as superuser (JWT secret).
func arango(t *testing.T, dc *harness.DC) *client.Client {
	t.Helper()
	cl, err := client.New(client.Config{Endpoints: dc.Coordinators, JWTSecret: dc.JWTSecret})
	if err != nil {
		t.Fatalf("connect to cluster %s: %v", dc.Name, err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// bulkLoad creates db/coll (shards shards, if missing) in dc and inserts n
// documents of about size bytes each, keys prefix0…prefix<n-1>, in batches.
func bulkLoad(t *testing.T, dc *harness.DC, db, coll string, shards, n, size int, prefix string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d := arango(t, dc).Driver()
	database, err := d.Database(ctx, db)
	if driver.IsNotFoundGeneral(err) {
		database, err = d.CreateDatabase(ctx, db, nil)
	}
	if err != nil {
		t.Fatalf("database %s in %s: %v", db, dc.Name, err)
	}
	col, err := database.Collection(ctx, coll)
	if driver.IsNotFoundGeneral(err) {
		col, err = database.CreateCollection(ctx, coll, &driver.CreateCollectionOptions{NumberOfShards: shards, ReplicationFactor: 2})
	}
	if err != nil {
		t.Fatalf("collection %s/%s in %s: %v", db, coll, dc.Name, err)
	}
	pad := strings.Repeat("x", size)
	const batch = 500
	for i := 0; i < n; i += batch {
		docs := make([]map[string]any, 0, batch)
		for j := i; j < min(i+batch, n); j++ {
			docs = append(docs, map[string]any{"_key": fmt.Sprintf("%s%d", prefix, j), "n": j, "pad": pad})
		}
		if _, _, err := col.CreateDocuments(ctx, docs); err != nil {
			t.Fatalf("insert into %s/%s in %s: %v", db, coll, dc.Name, err)
		}
	}
}

// countDocs counts db/coll in dc.
func countDocs(t *testing.T, dc *harness.DC, db, coll string) (int64, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := arango(t, dc).Driver()
	database, err := d.Database(ctx, db)
	if err != nil {
		return 0, err
	}
	col, err := database.Collection(ctx, coll)
	if err != nil {
		return 0, err
	}
	return col.Count(ctx)
}

// writeDoc writes one document into db/coll of dc as the user root (not
// the superuser JWT) and returns the error: a read-only cluster refuses it.
func writeDoc(t *testing.T, dc *harness.DC, db, coll, key string, v int) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := client.New(client.Config{Endpoints: dc.Coordinators, Username: "root", Password: harness.TopologyRootPassword})
	if err != nil {
		return err
	}
	defer cl.Close()
	d := cl.Driver()
	database, err := d.Database(ctx, db)
	if err != nil {
		return err
	}
	col, err := database.Collection(ctx, coll)
	if err != nil {
		return err
	}
	_, err = col.CreateDocument(driver.WithOverwriteMode(ctx, driver.OverwriteModeReplace), map[string]any{"_key": key, "v": v})
	return err
}
