package arangosim

import (
	"context"
	"net/http"
	"testing"

	driver "github.com/arangodb/go-driver"
)

func TestDataDirSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	cfg := Config{DataDir: dir, RootPassword: "pw", JWTSecret: "s"}
	c1, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cl := v1Client(t, c1, driver.BasicAuthentication("root", "pw"))
	db, err := cl.CreateDatabase(ctx, "keep", nil)
	if err != nil {
		t.Fatal(err)
	}
	col, err := db.CreateCollection(ctx, "things", &driver.CreateCollectionOptions{NumberOfShards: 2, ReplicationFactor: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := col.CreateDocuments(ctx, []map[string]any{{"_key": "a", "v": 1}, {"_key": "b", "v": 2}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ { // generated keys, after the last catalog write
		if _, err := col.CreateDocument(ctx, map[string]any{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := col.RemoveDocument(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	bob, err := cl.CreateUser(ctx, "bob", &driver.UserOptions{Password: "bpw"})
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.SetDatabaseAccess(ctx, db, driver.GrantReadWrite); err != nil {
		t.Fatal(err)
	}
	ids := map[string]uint64{}
	for _, s := range c1.DBServers() {
		ids[s.ID] = s.WAL().LastTick()
	}
	var meta driver.DocumentMeta
	var doc map[string]any
	if meta, err = col.ReadDocument(ctx, "a", &doc); err != nil {
		t.Fatal(err)
	}
	if err := c1.Close(); err != nil {
		t.Fatal(err)
	}
	http.DefaultClient.CloseIdleConnections()

	c2 := startSim(t, cfg)
	for _, s := range c2.DBServers() {
		last, ok := ids[s.ID]
		if !ok {
			t.Fatalf("server id %s not kept", s.ID)
		}
		if s.WAL().LastTick() != last {
			t.Fatalf("%s last tick %d, want %d", s.ShortName, s.WAL().LastTick(), last)
		}
	}
	cl2 := v1Client(t, c2, driver.BasicAuthentication("bob", "bpw"))
	bdb, err := cl2.Database(ctx, "keep")
	if err != nil {
		t.Fatalf("restored user cannot log in: %v", err)
	}
	if _, err := bdb.Collection(ctx, "things"); err != nil {
		t.Fatalf("restored user cannot log in: %v", err)
	}
	cl2 = v1Client(t, c2, driver.BasicAuthentication("root", "pw"))
	db2, err := cl2.Database(ctx, "keep")
	if err != nil {
		t.Fatal(err)
	}
	col2, err := db2.Collection(ctx, "things")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := col2.Count(ctx); err != nil || n != 21 {
		t.Fatalf("count after restart = %d, %v", n, err)
	}
	m2, err := col2.ReadDocument(ctx, "a", &doc)
	if err != nil || m2.Rev != meta.Rev {
		t.Fatalf("doc after restart rev %s (want %s), %v", m2.Rev, meta.Rev, err)
	}
	// New writes get new ticks after the restored ones, and generated keys never repeat.
	if _, err := col2.CreateDocument(ctx, map[string]any{"_key": "c"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if _, err := col2.CreateDocument(ctx, map[string]any{"n": i}); err != nil {
			t.Fatalf("generated key after restart: %v", err)
		}
	}
	grew := false
	for _, s := range c2.DBServers() {
		if s.WAL().LastTick() > ids[s.ID] {
			grew = true
		}
	}
	if !grew {
		t.Fatal("no WAL advanced after a write")
	}
}
