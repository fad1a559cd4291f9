package task

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/target"
)

// BenchmarkDataPath measures the whole in-process path: 1 KiB documents
// written to a 3-shard collection in A (arangosim, 3 DB-Servers), tailed by
// three send tasks, published to kfake A, mirrored to kfake B, applied to B
// (arangosim, 2 DB-Servers) by the receive side. Each iteration writes
// docsPerOp documents from 3 concurrent writers (batches of 100) and waits
// until B's count reaches them. Reported: arangosim's ingest rate in A
// (ingest-docs/s: documents/s while writing), and the end-to-end rates from
// the first write to the last document counted in B (e2e-docs/s, e2e-MB/s).
func BenchmarkDataPath(b *testing.B) {
	const (
		docsPerOp = 6000
		docBytes  = 1024
		writers   = 3
		perReq    = 100
	)
	w := newWorld(b, 3, 2)
	id, shards := w.collection("bench", `{"name":"bench","numberOfShards":3,"replicationFactor":1}`)
	w.startReceive("")
	for _, sh := range shards {
		w.startSend("bench", id, sh)
	}
	pad := strings.Repeat("x", docBytes-60)
	var ingest, e2e time.Duration
	total := 0
	b.ResetTimer()
	for it := range b.N {
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for g := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := g * perReq; n < docsPerOp; n += writers * perReq {
					var body strings.Builder
					body.WriteByte('[')
					for j := range perReq {
						if j > 0 {
							body.WriteByte(',')
						}
						fmt.Fprintf(&body, `{"_key":"i%d-%d","n":%d,"pad":"%s"}`, it, n+j, n+j, pad)
					}
					body.WriteByte(']')
					req := target.Request{Method: http.MethodPost, Path: target.DBPath(dbName, "/_api/document/bench"), Body: []byte(body.String())}
					resp, err := w.connA.Do(w.ctx, req)
					if err == nil {
						err = resp.Check(req, http.StatusCreated, http.StatusAccepted)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		ingest += time.Since(start)
		select {
		case err := <-errs:
			b.Fatal(err)
		default:
		}
		total += docsPerOp
		w.eventually("B to hold every document", 5*time.Minute, func() (bool, string) {
			n, err := count(w, "bench")
			return err == nil && n >= total, fmt.Sprintf("%d of %d (%v)", n, total, err)
		})
		e2e += time.Since(start)
	}
	b.StopTimer()
	mb := float64(total) * docBytes / (1 << 20)
	b.ReportMetric(float64(total)/ingest.Seconds(), "ingest-docs/s")
	b.ReportMetric(float64(total)/e2e.Seconds(), "e2e-docs/s")
	b.ReportMetric(mb/e2e.Seconds(), "e2e-MB/s")
	w.waitIdentical(2*time.Minute, map[string]int{"bench": 3})
}

// BenchmarkWALBacklog measures the replication path alone: with the send
// tasks stopped, docsPerOp 1 KiB documents are written to A; then the tasks
// resume from their checkpoints and the time until B holds them all gives
// backlog-docs/s and backlog-MB/s (WAL tail → batcher → Kafka A → mirror →
// Kafka B → apply), without arangosim's ingest competing for the CPU.
func BenchmarkWALBacklog(b *testing.B) {
	const (
		docsPerOp = 6000
		docBytes  = 1024
		perReq    = 200
	)
	w := newWorld(b, 3, 2)
	id, shards := w.collection("bench", `{"name":"bench","numberOfShards":3,"replicationFactor":1}`)
	w.startReceive("")
	refs := make([]string, len(shards))
	for i, sh := range shards {
		refs[i] = w.startSend("bench", id, sh).v.Status().Shard
	}
	pad := strings.Repeat("x", docBytes-60)
	var took time.Duration
	total := 0
	for it := range b.N {
		b.StopTimer()
		w.eventually("B caught up", 5*time.Minute, func() (bool, string) {
			n, err := count(w, "bench")
			return err == nil && n >= total, fmt.Sprint(n)
		})
		for _, r := range refs {
			w.stopSend(r)
		}
		for n := 0; n < docsPerOp; n += perReq {
			var body strings.Builder
			body.WriteByte('[')
			for j := range perReq {
				if j > 0 {
					body.WriteByte(',')
				}
				fmt.Fprintf(&body, `{"_key":"b%d-%d","pad":"%s"}`, it, n+j, pad)
			}
			body.WriteByte(']')
			req := target.Request{Method: http.MethodPost, Path: target.DBPath(dbName, "/_api/document/bench"), Body: []byte(body.String())}
			resp, err := w.connA.Do(w.ctx, req)
			if err == nil {
				err = resp.Check(req, http.StatusCreated, http.StatusAccepted)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		total += docsPerOp
		cur, err := w.clA.Shards(w.ctx, dbName, "bench")
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		for _, sh := range cur {
			w.startSend("bench", id, sh)
		}
		w.eventually("B to hold the backlog", 5*time.Minute, func() (bool, string) {
			n, err := count(w, "bench")
			return err == nil && n >= total, fmt.Sprintf("%d of %d (%v)", n, total, err)
		})
		took += time.Since(start)
	}
	b.StopTimer()
	n := float64(b.N * docsPerOp)
	b.ReportMetric(n/took.Seconds(), "backlog-docs/s")
	b.ReportMetric(n*docBytes/(1<<20)/took.Seconds(), "backlog-MB/s")
	w.waitIdentical(2*time.Minute, map[string]int{"bench": 3})
}

func count(w *world, coll string) (int, error) {
	req := target.Request{Method: http.MethodGet, Path: target.DBPath(dbName, "/_api/collection/", coll, "/count")}
	resp, err := w.connB.Do(w.ctx, req)
	if err != nil {
		return 0, err
	}
	if err := resp.Check(req, http.StatusOK); err != nil {
		return 0, err
	}
	var c struct {
		Count int `json:"count"`
	}
	err = json.Unmarshal(resp.Body, &c)
	return c.Count, err
}
