package target

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/revtree"
	"github.com/dc2dc/dc2dc/tests/arangosim"
)

// startSim starts an in-process arangosim cluster for one test.
func startSim(t testing.TB, cfg arangosim.Config) *arangosim.Cluster {
	t.Helper()
	c, err := arangosim.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("arangosim.Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func dialSim(t testing.TB, c *arangosim.Cluster) *Conn {
	t.Helper()
	conn, err := Dial(ConnConfig{Endpoints: []string{c.Endpoint()}, RequestTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	return conn
}

// mustDo sends a request and fails the test unless the status is one of ok.
func mustDo(t testing.TB, conn Doer, req Request, ok ...int) *Response {
	t.Helper()
	resp, err := conn.Do(context.Background(), req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.Path, err)
	}
	if err := resp.Check(req, ok...); err != nil {
		t.Fatalf("%s %s: %v (%s)", req.Method, req.Path, err, resp.Body)
	}
	return resp
}

func jsonBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func createDB(t testing.TB, conn Doer, db string) {
	t.Helper()
	mustDo(t, conn, Request{Method: http.MethodPost, Path: "/_db/_system/_api/database", Body: jsonBody(map[string]any{"name": db})}, 200, 201)
}

func createColl(t testing.TB, conn Doer, db, name string, shards int) {
	t.Helper()
	mustDo(t, conn, Request{Method: http.MethodPost, Path: DBPath(db, "/_api/collection"),
		Body: jsonBody(map[string]any{"name": name, "numberOfShards": shards})}, 200, 201)
}

// mapResolver maps shard refs to collection names.
type mapResolver struct {
	mu sync.Mutex
	m  map[events.ShardRef]string
}

func (r *mapResolver) Collection(_ context.Context, s events.ShardRef) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, ok := r.m[s]
	if !ok {
		return "", fmt.Errorf("%w: %s", ErrUnknownShard, s)
	}
	return n, nil
}

func resolverFor(shard events.ShardRef, coll string) *mapResolver {
	return &mapResolver{m: map[events.ShardRef]string{shard: coll}}
}

// rev returns a valid _rev string for n (n > 0).
func rev(n uint64) string { return revtree.EncodeHLC(uint64(1795000000000)<<20 + n) }

func docEvent(key string, n uint64, extra string) *events.Document {
	d := fmt.Sprintf(`{"_key":%q,"_rev":%q,"n":%d%s}`, key, rev(n), n, extra)
	return &events.Document{Key: key, Rev: rev(n), Doc: json.RawMessage(d)}
}

// stream builds consecutive batches of one shard.
type stream struct {
	shard events.ShardRef
	epoch uint64
	tick  uint64
	prev  events.Position
}

func newStream(shard events.ShardRef, epoch uint64) *stream {
	return &stream{shard: shard, epoch: epoch, prev: events.Position{Epoch: epoch}}
}

// batch wraps events into the next batch, each record one tick further.
func (s *stream) batch(evs ...events.Event) *events.Batch {
	b := &events.Batch{Shard: s.shard, Prev: s.prev, SentAt: time.Now()}
	for _, ev := range evs {
		s.tick++
		b.Records = append(b.Records, events.Record{Tick: s.tick, Event: ev})
	}
	b.Pos = events.Position{Epoch: s.epoch, Tick: s.tick}
	if len(b.Records) > 0 {
		b.FirstTick = b.Records[0].Tick
	}
	s.prev = b.Pos
	return b
}

// contents reads every document of a collection from the shard leaders'
// replicas: key → rendered JSON (with _rev).
func contents(t testing.TB, c *arangosim.Cluster, db, coll string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, s := range c.DBServers() {
		var shards []string
		for _, r := range s.Replicas(db) {
			if r.Shard.Coll.Name == coll && r.Shard.Leader() == s {
				shards = append(shards, r.Shard.Name)
			}
		}
		if len(shards) == 0 {
			continue
		}
		sn, err := s.Snapshot(db)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range shards {
			ss, ok := sn.Shard(name)
			if !ok {
				t.Fatalf("snapshot lacks shard %s", name)
			}
			for _, d := range ss.ByRev() {
				out[d.Key] = string(d.JSON(coll))
			}
		}
	}
	return out
}

func count(t testing.TB, conn Doer, db, coll string) int {
	t.Helper()
	resp := mustDo(t, conn, Request{Method: http.MethodGet, Path: DBPath(db, "/_api/collection/", url.PathEscape(coll), "/count")}, 200)
	var ans struct {
		Count int `json:"count"`
	}
	if err := json.Unmarshal(resp.Body, &ans); err != nil {
		t.Fatal(err)
	}
	return ans.Count
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func diffContents(a, b map[string]string) string {
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return fmt.Sprintf("key %q: %s vs %s", k, v, w)
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok {
			return fmt.Sprintf("key %q only in second: %s", k, v)
		}
	}
	return ""
}

func countCtx(ctx context.Context, conn Doer, db, coll string) int {
	resp, err := conn.Do(ctx, Request{Method: http.MethodGet, Path: DBPath(db, "/_api/collection/", url.PathEscape(coll), "/count")})
	if err != nil || resp.Status != 200 {
		return -1
	}
	var ans struct {
		Count int `json:"count"`
	}
	if json.Unmarshal(resp.Body, &ans) != nil {
		return -1
	}
	return ans.Count
}

func replaceColl(doc, from, to string) string {
	return strings.Replace(doc, `"_id":"`+from+`/`, `"_id":"`+to+`/`, 1)
}

func runtime_Gosched() { runtime.Gosched() }
