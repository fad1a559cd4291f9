package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	driver "github.com/arangodb/go-driver"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/arango/revtree"
	"github.com/dc2dc/dc2dc/handlers/arango/wal"
	"github.com/dc2dc/dc2dc/tests/arangosim"
)

const testSecret = "dc2dc-test-secret"

// env is an in-process arangosim cluster with a dc2dc client on it.
type env struct {
	t       testing.TB
	sim     *arangosim.Cluster
	cl      *client.Client
	watcher *client.Watcher
	drv     driver.Client
	stop    func()
}

func newEnv(t testing.TB, dbservers int) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sim, err := arangosim.Start(ctx, arangosim.Config{DBServers: dbservers, JWTSecret: testSecret})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	cl, err := client.New(client.Config{Endpoints: []string{sim.Endpoint()}, JWTSecret: testSecret})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := cl.Ping(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	w, err := client.NewWatcher(cl, client.WatcherConfig{Interval: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}, nil, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := w.Poll(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = w.Run(ctx)
	}()
	e := &env{t: t, sim: sim, cl: cl, watcher: w, drv: cl.Driver()}
	e.stop = func() {
		cancel()
		wg.Wait()
		_ = sim.Close()
		cl.Close()
	}
	t.Cleanup(e.stop)
	return e
}

// collection creates a collection and returns its shards (index order).
func (e *env) collection(db, name string, shards, rf int) (driver.Collection, []client.Shard, string) {
	e.t.Helper()
	ctx := context.Background()
	d, err := e.drv.Database(ctx, db)
	if driver.IsNotFoundGeneral(err) || driver.IsArangoErrorWithErrorNum(err, driver.ErrArangoDocumentNotFound, driver.ErrArangoDataSourceNotFound) { // the deprecated IsNotFound
		d, err = e.drv.CreateDatabase(ctx, db, nil)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	col, err := d.CreateCollection(ctx, name, &driver.CreateCollectionOptions{NumberOfShards: shards, ReplicationFactor: rf})
	if err != nil {
		e.t.Fatal(err)
	}
	inv, err := e.cl.Inventory(ctx, db, false)
	if err != nil {
		e.t.Fatal(err)
	}
	c, ok := inv.Collection(name)
	if !ok || len(c.Shards) != shards {
		e.t.Fatalf("collection %s not in the inventory: %+v", name, inv)
	}
	e.waitFor("the watcher to see "+name, func() bool {
		_, ok := e.watcher.ShardLeader(db, c.Shards[0].Name)
		return ok
	})
	return col, c.Shards, c.ID
}

// waitFor polls cond until it holds or 20s pass.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronization
	}
}

// leaderDocs returns the shard's documents on its current leader: key → rev.
func (e *env) leaderDocs(db, shard string) map[string]string {
	e.t.Helper()
	leader, ok := e.watcher.ShardLeader(db, shard)
	if !ok {
		e.t.Fatalf("no leader for %s", shard)
	}
	s, ok := e.sim.Server(leader)
	if !ok {
		e.t.Fatalf("no server %s", leader)
	}
	sn, err := s.Snapshot(db)
	if err != nil {
		e.t.Fatal(err)
	}
	ss, ok := sn.Shard(shard)
	if !ok {
		e.t.Fatalf("leader %s has no shard %s", leader, shard)
	}
	out := make(map[string]string, ss.Len())
	for _, d := range ss.ByRev() {
		out[d.Key] = d.RevString()
	}
	return out
}

type stored struct {
	rev string
	doc json.RawMessage
}

// replica is a fake cluster B for one shard: it applies records the way the
// receive side does and serves its revision tree (a Target). It also keeps
// every Emit for the assertions.
type replica struct {
	mu    sync.Mutex
	docs  map[string]stored
	emits []emit
	fail  error // returned by Emit when set
}

type emit struct {
	recs []events.Record
	pos  Position
}

func newReplica() *replica { return &replica{docs: make(map[string]stored)} }

func (r *replica) Emit(ctx context.Context, recs []events.Record, pos Position) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.emits = append(r.emits, emit{recs: slices.Clone(recs), pos: pos})
	for _, rec := range recs {
		switch e := rec.Event.(type) {
		case *events.SnapshotDocuments:
			for _, d := range e.Docs {
				k, rev, err := wal.KeyRev(d)
				if err != nil {
					return err
				}
				r.docs[k] = stored{rev: rev, doc: d}
			}
		case *events.SnapshotRemove:
			for _, kr := range e.Keys {
				if cur, ok := r.docs[kr.Key]; ok && cur.rev == kr.Rev {
					delete(r.docs, kr.Key)
				} else {
					return fmt.Errorf("SnapshotRemove %s@%s: replica holds %q", kr.Key, kr.Rev, cur.rev)
				}
			}
		case *events.Document:
			r.docs[e.Key] = stored{rev: e.Rev, doc: e.Doc}
		case *events.Remove:
			delete(r.docs, e.Key)
		}
	}
	return nil
}

func (r *replica) Tree(ctx context.Context) (*revtree.Tree, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, err := revtree.New(revtree.DefaultDepth, revtree.LowerBound)
	if err != nil {
		return nil, err
	}
	for _, s := range r.docs {
		v, err := revtree.DecodeHLC(s.rev)
		if err != nil {
			return nil, err
		}
		if err := t.Insert(v); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (r *replica) Revisions(ctx context.Context, ranges []revtree.Range) ([]events.KeyRev, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []events.KeyRev
	for k, s := range r.docs {
		v, err := revtree.DecodeHLC(s.rev)
		if err != nil {
			return nil, err
		}
		for _, rg := range ranges {
			if v >= rg.Min && v <= rg.Max {
				out = append(out, events.KeyRev{Key: k, Rev: s.rev})
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, _ := revtree.DecodeHLC(out[i].Rev)
		b, _ := revtree.DecodeHLC(out[j].Rev)
		return a < b
	})
	return out, nil
}

// state returns key → rev.
func (r *replica) state() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]string, len(r.docs))
	for k, s := range r.docs {
		out[k] = s.rev
	}
	return out
}

func (r *replica) allEmits() []emit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.emits)
}

// lastPos returns the position of the latest Emit.
func (r *replica) lastPos() (Position, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.emits) == 0 {
		return Position{}, false
	}
	return r.emits[len(r.emits)-1].pos, true
}

// runner runs a shard's sources epoch after epoch, like a send-shard task.
type runner struct {
	e      *env
	shard  Shard
	rep    *replica
	target bool
	cfg    Config

	mu     sync.Mutex
	epochs []*NewEpochError
	err    error
	done   chan struct{}
	cancel context.CancelFunc
}

func (e *env) run(cfg Config, shard Shard, rep *replica, target bool, start Start) *runner {
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{e: e, shard: shard, rep: rep, target: target, cfg: cfg, done: make(chan struct{}), cancel: cancel}
	e.t.Cleanup(func() { _ = r.stopped() })
	go func() {
		defer close(r.done)
		for {
			var tgt Target
			if r.target {
				tgt = rep
			}
			src, err := New(cfg, shard, start, e.cl, e.watcher, tgt, rep)
			if err == nil {
				err = src.Run(ctx)
			}
			var ne *NewEpochError
			if errors.As(err, &ne) {
				r.mu.Lock()
				r.epochs = append(r.epochs, ne)
				r.mu.Unlock()
				start = Start{Epoch: start.Epoch + 1, Leader: ne.Leader}
				continue
			}
			r.mu.Lock()
			r.err = err
			r.mu.Unlock()
			return
		}
	}()
	return r
}

func (r *runner) stopped() error {
	r.cancel()
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	if errors.Is(r.err, context.Canceled) {
		return nil
	}
	return r.err
}

func (r *runner) newEpochs() []*NewEpochError {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.epochs)
}

func (r *runner) failed() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func testConfig() Config {
	var logger *slog.Logger
	if os.Getenv("DC2DC_TEST_DEBUG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return Config{Logger: logger, PollInterval: 5 * time.Millisecond, RetryBackoff: 5 * time.Millisecond, MaxRetryBackoff: 50 * time.Millisecond,
		BatchTTL: 8 * time.Second, SyncerID: 4711, ServerID: 4711, ChunkSize: 64 << 10, DumpChunkSize: 64 << 10,
		MaxRecords: 100, DocumentsPerRequest: 50}
}

func shardOf(db, coll, id string, s client.Shard) Shard {
	return Shard{Ref: events.ShardRef{Database: db, CollectionID: id, Index: s.Index}, Collection: coll, Name: s.Name, Leader: s.Leader}
}

func sameState(a, b map[string]string) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d documents vs %d", len(a), len(b))
	}
	for k, v := range a {
		if b[k] != v {
			return fmt.Sprintf("key %s: %q vs %q", k, v, b[k])
		}
	}
	return ""
}

func key(i int) string { return "k" + strconv.Itoa(i) }

// waitTimeout bounds every wait. It is long because a revision resync parses
// a depth-6 tree of 8^6 buckets (revtree.Parse: ~0.3 s, ~6 s under -race).
var waitTimeout = 60 * time.Second

// waitSame waits until the replica holds exactly the shard leader's documents.
func (e *env) waitSame(db, shard string, rep *replica) {
	e.t.Helper()
	var diff string
	deadline := time.Now().Add(waitTimeout)
	for {
		diff = sameState(e.leaderDocs(db, shard), rep.state())
		if diff == "" {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("shard %s never converged: A vs replica: %s", shard, diff)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronization
	}
}
