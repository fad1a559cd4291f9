package arangosim

import (
	"context"
	"errors"
	"net/http"
	"testing"

	driver "github.com/arangodb/go-driver"
	dhttp "github.com/arangodb/go-driver/http"
)

func v1Client(t testing.TB, c *Cluster, auth driver.Authentication) driver.Client {
	t.Helper()
	conn, err := dhttp.NewConnection(dhttp.ConnectionConfig{Endpoints: []string{c.Endpoint()}})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := driver.NewClient(driver.ClientConfig{Connection: conn, Authentication: auth})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if tr, ok := http.DefaultTransport.(*http.Transport); ok {
			tr.CloseIdleConnections()
		}
	})
	return cl
}

type product struct {
	Key  string `json:"_key,omitempty"`
	Rev  string `json:"_rev,omitempty"`
	Name string `json:"name"`
	Qty  int    `json:"qty"`
}

func TestDriverV1DatabasesCollectionsDocuments(t *testing.T) {
	c := startSim(t, Config{RootPassword: "pw"})
	ctx := context.Background()
	cl := v1Client(t, c, driver.BasicAuthentication("root", "pw"))

	v, err := cl.Version(ctx)
	if err != nil || v.Version != "3.12.10" {
		t.Fatalf("Version = %+v, %v", v, err)
	}
	db, err := cl.CreateDatabase(ctx, "shop", nil)
	if err != nil {
		t.Fatalf("CreateDatabase: %v", err)
	}
	if _, err := cl.CreateDatabase(ctx, "shop", nil); !driver.IsConflict(err) {
		t.Fatalf("duplicate database: want 409, got %v", err)
	}
	names, err := cl.Databases(ctx)
	if err != nil || len(names) != 2 {
		t.Fatalf("Databases = %v, %v", names, err)
	}
	col, err := db.CreateCollection(ctx, "products", &driver.CreateCollectionOptions{NumberOfShards: 3, ReplicationFactor: 2})
	if err != nil {
		t.Fatalf("CreateCollection: %v", err)
	}
	props, err := col.Properties(ctx)
	if err != nil || props.NumberOfShards != 3 || props.ReplicationFactor != 2 || len(props.ShardKeys) != 1 {
		t.Fatalf("Properties = %+v, %v", props, err)
	}
	if _, err := db.Collection(ctx, "nope"); !driver.IsNotFoundGeneral(err) {
		t.Fatalf("unknown collection: want 404, got %v", err)
	}

	meta, err := col.CreateDocument(ctx, product{Key: "p1", Name: "flux", Qty: 1})
	if err != nil || meta.Key != "p1" || meta.Rev == "" {
		t.Fatalf("CreateDocument = %+v, %v", meta, err)
	}
	var got product
	if _, err := col.ReadDocument(ctx, "p1", &got); err != nil || got.Name != "flux" || got.Rev != meta.Rev {
		t.Fatalf("ReadDocument = %+v, %v", got, err)
	}
	if _, err := col.CreateDocument(ctx, product{Key: "p1"}); !driver.IsConflict(err) {
		t.Fatalf("duplicate key: want 409, got %v", err)
	}
	upd, err := col.UpdateDocument(driver.WithRevision(ctx, meta.Rev), "p1", map[string]any{"qty": 5})
	if err != nil || upd.OldRev != meta.Rev {
		t.Fatalf("UpdateDocument = %+v, %v", upd, err)
	}
	if _, err := col.UpdateDocument(driver.WithRevision(ctx, meta.Rev), "p1", map[string]any{"qty": 6}); !driver.IsPreconditionFailed(err) {
		t.Fatalf("stale If-Match: want 412, got %v", err)
	}
	if _, err := col.ReadDocument(ctx, "p1", &got); err != nil || got.Qty != 5 || got.Name != "flux" {
		t.Fatalf("after update: %+v, %v", got, err)
	}

	docs := []product{{Name: "a"}, {Name: "b"}, {Key: "p1", Name: "dup"}}
	metas, errs, err := col.CreateDocuments(ctx, docs)
	if err != nil {
		t.Fatalf("CreateDocuments: %v", err)
	}
	var itemErr driver.ArangoError
	if errs[0] != nil || errs[1] != nil || !errors.As(errs[2], &itemErr) || itemErr.ErrorNum != 1210 {
		t.Fatalf("CreateDocuments errors = %v", errs)
	}
	if metas[0].Key == "" || metas[1].Key == "" {
		t.Fatalf("generated keys missing: %+v", metas)
	}
	n, err := col.Count(ctx)
	if err != nil || n != 3 {
		t.Fatalf("Count = %d, %v", n, err)
	}
	if _, err := col.RemoveDocument(ctx, metas[0].Key); err != nil {
		t.Fatalf("RemoveDocument: %v", err)
	}
	if _, err := col.RemoveDocument(ctx, metas[0].Key); !driver.IsNotFoundGeneral(err) {
		t.Fatalf("remove twice: want 404, got %v", err)
	}

	// isRestore keeps _key and _rev verbatim, on insert and on replace.
	const rev = "_l6zhVDW---"
	rctx := driver.WithIsRestore(ctx, true)
	m, err := col.CreateDocument(rctx, map[string]any{"_key": "r1", "_rev": rev, "x": 1})
	if err != nil || m.Rev != rev {
		t.Fatalf("isRestore insert = %+v, %v", m, err)
	}
	const rev2 = "_l6zhVDX---"
	m, err = col.ReplaceDocument(rctx, "r1", map[string]any{"_key": "r1", "_rev": rev2, "x": 2})
	if err != nil || m.Rev != rev2 {
		t.Fatalf("isRestore replace = %+v, %v", m, err)
	}
	var raw map[string]any
	if _, err := col.ReadDocument(ctx, "r1", &raw); err != nil || raw["_rev"] != rev2 || raw["x"].(float64) != 2 {
		t.Fatalf("read restored = %v, %v", raw, err)
	}

	// Import.
	stats, err := col.ImportDocuments(ctx, []map[string]any{{"_key": "i1"}, {"_key": "i2"}, {"_key": "p1"}},
		&driver.ImportDocumentOptions{OnDuplicate: driver.ImportOnDuplicateIgnore})
	if err != nil || stats.Created != 2 || stats.Ignored != 1 {
		t.Fatalf("ImportDocuments = %+v, %v", stats, err)
	}

	if err := col.Truncate(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := col.Count(ctx); n != 0 {
		t.Fatalf("count after truncate = %d", n)
	}
	if err := col.Remove(ctx); err != nil {
		t.Fatalf("drop collection: %v", err)
	}
	if err := db.Remove(ctx); err != nil {
		t.Fatalf("drop database: %v", err)
	}
}

func TestDriverV1IndexesUsersCluster(t *testing.T) {
	c := startSim(t, Config{RootPassword: "pw", JWTSecret: "secret"})
	ctx := context.Background()
	cl := v1Client(t, c, driver.JWTAuthentication("root", "pw"))
	db, err := cl.Database(ctx, "_system")
	if err != nil {
		t.Fatal(err)
	}
	if multi, err := db.CreateCollection(ctx, "multi", &driver.CreateCollectionOptions{NumberOfShards: 2}); err != nil {
		t.Fatal(err)
	} else if _, _, err := multi.EnsurePersistentIndex(ctx, []string{"email"}, &driver.EnsurePersistentIndexOptions{Unique: true}); err == nil {
		t.Fatal("a unique index without the shard keys on 2 shards must be refused")
	}
	col, err := db.CreateCollection(ctx, "people", &driver.CreateCollectionOptions{NumberOfShards: 1})
	if err != nil {
		t.Fatal(err)
	}
	idx, created, err := col.EnsurePersistentIndex(ctx, []string{"email"}, &driver.EnsurePersistentIndexOptions{Unique: true, Sparse: true})
	if err != nil || !created {
		t.Fatalf("EnsurePersistentIndex = %v, %v", created, err)
	}
	if _, created, err := col.EnsurePersistentIndex(ctx, []string{"email"}, &driver.EnsurePersistentIndexOptions{Unique: true, Sparse: true}); err != nil || created {
		t.Fatalf("second EnsurePersistentIndex created=%v err=%v", created, err)
	}
	if _, _, err := col.EnsureTTLIndex(ctx, "createdAt", 3600, nil); err != nil {
		t.Fatalf("EnsureTTLIndex: %v", err)
	}
	if _, _, err := col.EnsureGeoIndex(ctx, []string{"loc"}, nil); err != nil {
		t.Fatalf("EnsureGeoIndex: %v", err)
	}
	idxs, err := col.Indexes(ctx)
	if err != nil || len(idxs) != 4 || idxs[0].Type() != driver.PrimaryIndex {
		t.Fatalf("Indexes = %d, %v", len(idxs), err)
	}
	if _, err := col.CreateDocument(ctx, map[string]any{"_key": "a", "email": "x@y"}); err != nil {
		t.Fatal(err)
	}
	_, err = col.CreateDocument(ctx, map[string]any{"_key": "b", "email": "x@y"})
	var ae driver.ArangoError
	if !errors.As(err, &ae) || ae.Code != 409 || ae.ErrorNum != 1210 {
		t.Fatalf("unique violation: want 409/1210, got %v", err)
	}
	if _, err := col.CreateDocument(ctx, map[string]any{"_key": "c"}); err != nil {
		t.Fatalf("sparse index must not index a missing attribute: %v", err)
	}
	if err := idx.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := col.CreateDocument(ctx, map[string]any{"_key": "b", "email": "x@y"}); err != nil {
		t.Fatalf("after dropping the unique index: %v", err)
	}

	// Users and grants.
	u, err := cl.CreateUser(ctx, "alice", &driver.UserOptions{Password: "secret1"})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if err := u.SetDatabaseAccess(ctx, db, driver.GrantReadOnly); err != nil {
		t.Fatalf("SetDatabaseAccess: %v", err)
	}
	g, err := u.GetDatabaseAccess(ctx, db)
	if err != nil || g != driver.GrantReadOnly {
		t.Fatalf("GetDatabaseAccess = %v, %v", g, err)
	}
	alice := v1Client(t, c, driver.BasicAuthentication("alice", "secret1"))
	adb, err := alice.Database(ctx, "_system")
	if err != nil {
		t.Fatal(err)
	}
	acol, err := adb.Collection(ctx, "people")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if _, err := acol.ReadDocument(ctx, "a", &doc); err != nil {
		t.Fatalf("ro user read: %v", err)
	}
	if _, err := acol.CreateDocument(ctx, map[string]any{}); !driver.IsForbidden(err) {
		t.Fatalf("ro user write: want 403, got %v", err)
	}
	bad := v1Client(t, c, driver.BasicAuthentication("alice", "wrong"))
	if _, err := bad.Version(ctx); !driver.IsUnauthorized(err) {
		t.Fatalf("wrong password: want 401, got %v", err)
	}
	users, err := cl.Users(ctx)
	if err != nil || len(users) != 2 {
		t.Fatalf("Users = %d, %v", len(users), err)
	}
	// Users are documents of _system/_users.
	ucol, err := db.Collection(ctx, "_users")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := ucol.Count(ctx); err != nil || n != 2 {
		t.Fatalf("_users count = %d, %v", n, err)
	}
	if err := u.Remove(ctx); err != nil {
		t.Fatalf("remove user: %v", err)
	}

	// Cluster API.
	clu, err := cl.Cluster(ctx)
	if err != nil {
		t.Fatalf("Cluster: %v", err)
	}
	h, err := clu.Health(ctx)
	if err != nil || len(h.Health) != 4 || h.ID != c.ID() {
		t.Fatalf("Health = %+v, %v", h, err)
	}
	inv, err := clu.DatabaseInventory(ctx, db)
	_ = inv
	if err != nil {
		t.Fatalf("DatabaseInventory: %v", err)
	}
	ic, ok := inv.CollectionByName("people")
	if !ok || len(ic.Parameters.Shards) != 1 {
		t.Fatalf("inventory collection = %+v, %v", ic, ok)
	}
	for _, servers := range ic.Parameters.Shards {
		for _, id := range servers {
			if _, ok := h.Health[id]; !ok {
				t.Fatalf("inventory server %s missing from health", id)
			}
		}
	}
	shards, err := col.Shards(ctx, true)
	if err != nil || len(shards.Shards) != 1 {
		t.Fatalf("Shards = %+v, %v", shards, err)
	}
}
