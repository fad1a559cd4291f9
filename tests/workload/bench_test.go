package workload

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	driver "github.com/arangodb/go-driver"

	"github.com/dc2dc/dc2dc/tests/arangosim"
)

// BenchmarkVerify100k measures Verify's throughput on 100,000 documents of about
// 200 bytes in 4 shards, identical on two in-process arangosim clusters (the
// documents of A per second; B's are read at the same time).
func BenchmarkVerify100k(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	_, a := startSim(b, arangosim.Config{})
	_, bb := startSim(b, arangosim.Config{})
	for _, c := range []Cluster{a, bb} {
		cl := testClient(b, c)
		db, err := cl.CreateDatabase(ctx, "bench", nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.CreateCollection(ctx, "docs", &driver.CreateCollectionOptions{NumberOfShards: 4, ReplicationFactor: 1}); err != nil {
			b.Fatal(err)
		}
	}
	ca := testClient(b, a)
	pad := strings.Repeat("x", 120)
	for lo := 0; lo < n; lo += 5000 {
		docs := make([]map[string]any, 0, 5000)
		for i := lo; i < lo+5000; i++ {
			docs = append(docs, map[string]any{"_key": fmt.Sprintf("d%07d", i), FieldVersion: 1 + i%7, "amount": i, "pad": pad})
		}
		if _, err := ca.raw(ctx, http.MethodPost, dbPath("bench", "_api/document/docs"), nil, docs,
			http.StatusCreated, http.StatusAccepted); err != nil {
			b.Fatal(err)
		}
	}
	copyDocuments(b, a, bb, []string{"bench"})
	opts := VerifyOptions{Databases: []string{"bench"}}
	b.ResetTimer()
	start := time.Now()
	var docs int64
	for range b.N {
		rep, err := Verify(ctx, a, bb, opts)
		if err != nil || !rep.OK() || rep.DocsA != n {
			b.Fatalf("Verify: %v\n%s", err, rep)
		}
		docs += rep.DocsA
	}
	b.ReportMetric(float64(docs)/time.Since(start).Seconds(), "docs/s")
}
