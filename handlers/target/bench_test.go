package target

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/tests/arangosim"
)

// oneKiBDoc returns a 1 KiB document with a realistic _rev.
func oneKiBDoc(i int) []byte {
	head := fmt.Sprintf(`{"_key":"d%09d","_rev":%q,"pad":"`, i, rev(uint64(i+1)))
	pad := strings.Repeat("x", 1024-len(head)-2)
	return []byte(head + pad + `"}`)
}

func benchCluster(b *testing.B) (*arangosim.Cluster, *Conn) {
	c := startSim(b, arangosim.Config{})
	conn := dialSim(b, c)
	createDB(b, conn, "shop")
	createColl(b, conn, "shop", "orders", 3)
	return c, conn
}

// BenchmarkApply1KiB measures the apply rate of one shard stream into B
// (arangosim, in process): batches of 1,000 documents of 1 KiB through
// multi-document isRestore+replace requests, as one request per batch or as
// four requests of 250, sent one after the other (p1) or concurrently (p4).
func BenchmarkApply1KiB(b *testing.B) {
	for _, c := range []struct {
		name      string
		docs, par int
	}{{"req1000-p1", 1000, 1}, {"req250-p1", 250, 1}, {"req250-p4", 250, 4}} {
		b.Run(c.name, func(b *testing.B) {
			_, conn := benchCluster(b)
			a := newTestApplier(b, conn, Config{MaxRequestDocs: c.docs, Parallelism: c.par})
			s := newStream(shopShard, 1)
			const perBatch = 1000
			batches := make([]*events.Batch, 8)
			for j := range batches {
				evs := make([]events.Event, perBatch)
				for i := range evs {
					evs[i] = &events.Document{Doc: oneKiBDoc(j*perBatch + i)}
				}
				batches[j] = s.batch(evs...)
			}
			b.SetBytes(perBatch * 1024)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if err := a.Apply(context.Background(), batches[i%len(batches)]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*perBatch)/time.Since(start).Seconds(), "docs/s")
		})
	}
}

// BenchmarkApply1KiBParallelShards applies four shard streams at once (one
// Applier each, as four receive tasks would). Each stream's documents land
// in one shard of B, as with identical sharding (here: four one-shard
// collections, so the streams do not share a shard).
func BenchmarkApply1KiBParallelShards(b *testing.B) {
	_, conn := benchCluster(b)
	const shards, perBatch = 4, 1000
	appliers := make([]*Applier, shards)
	batches := make([][]*events.Batch, shards)
	for k := range appliers {
		ref := events.ShardRef{Database: "shop", CollectionID: "8010045", Index: k}
		name := fmt.Sprintf("o%d", k)
		createColl(b, conn, "shop", name, 1)
		var err error
		if appliers[k], err = NewApplier(conn, resolverFor(ref, name), ref, Config{}); err != nil {
			b.Fatal(err)
		}
		s := newStream(ref, 1)
		for j := 0; j < 4; j++ {
			evs := make([]events.Event, perBatch)
			for i := range evs {
				evs[i] = &events.Document{Doc: oneKiBDoc(k*1e6 + j*perBatch + i)}
			}
			batches[k] = append(batches[k], s.batch(evs...))
		}
	}
	b.SetBytes(shards * perBatch * 1024)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		for k := range appliers {
			wg.Add(1)
			go func(k int) {
				defer wg.Done()
				if err := appliers[k].Apply(context.Background(), batches[k][i%4]); err != nil {
					b.Error(err)
				}
			}(k)
		}
		wg.Wait()
	}
	b.ReportMetric(float64(b.N*shards*perBatch)/time.Since(start).Seconds(), "docs/s")
}

// BenchmarkImport1KiB is the alternative write path: POST /_api/import
// (JSONL, onDuplicate=replace). It reports rev-kept=1 when the stored _rev
// equals the one sent (ArangoDB's import has no isRestore, so it should not).
func BenchmarkImport1KiB(b *testing.B) {
	_, conn := benchCluster(b)
	const perBatch = 1000
	bodies := make([][]byte, 8)
	for j := range bodies {
		var buf bytes.Buffer
		for i := 0; i < perBatch; i++ {
			buf.Write(oneKiBDoc(j*perBatch + i))
			buf.WriteByte('\n')
		}
		bodies[j] = buf.Bytes()
	}
	q := url.Values{"collection": {"orders"}, "type": {"documents"}, "onDuplicate": {"replace"}}
	b.SetBytes(perBatch * 1024)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		req := Request{Method: http.MethodPost, Path: DBPath("shop", "/_api/import"), Query: q, Body: bodies[i%len(bodies)]}
		resp, err := conn.Do(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		if err := resp.Check(req, http.StatusCreated); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*perBatch)/time.Since(start).Seconds(), "docs/s")
	b.StopTimer()
	resp := mustDo(b, conn, Request{Method: http.MethodGet, Path: DBPath("shop", "/_api/document/orders/d000000000")}, 200)
	var d struct {
		Rev string `json:"_rev"`
	}
	_ = json.Unmarshal(resp.Body, &d)
	kept := 0.0
	if d.Rev == rev(1) {
		kept = 1
	}
	b.ReportMetric(kept, "rev-kept")
}

// BenchmarkReceive1KiB is BenchmarkApply1KiB through the Receiver: dedupe
// check, apply, and the applied position written to B's _dc2dc per batch.
func BenchmarkReceive1KiB(b *testing.B) {
	_, conn := benchCluster(b)
	r := NewReceiver("bench", newTestApplier(b, conn, Config{}), NewPositions(conn, nil))
	s := newStream(shopShard, 1)
	const perBatch = 1000
	docs := make([][]byte, 8*perBatch)
	for i := range docs {
		docs[i] = oneKiBDoc(i)
	}
	b.SetBytes(perBatch * 1024)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		evs := make([]events.Event, perBatch)
		for j := range evs {
			evs[j] = &events.Document{Doc: docs[(i%8)*perBatch+j]}
		}
		if _, err := r.Receive(context.Background(), s.batch(evs...), 0, int64(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*perBatch)/time.Since(start).Seconds(), "docs/s")
}

// BenchmarkApply10MiB applies batches of one 10 MiB document.
func BenchmarkApply10MiB(b *testing.B) {
	_, conn := benchCluster(b)
	a := newTestApplier(b, conn, Config{})
	s := newStream(shopShard, 1)
	blob := strings.Repeat("y", 10<<20)
	docs := make([]json.RawMessage, 4)
	for i := range docs {
		docs[i] = json.RawMessage(fmt.Sprintf(`{"_key":"big%d","_rev":%q,"blob":"%s"}`, i, rev(uint64(i+1)), blob))
	}
	b.SetBytes(int64(len(docs[0])))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := a.Apply(context.Background(), s.batch(&events.Document{Doc: docs[i%len(docs)]})); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplySmallTransactions applies batches of 100 documents of 1 KiB
// that arrive as 12 transactions of about 8 documents each (a WAL of
// 100-document multi-document inserts spread over 12 shards): merged into
// one stream transaction per batch (the default) or one stream transaction
// each (MaxMergeBytes 1, the behaviour before merging). Reports the
// requests B received per batch.
func BenchmarkApplySmallTransactions(b *testing.B) {
	for _, c := range []struct {
		name  string
		merge int64
	}{{"merged", 0}, {"one-per-transaction", 1}} {
		b.Run(c.name, func(b *testing.B) {
			_, conn := benchCluster(b)
			cd := &countingDoer{Doer: conn}
			a := newTestApplier(b, cd, Config{MaxMergeBytes: c.merge})
			s := newStream(shopShard, 1)
			const perBatch, perTxn = 100, 8
			batches := make([]*events.Batch, 8)
			for j := range batches {
				var evs []events.Event
				for i := 0; i < perBatch; i += perTxn {
					tid := fmt.Sprint(j*perBatch + i + 1)
					evs = append(evs, &events.TransactionStart{TID: tid})
					for k := i; k < min(i+perTxn, perBatch); k++ {
						evs = append(evs, &events.Document{TID: tid, Doc: oneKiBDoc(j*perBatch + k)})
					}
					evs = append(evs, &events.TransactionCommit{TID: tid})
				}
				batches[j] = s.batch(evs...)
			}
			b.SetBytes(perBatch * 1024)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := a.Apply(context.Background(), batches[i%len(batches)]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cd.reqs)/float64(b.N), "requests/batch")
		})
	}
}
