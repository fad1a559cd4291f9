package arangosim

import (
	"fmt"
	"net/url"
	"testing"
)

// replBenchEnv starts a cluster with one 1-shard collection of n documents.
func replBenchEnv(b *testing.B, n int) (*replEnv, *Shard) {
	b.Helper()
	e := newReplEnv(b)
	col := e.createCollection("bench", 1)
	for i := 0; i < n; i += 1000 {
		var docs []map[string]any
		for j := i; j < i+1000 && j < n; j++ {
			docs = append(docs, map[string]any{"_key": fmt.Sprintf("b%06d", j), "value": j, "text": "some text of a typical size for a document"})
		}
		e.insert("bench", docs)
	}
	return e, col.Shards[0]
}

// BenchmarkReplDump measures reading a 10,000-document shard through
// /_api/replication/dump (1 MiB chunks, no envelope), batch creation included.
func BenchmarkReplDump(b *testing.B) {
	e, sh := replBenchEnv(b, 10000)
	s := sh.Leader()
	var total int
	for b.Loop() {
		id, _ := e.batch(s, 60)
		q := url.Values{"collection": {sh.Name}, "batchId": {id}, "chunkSize": {"1048576"}, "useEnvelope": {"false"}}.Encode()
		for {
			r := e.do("GET", s.Endpoint(), "/_api/replication/dump?"+q, "super", nil)
			total += len(r.body)
			if r.status != 200 {
				break
			}
		}
	}
	b.SetBytes(int64(total / b.N))
}

// BenchmarkReplRevisionTree measures building and serving the revision tree
// of a 10,000-document shard from a fresh batch.
func BenchmarkReplRevisionTree(b *testing.B) {
	e, sh := replBenchEnv(b, 10000)
	s := sh.Leader()
	for b.Loop() {
		id, _ := e.batch(s, 60)
		r := e.do("GET", s.Endpoint(), "/_api/replication/revisions/tree?"+url.Values{"collection": {sh.Name}, "batchId": {id}}.Encode(), "super", nil)
		if r.status != 200 {
			b.Fatalf("tree: %d", r.status)
		}
	}
}
