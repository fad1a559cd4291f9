//go:build unix

package arangosim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The BenchmarkPerf* benchmarks measure arangosim's CPU per document on the paths
// dc2dc and the benchmark's loader use, in process and below the TCP layer (each
// request goes through the server's ServeHTTP, authentication included), so that
// ns/doc, B/op and allocs/op are arangosim's own cost. They mirror tests/bench:
// 4 shards, replicationFactor 2, 1 KiB documents, batches of 100, a superuser JWT.

const perfBatch = 100

type perfEnv struct {
	c    *Cluster
	auth string
	col  *Collection
}

func newPerfEnv(b *testing.B, dbservers int) *perfEnv {
	b.Helper()
	poisonReleasedBodies = false // measure what a process does (TestMain turns it on)
	b.Cleanup(func() { poisonReleasedBodies = true })
	c := startSim(b, Config{DBServers: dbservers, JWTSecret: "perf-secret", RootPassword: "pw", MaxWALMarkers: 1 << 20})
	tok, err := c.SuperuserToken()
	if err != nil {
		b.Fatal(err)
	}
	db, _ := c.Database("_system")
	col, err := c.CreateCollection(db, CollectionSpec{Name: "bench", NumberOfShards: 4, ReplicationFactor: 2})
	if err != nil {
		b.Fatal(err)
	}
	return &perfEnv{c: c, auth: "bearer " + tok, col: col}
}

// serve runs one request through s's HTTP front and checks its status.
func (e *perfEnv) serve(b *testing.B, s *Server, method, target string, body []byte, want ...int) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	req.Header.Set("Authorization", e.auth)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	for _, w := range want {
		if rec.Code == w {
			if h := rec.Header().Get("X-Arango-Error-Codes"); h != "" {
				b.Fatalf("%s %s: error codes %s: %.300s", method, target, h, rec.Body.String())
			}
			return rec
		}
	}
	b.Fatalf("%s %s: status %d: %.300s", method, target, rec.Code, rec.Body.String())
	return nil
}

var perfPad = strings.Repeat("abcdefghijklmnopqrstuvwxyz012345", 32)[:934]

// perfLoaderBatch is a loader batch as the go-driver encodes it (keys sorted).
func perfLoaderBatch(round int) []byte {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i := range perfBatch {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(`{"_key":"load-0-` + strconv.Itoa(round) + "-" + strconv.Itoa(i) + `","pad":"` + perfPad +
			`","ts":1764130000123456789,"ver":1}`)
	}
	buf.WriteByte(']')
	return buf.Bytes()
}

// cpuStart notes the process's CPU time (user + system) when the timed part starts:
// on a shared machine it is steadier than the elapsed time.
func cpuStart(b *testing.B) time.Duration {
	b.ReportAllocs()
	b.ResetTimer()
	return processCPU()
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportPerDoc(b *testing.B, cpu0 time.Duration, docs int) {
	b.StopTimer()
	cpu := processCPU() - cpu0
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(docs), "ns/doc")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(docs), "cpu-ns/doc")
}

// BenchmarkPerfInsert100: the loader's POST /_api/document/{coll} of 100 new 1 KiB
// documents through the Coordinator (leader + follower + WAL of both).
func BenchmarkPerfInsert100(b *testing.B) {
	e := newPerfEnv(b, 3)
	coord := e.c.Coordinators()[0]
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i] = perfLoaderBatch(i)
	}
	b.SetBytes(int64(len(bodies[0])))
	cpu0 := cpuStart(b)
	for i := 0; i < b.N; i++ {
		e.serve(b, coord, "POST", "/_api/document/bench", bodies[i], http.StatusAccepted)
	}
	reportPerDoc(b, cpu0, b.N*perfBatch)
}

// BenchmarkPerfRestoreReplace100: dc2dc's apply request on B, POST
// /_api/document/{coll}?isRestore=true&overwriteMode=replace with 100 documents as
// A's WAL carries them (_key, _id, _rev, attributes).
func BenchmarkPerfRestoreReplace100(b *testing.B) {
	e := newPerfEnv(b, 2)
	coord := e.c.Coordinators()[0]
	bodies := restoreBodies(b.N, perfBatch)
	const target = "/_api/document/bench?isRestore=true&overwriteMode=replace&skipDocumentValidation=true&waitForSync=false"
	b.SetBytes(int64(len(bodies[0])))
	cpu0 := cpuStart(b)
	for i := 0; i < b.N; i++ {
		e.serve(b, coord, "POST", target, bodies[i], http.StatusAccepted)
	}
	reportPerDoc(b, cpu0, b.N*perfBatch)
}

// BenchmarkPerfTail: dc2dc's per-shard GET /_api/wal/tail on the leader DB-Servers
// (collection filter, lastScanned, 1 MiB chunks), reading 20,000 documents written in
// batches of 100. ns/doc is per document marker served.
func BenchmarkPerfTail(b *testing.B) {
	e := newPerfEnv(b, 3)
	coord := e.c.Coordinators()[0]
	for i := range 200 {
		e.serve(b, coord, "POST", "/_api/document/bench", perfLoaderBatch(i), http.StatusAccepted)
	}
	docs := 0
	cpu0 := cpuStart(b)
	for i := 0; i < b.N; i++ {
		for _, sh := range e.col.Shards {
			s := sh.Leader()
			from, scanned := uint64(0), uint64(0)
			for {
				target := "/_api/wal/tail?chunkSize=1048576&from=" + strconv.FormatUint(from, 10) + "&lastScanned=" +
					strconv.FormatUint(scanned, 10) + "&collection=" + sh.Name + "&syncerId=17&clientInfo=perf"
				rec := e.serve(b, s, "GET", target, nil, http.StatusOK, http.StatusNoContent)
				docs += bytes.Count(rec.Body.Bytes(), []byte(`"type":2300`))
				li, _ := strconv.ParseUint(rec.Header().Get("X-Arango-Replication-Lastincluded"), 10, 64)
				ls, _ := strconv.ParseUint(rec.Header().Get("X-Arango-Replication-Lastscanned"), 10, 64)
				if rec.Code == http.StatusNoContent || rec.Header().Get("X-Arango-Replication-Checkmore") != "true" || li <= from {
					break
				}
				from, scanned = li, ls
			}
		}
	}
	if docs != b.N*200*perfBatch {
		b.Fatalf("tailed %d documents, want %d", docs, b.N*200*perfBatch)
	}
	reportPerDoc(b, cpu0, docs)
}

// BenchmarkPerfApplyTrx25: dc2dc's replay of one of A's transactions on B (a loader
// batch of 100 spreads over 4 shards: about 25 documents each), as a stream
// transaction: POST /_api/transaction/begin, the isRestore+replace insert with
// x-arango-trx-id, PUT /_api/transaction/{id}.
func BenchmarkPerfApplyTrx25(b *testing.B) {
	const n = 25
	e := newPerfEnv(b, 2)
	coord := e.c.Coordinators()[0]
	bodies := restoreBodies(b.N, n)
	begin := []byte(`{"collections":{"write":["bench"]},"waitForSync":false}`)
	const target = "/_api/document/bench?isRestore=true&overwriteMode=replace&skipDocumentValidation=true&waitForSync=false"
	cpu0 := cpuStart(b)
	for i := 0; i < b.N; i++ {
		rec := e.serve(b, coord, "POST", "/_api/transaction/begin", begin, http.StatusCreated)
		var ans struct {
			Result struct {
				ID string `json:"id"`
			} `json:"result"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil {
			b.Fatal(err)
		}
		req := httptest.NewRequest("POST", target, bytes.NewReader(bodies[i]))
		req.Header.Set("Authorization", e.auth)
		req.Header.Set("X-Arango-Trx-Id", ans.Result.ID)
		w := httptest.NewRecorder()
		coord.ServeHTTP(w, req)
		if w.Code != http.StatusAccepted || w.Header().Get("X-Arango-Error-Codes") != "" {
			b.Fatalf("insert: %d %s", w.Code, w.Body.String())
		}
		e.serve(b, coord, "PUT", "/_api/transaction/"+ans.Result.ID, nil, http.StatusOK)
	}
	reportPerDoc(b, cpu0, b.N*n)
}

// BenchmarkPerfRequest: the cost of one request through the HTTP front (routing,
// authentication, headers) and a handler that does almost nothing: an empty tail
// answer (204), as dc2dc's tailers poll an idle shard.
func BenchmarkPerfRequest(b *testing.B) {
	e := newPerfEnv(b, 3)
	sh := e.col.Shards[0]
	s := sh.Leader()
	last := s.WAL().LastTick()
	target := "/_api/wal/tail?chunkSize=1048576&from=" + strconv.FormatUint(last, 10) + "&lastScanned=" +
		strconv.FormatUint(last, 10) + "&collection=" + sh.Name + "&syncerId=17&clientInfo=perf"
	cpu0 := cpuStart(b)
	for i := 0; i < b.N; i++ {
		e.serve(b, s, "GET", target, nil, http.StatusNoContent)
	}
	reportPerDoc(b, cpu0, b.N)
}

// restoreBodies are count request bodies of perBody documents each as A's
// WAL carries them (_key, _id, _rev, attributes), for isRestore writes.
func restoreBodies(count, perBody int) [][]byte {
	bodies := make([][]byte, count)
	rev := uint64(1764130000123) << 20
	for i := range bodies {
		var buf bytes.Buffer
		buf.WriteByte('[')
		for j := range perBody {
			if j > 0 {
				buf.WriteByte(',')
			}
			key := "load-0-" + strconv.Itoa(i) + "-" + strconv.Itoa(j)
			rev++
			buf.WriteString(`{"_key":"` + key + `","_id":"bench/` + key + `","_rev":"` + EncodeRev(rev) + `","pad":"` + perfPad +
				`","ts":1764130000123456789,"ver":1}`)
		}
		buf.WriteByte(']')
		bodies[i] = buf.Bytes()
	}
	return bodies
}
