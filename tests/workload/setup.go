package workload

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	driver "github.com/arangodb/go-driver"
)

// Names of the objects Setup creates next to the collections.
const (
	AnalyzerName = "workload_norm"
	ViewName     = "orders_view"

	indexCustomerSeq = "by_customer_seq" // unique persistent on orders [customer, seq]
	indexOwner       = "by_owner"        // persistent on accounts [owner]
	indexCreated     = "ttl_created"     // ttl on orders createdAt
)

// Document fields the workload writes and Verify reads.
const (
	// FieldVersion is the version counter every written document carries: 1 on insert,
	// +1 on every write to the same document.
	FieldVersion = "ver"
	// FieldBalance is the ledger balance of an account.
	FieldBalance = "balance"
)

// accountKey is the _key of account i.
func accountKey(i int) string { return fmt.Sprintf("a%06d", i) }

// Setup creates everything the replica must carry, in every configured database:
// the database, the sharded accounts and orders collections, the links edge
// collection, a unique persistent, a persistent and a ttl index, an analyzer, an
// arangosearch view over orders, the accounts with their initial balance, and a user
// with database and collection permissions. It is idempotent: what exists is kept
// (balances are never reset).
func (w *Workload) Setup(ctx context.Context) error {
	cl := w.cl
	for _, name := range w.cfg.Databases {
		if err := w.setupDatabase(ctx, name); err != nil {
			return fmt.Errorf("workload: setup of database %s: %w", name, err)
		}
	}
	u, err := cl.CreateUser(ctx, w.cfg.User, &driver.UserOptions{Password: w.cfg.UserPassword})
	if driver.IsConflict(err) {
		u, err = cl.User(ctx, w.cfg.User)
	}
	if err != nil {
		return fmt.Errorf("workload: create user %s: %w", w.cfg.User, err)
	}
	for _, name := range w.cfg.Databases {
		db, err := cl.Database(ctx, name)
		if err != nil {
			return err
		}
		if err := u.SetDatabaseAccess(ctx, db, driver.GrantReadOnly); err != nil {
			return fmt.Errorf("workload: grant ro on %s to %s: %w", name, w.cfg.User, err)
		}
		col, err := db.Collection(ctx, w.cfg.Collections.Orders.Name)
		if err != nil {
			return err
		}
		if err := u.SetCollectionAccess(ctx, col, driver.GrantReadWrite); err != nil {
			return fmt.Errorf("workload: grant rw on %s/%s to %s: %w", name, col.Name(), w.cfg.User, err)
		}
	}
	return nil
}

func (w *Workload) setupDatabase(ctx context.Context, name string) error {
	cl := w.cl
	db, err := cl.CreateDatabase(ctx, name, nil)
	if driver.IsConflict(err) {
		db, err = cl.Database(ctx, name)
	}
	if err != nil {
		return err
	}
	cc := w.cfg.Collections
	accounts, err := ensureCollection(ctx, db, cc.Accounts, nil, driver.CollectionTypeDocument)
	if err != nil {
		return err
	}
	orders, err := ensureCollection(ctx, db, cc.Orders, []string{"customer"}, driver.CollectionTypeDocument)
	if err != nil {
		return err
	}
	if _, err := ensureCollection(ctx, db, cc.Links, nil, driver.CollectionTypeEdge); err != nil {
		return err
	}
	if _, _, err := orders.EnsurePersistentIndex(ctx, []string{"customer", "seq"},
		&driver.EnsurePersistentIndexOptions{Unique: true, Name: indexCustomerSeq}); err != nil {
		return fmt.Errorf("unique index on %s: %w", cc.Orders.Name, err)
	}
	if _, _, err := accounts.EnsurePersistentIndex(ctx, []string{"owner"},
		&driver.EnsurePersistentIndexOptions{Name: indexOwner}); err != nil {
		return fmt.Errorf("persistent index on %s: %w", cc.Accounts.Name, err)
	}
	if _, _, err := orders.EnsureTTLIndex(ctx, "createdAt", 30*24*3600,
		&driver.EnsureTTLIndexOptions{Name: indexCreated}); err != nil {
		return fmt.Errorf("ttl index on %s: %w", cc.Orders.Name, err)
	}
	analyzer := map[string]any{"name": AnalyzerName, "type": "norm",
		"properties": map[string]any{"locale": "en", "case": "lower", "accent": false},
		"features":   []string{"frequency", "norm"}}
	if _, err := w.cl.raw(ctx, http.MethodPost, dbPath(name, "_api/analyzer"), nil, analyzer,
		http.StatusOK, http.StatusCreated); err != nil {
		return fmt.Errorf("analyzer %s: %w", AnalyzerName, err)
	}
	view := map[string]any{"name": ViewName, "type": "arangosearch", "links": map[string]any{
		cc.Orders.Name: map[string]any{"includeAllFields": false, "fields": map[string]any{
			"status": map[string]any{"analyzers": []string{AnalyzerName}},
			"note":   map[string]any{"analyzers": []string{"identity"}},
		}},
	}}
	if _, err := w.cl.raw(ctx, http.MethodPost, dbPath(name, "_api/view"), nil, view,
		http.StatusOK, http.StatusCreated); err != nil && !driver.IsConflict(err) {
		return fmt.Errorf("view %s: %w", ViewName, err)
	}
	// The accounts, created once: an import that ignores existing keys never resets a balance.
	const chunk = 1000
	for lo := 0; lo < w.cfg.Accounts; lo += chunk {
		docs := make([]map[string]any, 0, chunk)
		for i := lo; i < min(lo+chunk, w.cfg.Accounts); i++ {
			docs = append(docs, map[string]any{"_key": accountKey(i), "owner": fmt.Sprintf("owner-%02d", i%37),
				FieldBalance: w.cfg.InitialBalance, FieldVersion: 1, "lastTx": "", "pad": w.pad(i)})
		}
		if _, err := accounts.ImportDocuments(ctx, docs, &driver.ImportDocumentOptions{OnDuplicate: driver.ImportOnDuplicateIgnore}); err != nil {
			return fmt.Errorf("import accounts: %w", err)
		}
	}
	return nil
}

// ensureCollection creates a collection with the shape, or returns the existing one.
func ensureCollection(ctx context.Context, db driver.Database, s Shape, shardKeys []string, typ driver.CollectionType) (driver.Collection, error) {
	col, err := db.CreateCollection(ctx, s.Name, &driver.CreateCollectionOptions{
		NumberOfShards: s.NumberOfShards, ReplicationFactor: s.ReplicationFactor, ShardKeys: shardKeys, Type: typ})
	if driver.IsConflict(err) {
		col, err = db.Collection(ctx, s.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("collection %s: %w", s.Name, err)
	}
	return col, nil
}

// pad is DocBytes of deterministic filler text for document n.
func (w *Workload) pad(n int) string {
	if w.cfg.DocBytes == 0 {
		return ""
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 "
	var b strings.Builder
	b.Grow(w.cfg.DocBytes)
	x := uint64(n)*0x9e3779b97f4a7c15 + w.cfg.Seed
	for b.Len() < w.cfg.DocBytes {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b.WriteByte(alphabet[x%uint64(len(alphabet))])
	}
	return b.String()
}
