package runner

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	driver "github.com/arangodb/go-driver"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/arango/verify"
	"github.com/dc2dc/dc2dc/handlers/control/registry"
	"github.com/dc2dc/dc2dc/handlers/source"
	"github.com/dc2dc/dc2dc/handlers/target"
	"github.com/dc2dc/dc2dc/handlers/task/receive"
	"github.com/dc2dc/dc2dc/handlers/task/send"
	"github.com/dc2dc/dc2dc/pipeline/batcher"
	"github.com/dc2dc/dc2dc/pipeline/broker"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
	"github.com/dc2dc/dc2dc/pipeline/middleware"
	"github.com/dc2dc/dc2dc/pipeline/mirror"
	"github.com/dc2dc/dc2dc/store"
	"github.com/dc2dc/dc2dc/tests/arangosim"
)

const (
	secret = "dc2dc-runner-test"
	syncID = "a-to-b"
	dbName = "shop"
)

func testLogger() *slog.Logger {
	if os.Getenv("DC2DC_TEST_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// world is cluster A and B, their Kafkas and the mirror between them.
type world struct {
	t            testing.TB
	ctx          context.Context
	log          *slog.Logger
	simA, simB   *arangosim.Cluster
	clA          *client.Client
	drvA         driver.Client
	connA, connB *target.Conn
	kA, kB       kafka.Config
	topics       kafka.Topics
	specs        []kafka.TopicSpec
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &world{t: t, ctx: ctx, log: testLogger()}
	var cleanups []func()
	t.Cleanup(func() {
		cancel()
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	})
	var err error
	w.simA, err = arangosim.Start(ctx, arangosim.Config{DBServers: 2, JWTSecret: secret})
	must(t, err)
	cleanups = append(cleanups, func() { _ = w.simA.Close() })
	w.simB, err = arangosim.Start(ctx, arangosim.Config{DBServers: 2, JWTSecret: secret})
	must(t, err)
	cleanups = append(cleanups, func() { _ = w.simB.Close() })
	w.clA, err = client.New(client.Config{Endpoints: []string{w.simA.Endpoint()}, JWTSecret: secret})
	must(t, err)
	cleanups = append(cleanups, w.clA.Close)
	w.drvA = w.clA.Driver()
	w.connA, err = target.Dial(target.ConnConfig{Endpoints: []string{w.simA.Endpoint()}, JWTSecret: secret})
	must(t, err)
	cleanups = append(cleanups, w.connA.Close)
	w.connB, err = target.Dial(target.ConnConfig{Endpoints: []string{w.simB.Endpoint()}, JWTSecret: secret})
	must(t, err)
	cleanups = append(cleanups, w.connB.Close)

	bA, err := broker.Start(ctx, broker.Config{GroupMinSessionTimeout: time.Second})
	must(t, err)
	cleanups = append(cleanups, func() { _ = bA.Close() })
	bB, err := broker.Start(ctx, broker.Config{GroupMinSessionTimeout: time.Second})
	must(t, err)
	cleanups = append(cleanups, func() { _ = bB.Close() })
	w.kA = kafka.Config{Brokers: bA.Addrs(), Logger: w.log}
	w.kB = kafka.Config{Brokers: bB.Addrs(), Logger: w.log}
	for _, k := range []*kafka.Config{&w.kA, &w.kB} {
		k.Consumer.SessionTimeout = 2 * time.Second
		k.Consumer.HeartbeatInterval = 300 * time.Millisecond
	}
	w.topics, err = kafka.TopicsFor("", syncID)
	must(t, err)
	w.specs = []kafka.TopicSpec{{Name: w.topics.Data, Partitions: 4}, {Name: w.topics.CtlUp, Partitions: 1},
		{Name: w.topics.CtlDown, Partitions: 1}, {Name: w.topics.Poison, Partitions: 1}}
	// B's topics exist from the start; A's are created by the test (the
	// send side must wait for them).
	must(t, kafka.EnsureTopics(ctx, w.kB, w.specs))
	m, err := mirror.New(mirror.Config{
		Clusters:          map[string]mirror.ClusterConfig{"A": {Brokers: bA.Addrs()}, "B": {Brokers: bB.Addrs()}},
		Routes:            mirror.SyncRoutes(syncID, "A", "B"),
		TopicRefresh:      mirror.Duration(200 * time.Millisecond),
		SessionTimeout:    mirror.Duration(2 * time.Second),
		HeartbeatInterval: mirror.Duration(300 * time.Millisecond),
		ShutdownTimeout:   mirror.Duration(5 * time.Second),
		RetryBackoffMax:   mirror.Duration(500 * time.Millisecond),
	}, mirror.WithLogger(w.log), mirror.WithRegisterer(prometheus.NewRegistry()))
	must(t, err)
	mctx, mcancel := context.WithCancel(ctx)
	mdone := make(chan struct{})
	go func() { defer close(mdone); _ = m.Run(mctx) }()
	cleanups = append(cleanups, func() { mcancel(); <-mdone })
	return w
}

// newRunner builds a runner of one datacenter with its own store.
func (w *world) newRunner(id string, k kafka.Config, endpoint string, mp metric.MeterProvider) *Runner {
	w.t.Helper()
	st, err := store.Open(store.Config{Dir: w.t.TempDir(), NoSync: true})
	must(w.t, err)
	r, err := New(Config{
		WorkerID: id, Kafka: k, Cluster: client.Config{Endpoints: []string{endpoint}, JWTSecret: secret}, Store: st,
		Send: send.Config{
			Source: source.Config{PollInterval: 5 * time.Millisecond, RetryBackoff: 10 * time.Millisecond, MaxRetryBackoff: 200 * time.Millisecond,
				BatchTTL: 30 * time.Second, ChunkSize: 256 << 10, DumpChunkSize: 256 << 10},
			Batch:             batcher.Config{Linger: 2 * time.Millisecond},
			HeartbeatInterval: 200 * time.Millisecond,
			TreeTimeout:       30 * time.Second,
			RevisionsTimeout:  30 * time.Second,
			RetryBackoff:      20 * time.Millisecond,
			MaxRetryBackoff:   500 * time.Millisecond,
		},
		Receive:        receive.Config{Retry: middleware.RetryConfig{InitialInterval: 10 * time.Millisecond, MaxInterval: 200 * time.Millisecond}},
		WatchInterval:  100 * time.Millisecond,
		TopicWaitLog:   time.Second,
		RestartBackoff: 100 * time.Millisecond,
		Logger:         w.log.With("worker", id),
		MeterProvider:  mp,
	})
	must(w.t, err)
	w.t.Cleanup(func() {
		if err := r.Close(); err != nil {
			w.t.Errorf("closing runner %s: %v", id, err)
		}
		_ = st.Close()
	})
	return r
}

// collection creates a collection in A and its partner in B.
func (w *world) collection(name, body string) (string, []client.Shard) {
	w.t.Helper()
	ctx := w.ctx
	if _, err := w.drvA.Database(ctx, dbName); driver.IsNotFoundGeneral(err) {
		_, err = w.drvA.CreateDatabase(ctx, dbName, nil)
		must(w.t, err)
	}
	req := target.Request{Method: http.MethodPost, Path: target.DBPath(dbName, "/_api/collection"), Body: []byte(body)}
	resp, err := w.connA.Do(ctx, req)
	must(w.t, err)
	must(w.t, resp.Check(req, http.StatusOK))
	s := target.NewStructure(w.connB, w.connB.Client())
	must(w.t, s.CreateDatabase(ctx, dbName, target.DatabaseOptions{}))
	preq := target.Request{Method: http.MethodGet, Path: target.DBPath(dbName, "/_api/collection/", name, "/properties")}
	presp, err := w.connA.Do(ctx, preq)
	must(w.t, err)
	must(w.t, presp.Check(preq, http.StatusOK))
	must(w.t, s.CreateCollection(ctx, dbName, presp.Body))
	inv, err := w.clA.Inventory(ctx, dbName, false)
	must(w.t, err)
	c, ok := inv.Collection(name)
	if !ok {
		w.t.Fatalf("%s not in A's inventory", name)
	}
	shards, err := w.clA.Shards(ctx, dbName, name)
	must(w.t, err)
	return c.ID, shards
}

// tasks are the send-shard tasks of a collection's shards, all of one
// generation.
func tasks(coll, id string, shards []client.Shard, gen uint64) []registry.Task {
	var out []registry.Task
	for _, sh := range shards {
		ref := events.ShardRef{Database: dbName, CollectionID: id, Index: sh.Index}.String()
		out = append(out, registry.Task{ID: "send-" + ref, Kind: registry.KindSendShard, Sync: syncID, Shard: ref,
			Collection: coll, ShardName: sh.Name, ShardLeader: sh.Leader, Generation: gen, LeaderEpoch: 1})
	}
	return out
}

// eventually polls cond until it holds or the timeout passes.
func (w *world) eventually(what string, timeout time.Duration, cond func() (bool, string)) {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if msg != "" {
			last = msg
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, last)
		}
		time.Sleep(20 * time.Millisecond) // polling interval of a deadline loop
	}
}

// identical compares every shard of coll in A and B.
func (w *world) identical(coll string, shards int) (bool, string) {
	for i := range shards {
		rep, err := verify.CompareShards(w.ctx, verify.FromConn(w.connA), verify.FromConn(w.connB), dbName, coll, coll, i, verify.Config{})
		if err != nil {
			return false, err.Error()
		}
		if !rep.Equal {
			return false, fmt.Sprintf("%s shard %d: A %d docs, B %d docs, %d differences", coll, i, rep.A.Count, rep.B.Count, len(rep.Differences))
		}
	}
	return true, ""
}

// writer inserts and updates documents in A in the background.
type writer struct {
	w     *world
	col   driver.Collection
	ops   atomic.Int64
	stopc chan struct{}
	done  chan struct{}
}

func (w *world) writer(coll string) *writer {
	db, err := w.drvA.Database(w.ctx, dbName)
	must(w.t, err)
	c, err := db.Collection(w.ctx, coll)
	must(w.t, err)
	return &writer{w: w, col: c}
}

func (wr *writer) start() {
	wr.stopc, wr.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(wr.done)
		for {
			select {
			case <-wr.stopc:
				return
			case <-wr.w.ctx.Done():
				return
			default:
			}
			n := wr.ops.Load()
			key := fmt.Sprintf("k%d", n)
			var err error
			if n%4 == 3 {
				_, err = wr.col.UpdateDocument(wr.w.ctx, fmt.Sprintf("k%d", n/2), map[string]any{"v": n})
			} else {
				_, err = wr.col.CreateDocument(wr.w.ctx, map[string]any{"_key": key, "v": n})
			}
			if err == nil || driver.IsNotFoundGeneral(err) || driver.IsConflict(err) {
				wr.ops.Add(1)
			}
		}
	}()
}

func (wr *writer) stop() {
	close(wr.stopc)
	<-wr.done
}

// progress waits until n more writes succeeded.
func (wr *writer) progress(n int64) {
	target := wr.ops.Load() + n
	wr.w.eventually(fmt.Sprintf("%d writes", n), 30*time.Second, func() (bool, string) {
		return wr.ops.Load() >= target, fmt.Sprint(wr.ops.Load(), " writes")
	})
}

// metricNames collects the names of the metrics a reader holds.
func metricNames(t testing.TB, reader *sdkmetric.ManualReader) map[string]bool {
	t.Helper()
	var rm metricdata.ResourceMetrics
	must(t, reader.Collect(context.Background(), &rm))
	out := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = true
		}
	}
	return out
}
