package workload

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"net/http"
	"net/url"
	"testing"

	"github.com/dc2dc/dc2dc/tests/arangosim"
)

// startSim starts an in-process arangosim cluster closed at the end of the test.
func startSim(t testing.TB, cfg arangosim.Config) (*arangosim.Cluster, Cluster) {
	t.Helper()
	c, err := arangosim.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("arangosim.Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, Cluster{Endpoints: []string{c.Endpoint()}, Auth: Auth{JWTSecret: cfg.JWTSecret, Password: cfg.RootPassword}}
}

// testClient dials a cluster for a test and closes it at the end.
func testClient(t testing.TB, c Cluster) *client {
	t.Helper()
	cl, err := dial(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// copyDocuments is the tests' naive replicator: it reads every document of the
// collections of A (through the replication dump) and writes them to B with
// isRestore=true and overwriteMode=replace, keeping _key and _rev. The structure
// must already exist on B.
func copyDocuments(t testing.TB, a, b Cluster, dbs []string) int {
	t.Helper()
	ctx := context.Background()
	ca, cb := testClient(t, a), testClient(t, b)
	n := 0
	for _, db := range dbs {
		colls, err := listCollections(ctx, ca, db)
		if err != nil {
			t.Fatal(err)
		}
		for _, coll := range colls {
			var batch []json.RawMessage
			flush := func() {
				if len(batch) == 0 {
					return
				}
				q := url.Values{"isRestore": {"true"}, "overwriteMode": {"replace"}, "silent": {"true"}}
				if _, err := cb.raw(ctx, http.MethodPost, dbPath(db, "_api/document/"+coll), q, batch,
					http.StatusCreated, http.StatusAccepted); err != nil {
					t.Fatalf("copy to B %s/%s: %v", db, coll, err)
				}
				n += len(batch)
				batch = batch[:0]
			}
			err = ca.dumpCollection(ctx, db, coll, 1<<20, func(doc []byte) error {
				batch = append(batch, json.RawMessage(append([]byte(nil), doc...)))
				if len(batch) == 1000 {
					flush()
				}
				return nil
			})
			if err != nil {
				t.Fatalf("dump A %s/%s: %v", db, coll, err)
			}
			flush()
		}
	}
	return n
}

// countAll sums the collection counts (the count API, independent of the dump).
func countAll(t testing.TB, c Cluster, dbs []string) int64 {
	t.Helper()
	ctx := context.Background()
	cl := testClient(t, c)
	var total int64
	for _, db := range dbs {
		colls, err := listCollections(ctx, cl, db)
		if err != nil {
			t.Fatal(err)
		}
		for _, coll := range colls {
			n, err := count(ctx, cl, db, coll)
			if err != nil {
				t.Fatal(err)
			}
			total += n
		}
	}
	return total
}

// accountsOf reads every account of a database: key → (balance, ver, lastTx).
func accountsOf(t testing.TB, c Cluster, db, coll string) map[string]digest {
	t.Helper()
	cl := testClient(t, c)
	seed := maphash.MakeSeed()
	out := map[string]digest{}
	err := cl.dumpCollection(context.Background(), db, coll, 1<<20, func(doc []byte) error {
		key, d, err := parseDoc(seed, doc)
		if err != nil {
			return fmt.Errorf("%w: %s", err, doc)
		}
		out[key] = d
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
