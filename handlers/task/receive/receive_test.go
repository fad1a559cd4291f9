package receive

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/revtree"
	"github.com/dc2dc/dc2dc/handlers/target"
	"github.com/dc2dc/dc2dc/tests/arangosim"
)

func TestInRanges(t *testing.T) {
	rs := []revtree.Range{{Min: 10, Max: 20}, {Min: 30, Max: 30}, {Min: 40, Max: 50}}
	for v, want := range map[uint64]bool{9: false, 10: true, 20: true, 21: false, 30: true, 31: false, 45: true, 51: false} {
		if got := inRanges(rs, v); got != want {
			t.Errorf("inRanges(%d) = %v, want %v", v, got, want)
		}
	}
	// Nested ranges are looked through.
	if !inRanges([]revtree.Range{{Min: 0, Max: 100}, {Min: 10, Max: 20}}, 50) {
		t.Error("50 in [0,100] not found behind [10,20]")
	}
}

func TestBatchResolver(t *testing.T) {
	var r BatchResolver
	s := events.ShardRef{Database: "shop", CollectionID: "7", Index: 1}
	if _, err := r.Collection(context.Background(), s); !errors.Is(err, target.ErrUnknownShard) {
		t.Fatalf("unknown shard: %v", err)
	}
	r.Learn(&events.Batch{Shard: s, Collection: "orders"})
	r.Learn(&events.Batch{Shard: s}) // a batch without a name changes nothing
	if n, err := r.Collection(context.Background(), s); err != nil || n != "orders" {
		t.Fatalf("Collection = %q, %v", n, err)
	}
}

func TestConfigNamesEveryProblem(t *testing.T) {
	_, err := New(Config{Sync: "bad sync!"}, Deps{})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"sync", "topics", "connection"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention %s", err, want)
		}
	}
}

// TestTreeAndRevisionsOfBsShard reads B's tree and the (key, revision)
// pairs in ranges from the shard leader, as the answers to A carry them.
func TestTreeAndRevisionsOfBsShard(t *testing.T) {
	const secret = "s"
	sim, err := arangosim.Start(context.Background(), arangosim.Config{DBServers: 2, JWTSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	conn, err := target.Dial(target.ConnConfig{Endpoints: []string{sim.Endpoint()}, JWTSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	do := func(req target.Request, ok ...int) *target.Response {
		t.Helper()
		resp, err := conn.Do(ctx, req)
		if err == nil {
			err = resp.Check(req, ok...)
		}
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	do(target.Request{Method: http.MethodPost, Path: "/_api/database", Body: []byte(`{"name":"shop"}`)}, http.StatusCreated)
	do(target.Request{Method: http.MethodPost, Path: target.DBPath("shop", "/_api/collection"), Body: []byte(`{"name":"c","numberOfShards":2}`)}, http.StatusOK)
	var docs []string
	for i := range 300 {
		docs = append(docs, fmt.Sprintf(`{"_key":"k%d"}`, i))
	}
	do(target.Request{Method: http.MethodPost, Path: target.DBPath("shop", "/_api/document/c"), Body: []byte("[" + strings.Join(docs, ",") + "]")}, http.StatusCreated, http.StatusAccepted)

	total := 0
	for idx := range 2 {
		raw, err := bTree(ctx, conn, "shop", "c", idx)
		if err != nil {
			t.Fatal(err)
		}
		tree, err := revtree.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		total += int(tree.Count())
		all := []revtree.Range{{Min: tree.RangeMin(), Max: tree.RangeMax() - 1}}
		revs, err := bRevisions(ctx, conn, "shop", "c", idx, all, 50)
		if err != nil {
			t.Fatal(err)
		}
		if uint64(len(revs)) != tree.Count() {
			t.Fatalf("shard %d: %d revisions for a tree of %d", idx, len(revs), tree.Count())
		}
		if !sort.SliceIsSorted(revs, func(i, j int) bool { return hlc(t, revs[i].Rev) < hlc(t, revs[j].Rev) }) {
			t.Fatalf("shard %d: revisions not ascending", idx)
		}
		// A narrow range returns exactly the revisions inside it.
		if len(revs) > 10 {
			lo, hi := hlc(t, revs[3].Rev), hlc(t, revs[7].Rev)
			part, err := bRevisions(ctx, conn, "shop", "c", idx, []revtree.Range{{Min: lo, Max: hi}}, 50)
			if err != nil {
				t.Fatal(err)
			}
			if len(part) != 5 || part[0] != revs[3] || part[4] != revs[7] {
				t.Fatalf("range [%d,%d]: %+v, want revisions 3..7 %+v", lo, hi, part, revs[3:8])
			}
		}
		for _, kr := range revs {
			if !strings.HasPrefix(kr.Key, "k") {
				t.Fatalf("key %q", kr.Key)
			}
		}
	}
	if total != 300 {
		t.Fatalf("trees count %d documents, want 300", total)
	}
}

func hlc(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := revtree.DecodeHLC(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSilenceAgainstTheMessageTimeout(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	b := func(epoch uint64, at time.Time) *events.Batch {
		return &events.Batch{Pos: events.Position{Epoch: epoch, Tick: 9}, SentAt: at}
	}
	for _, c := range []struct {
		name      string
		lastEpoch uint64
		lastSent  time.Time
		b         *events.Batch
		timeout   time.Duration
		want      bool
	}{
		{"off", 1, t0, b(1, t0.Add(2*time.Hour)), 0, false},
		{"first batch of the shard", 0, time.Time{}, b(1, t0), time.Hour, false},
		{"within the timeout", 1, t0, b(1, t0.Add(59*time.Minute)), time.Hour, false},
		{"silent longer than the timeout", 1, t0, b(1, t0.Add(61*time.Minute)), time.Hour, true},
		{"a new epoch begins with a snapshot anyway", 1, t0, b(2, t0.Add(3*time.Hour)), time.Hour, false},
		{"a replay sent earlier", 1, t0, b(1, t0.Add(-3*time.Hour)), time.Hour, false},
	} {
		gap, got := silence(c.lastEpoch, c.lastSent, c.b, c.timeout)
		if got != c.want {
			t.Errorf("%s: silent=%v (gap %v), want %v", c.name, got, gap, c.want)
		}
	}
}

// A send task resumed on an idle shard numbers its heartbeats from sub 1
// again at the checkpointed tick: replays of what B holds, which still
// reach the handler (redeliver) and tell the shard is caught up.
func TestReplayedHeartbeatsTellTheLag(t *testing.T) {
	hb := func(epoch, tick uint64, sub uint32, sent time.Time) *events.Batch {
		return &events.Batch{Pos: events.Position{Epoch: epoch, Tick: tick, Sub: sub}, SentAt: sent,
			Records: []events.Record{{Event: &events.Heartbeat{SourceTime: sent}}}}
	}
	data := &events.Batch{Pos: events.Position{Epoch: 2, Tick: 10, Sub: 1}, Records: []events.Record{{Tick: 10, Event: &events.Document{Key: "k"}}}}
	if !redeliver(hb(2, 10, 1, time.Now())) || redeliver(data) || redeliver(&events.Batch{}) {
		t.Fatal("redeliver: heartbeat-only batches (and requests) reach the handler, data replays do not")
	}
	applied := events.Position{Epoch: 2, Tick: 10, Sub: 40}
	for _, c := range []struct {
		name    string
		b       *events.Batch
		wantLag bool
	}{
		{"replayed heartbeat at the applied tick", hb(2, 10, 1, time.Now().Add(-2*time.Second)), true},
		{"heartbeat of an older epoch", hb(1, 99, 1, time.Now()), false},
		{"replayed data", data, false},
	} {
		r := &Receiver{}
		s := &shardState{st: ShardStatus{Applied: applied, LagSeconds: 3600}}
		r.observe(s, c.b, target.Skipped, applied)
		got := s.st.LagSeconds < 10
		if got != c.wantLag || s.st.Skipped != 1 {
			t.Errorf("%s: lag %.1f s after the skip (skipped %d), want refreshed %v", c.name, s.st.LagSeconds, s.st.Skipped, c.wantLag)
		}
	}
}

// The phase follows the applied position too: a worker that was away while
// another applied a snapshot's end (it continues from B's position,
// target.Receiver.Reloads) never sees the SnapshotEnd, but every position
// past the snapshot tick of its epoch is tailing.
func TestPhaseAfterAnotherWorkersSnapshotEnd(t *testing.T) {
	r := &Receiver{}
	s := &shardState{st: ShardStatus{Phase: "snapshot", Applied: events.Position{Epoch: 1, Sub: 7}}}
	data := &events.Batch{Prev: events.Position{Epoch: 1, Tick: 480}, Pos: events.Position{Epoch: 1, Tick: 500},
		Records: []events.Record{{Tick: 500, Event: &events.Document{Key: "k"}}}}
	r.observe(s, data, target.Applied, data.Pos)
	if s.st.Phase != "tailing" {
		t.Fatalf("phase %q after a WAL batch past the snapshot, want tailing", s.st.Phase)
	}
	chunk := &events.Batch{Prev: events.Position{Epoch: 2}, Pos: events.Position{Epoch: 2, Sub: 1},
		Records: []events.Record{{Event: &events.SnapshotBegin{}}}}
	r.observe(s, chunk, target.Applied, chunk.Pos)
	if s.st.Phase != "snapshot" {
		t.Fatalf("phase %q at the first chunk of a new epoch's snapshot, want snapshot", s.st.Phase)
	}
}
