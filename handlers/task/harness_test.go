package task

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	driver "github.com/arangodb/go-driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/arango/verify"
	"github.com/dc2dc/dc2dc/handlers/source"
	"github.com/dc2dc/dc2dc/handlers/target"
	"github.com/dc2dc/dc2dc/handlers/task/ctl"
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
	secret = "dc2dc-task-test"
	syncID = "a-to-b"
	dbName = "shop"
)

func logger() *slog.Logger {
	if os.Getenv("DC2DC_TEST_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// world is cluster A and B, their Kafkas, the mirror, one worker store per
// side, and the tasks.
type world struct {
	t      testing.TB
	ctx    context.Context
	log    *slog.Logger
	simA   *arangosim.Cluster
	simB   *arangosim.Cluster
	clA    *client.Client
	watch  *client.Watcher
	drvA   driver.Client
	connA  *target.Conn
	connB  *target.Conn
	topics kafka.Topics
	kA, kB kafka.Config
	storeA *store.Store
	storeB *store.Store
	pubA   message.Publisher
	pubB   message.Publisher
	listen *ctl.Listener
	epochs *send.StoreEpochs

	mu    sync.Mutex
	sends map[string]*running[*send.Task]
	recv  *running[*receive.Receiver]
	wg    sync.WaitGroup
}

// running is a task in the background.
type running[T any] struct {
	v      T
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func (r *running[T]) stop() error {
	r.cancel()
	<-r.done
	return r.err
}

func goRun[T any](w *world, v T, run func(context.Context) error) *running[T] {
	ctx, cancel := context.WithCancel(w.ctx)
	r := &running[T]{v: v, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = run(ctx)
		if r.err != nil {
			w.log.Error("task ended", "err", r.err)
		}
	}()
	return r
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newWorld(t testing.TB, dbserversA, dbserversB int) *world {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &world{t: t, ctx: ctx, log: logger(), sends: make(map[string]*running[*send.Task])}
	var cleanups []func()
	t.Cleanup(func() {
		cancel()
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	})
	defer func() {
		if t.Failed() {
			cancel()
		}
	}()
	var err error
	w.simA, err = arangosim.Start(ctx, arangosim.Config{DBServers: dbserversA, JWTSecret: secret})
	must(t, err)
	cleanups = append(cleanups, func() { _ = w.simA.Close() })
	w.simB, err = arangosim.Start(ctx, arangosim.Config{DBServers: dbserversB, JWTSecret: secret})
	must(t, err)
	cleanups = append(cleanups, func() { _ = w.simB.Close() })
	w.clA, err = client.New(client.Config{Endpoints: []string{w.simA.Endpoint()}, JWTSecret: secret})
	must(t, err)
	cleanups = append(cleanups, w.clA.Close)
	w.drvA = w.clA.Driver()
	w.watch, err = client.NewWatcher(w.clA, client.WatcherConfig{Interval: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond}, nil, nil)
	must(t, err)
	must(t, w.watch.Poll(ctx))
	w.wg.Add(1)
	go func() { defer w.wg.Done(); _ = w.watch.Run(ctx) }()
	cleanups = append(cleanups, func() { cancel(); w.wg.Wait() })
	w.connA, err = target.Dial(target.ConnConfig{Endpoints: []string{w.simA.Endpoint()}, JWTSecret: secret, RequestTimeout: 30 * time.Second})
	must(t, err)
	cleanups = append(cleanups, w.connA.Close)
	w.connB, err = target.Dial(target.ConnConfig{Endpoints: []string{w.simB.Endpoint()}, JWTSecret: secret, RequestTimeout: 30 * time.Second})
	must(t, err)
	cleanups = append(cleanups, w.connB.Close)

	// Kafka A and B, topics, the mirror.
	bA, err := broker.Start(ctx, broker.Config{GroupMinSessionTimeout: time.Second})
	must(t, err)
	cleanups = append(cleanups, func() { _ = bA.Close() })
	bB, err := broker.Start(ctx, broker.Config{GroupMinSessionTimeout: time.Second})
	must(t, err)
	cleanups = append(cleanups, func() { _ = bB.Close() })
	w.kA = kafka.Config{Brokers: bA.Addrs(), Logger: w.log}
	w.kB = kafka.Config{Brokers: bB.Addrs(), Logger: w.log}
	w.kB.Consumer.SessionTimeout = 2 * time.Second
	w.kB.Consumer.HeartbeatInterval = 300 * time.Millisecond
	w.topics, err = kafka.TopicsFor("", syncID)
	must(t, err)
	must(t, kafka.EnsureTopics(ctx, w.kA, []kafka.TopicSpec{{Name: w.topics.Data, Partitions: 6}, {Name: w.topics.CtlUp, Partitions: 1},
		{Name: w.topics.CtlDown, Partitions: 1}, {Name: w.topics.Poison, Partitions: 1}}))
	must(t, kafka.EnsureTopics(ctx, w.kB, []kafka.TopicSpec{{Name: w.topics.Data, Partitions: 6}, {Name: w.topics.CtlUp, Partitions: 1},
		{Name: w.topics.CtlDown, Partitions: 1}, {Name: w.topics.Poison, Partitions: 1}}))
	mcfg := mirror.Config{
		Clusters:          map[string]mirror.ClusterConfig{"A": {Brokers: bA.Addrs()}, "B": {Brokers: bB.Addrs()}},
		Routes:            mirror.SyncRoutes(syncID, "A", "B"),
		TopicRefresh:      mirror.Duration(200 * time.Millisecond),
		SessionTimeout:    mirror.Duration(2 * time.Second),
		HeartbeatInterval: mirror.Duration(300 * time.Millisecond),
		ShutdownTimeout:   mirror.Duration(5 * time.Second),
		RetryBackoffMax:   mirror.Duration(500 * time.Millisecond),
	}
	m, err := mirror.New(mcfg, mirror.WithLogger(w.log), mirror.WithRegisterer(prometheus.NewRegistry()))
	must(t, err)
	mdone := make(chan struct{})
	mctx, mcancel := context.WithCancel(ctx)
	go func() { defer close(mdone); _ = m.Run(mctx) }()
	cleanups = append(cleanups, func() { mcancel(); <-mdone })

	// The workers' stores and publishers.
	w.storeA, err = store.Open(store.Config{Dir: t.TempDir(), NoSync: true})
	must(t, err)
	cleanups = append(cleanups, func() { _ = w.storeA.Close() })
	w.storeB, err = store.Open(store.Config{Dir: t.TempDir(), NoSync: true})
	must(t, err)
	cleanups = append(cleanups, func() { _ = w.storeB.Close() })
	metrics, err := middleware.NewMetrics(nil)
	must(t, err)
	cleanups = append(cleanups, func() { _ = metrics.Close() })
	rawA, err := kafka.NewPublisher(w.kA)
	must(t, err)
	cleanups = append(cleanups, func() { _ = rawA.Close() })
	w.pubA, err = middleware.DecoratePublisher(rawA, middleware.NewTracing(nil).PublisherDecorator(), metrics.PublisherDecorator())
	must(t, err)
	w.pubB, err = kafka.NewPublisher(w.kB)
	must(t, err)
	cleanups = append(cleanups, func() { _ = w.pubB.Close() })
	w.epochs = &send.StoreEpochs{Store: w.storeA, Sync: syncID}

	lk := w.kA
	lk.Consumer.Group = "dc2dc." + syncID + ".ctl.worker-a1"
	w.listen, err = ctl.NewListener(ctl.ListenerConfig{Kafka: lk, Topic: w.topics.CtlDown, Logger: w.log})
	must(t, err)
	lctx, lcancel := context.WithCancel(ctx)
	ldone := make(chan struct{})
	go func() { defer close(ldone); _ = w.listen.Run(lctx) }()
	// Stop every task before the infrastructure goes.
	cleanups = append(cleanups, func() { lcancel(); <-ldone }, w.stopAll)
	select {
	case <-w.listen.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("ctl listener not ready")
	}
	select {
	case <-m.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("mirror not ready")
	}
	return w
}

func (w *world) stopAll() {
	w.mu.Lock()
	sends := w.sends
	w.sends = map[string]*running[*send.Task]{}
	recv := w.recv
	w.recv = nil
	w.mu.Unlock()
	for _, r := range sends {
		_ = r.stop()
	}
	if recv != nil {
		_ = recv.stop()
	}
}

// collection creates a collection in A and its partner in B (target.Structure).
func (w *world) collection(name string, body string, indexes ...string) (string, []client.Shard) {
	w.t.Helper()
	ctx := w.ctx
	if _, err := w.drvA.Database(ctx, dbName); driver.IsNotFoundGeneral(err) {
		_, err = w.drvA.CreateDatabase(ctx, dbName, nil)
		must(w.t, err)
	}
	resp, err := w.connA.Do(ctx, target.Request{Method: http.MethodPost, Path: target.DBPath(dbName, "/_api/collection"), Body: []byte(body)})
	must(w.t, err)
	must(w.t, resp.Check(target.Request{Method: http.MethodPost}, http.StatusOK))
	for _, idx := range indexes {
		req := target.Request{Method: http.MethodPost, Path: target.DBPath(dbName, "/_api/index"), Query: map[string][]string{"collection": {name}}, Body: []byte(idx)}
		resp, err := w.connA.Do(ctx, req)
		must(w.t, err)
		must(w.t, resp.Check(req, http.StatusOK, http.StatusCreated))
	}
	s := target.NewStructure(w.connB, w.connB.Client())
	must(w.t, s.CreateDatabase(ctx, dbName, target.DatabaseOptions{}))
	preq := target.Request{Method: http.MethodGet, Path: target.DBPath(dbName, "/_api/collection/", name, "/properties")}
	presp, err := w.connA.Do(ctx, preq)
	must(w.t, err)
	must(w.t, presp.Check(preq, http.StatusOK))
	must(w.t, s.CreateCollection(ctx, dbName, presp.Body))
	for _, idx := range indexes {
		must(w.t, s.EnsureIndex(ctx, dbName, name, []byte(idx)))
	}
	inv, err := w.clA.Inventory(ctx, dbName, false)
	must(w.t, err)
	c, ok := inv.Collection(name)
	if !ok {
		w.t.Fatalf("%s not in A's inventory", name)
	}
	shards, err := w.clA.Shards(ctx, dbName, name)
	must(w.t, err)
	w.eventually("the watcher to see "+name, 30*time.Second, func() (bool, string) {
		_, ok := w.watch.ShardLeader(dbName, shards[0].Name)
		return ok, ""
	})
	return c.ID, shards
}

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
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronization
	}
}

func sendConfig(name, id string, sh client.Shard) send.Config {
	return send.Config{
		Sync:  syncID,
		Shard: source.Shard{Ref: events.ShardRef{Database: dbName, CollectionID: id, Index: sh.Index}, Collection: name, Name: sh.Name, Leader: sh.Leader},
		Topic: kafka.DefaultTopicPrefix + "." + syncID + ".data",
		Source: source.Config{PollInterval: 5 * time.Millisecond, RetryBackoff: 10 * time.Millisecond, MaxRetryBackoff: 200 * time.Millisecond,
			BatchTTL: 30 * time.Second, SyncerID: 4711 + sh.ID%1000, ServerID: 4711, ChunkSize: 256 << 10, DumpChunkSize: 256 << 10},
		Batch:             batcher.Config{Linger: 2 * time.Millisecond},
		HeartbeatInterval: 200 * time.Millisecond,
		TreeTimeout:       60 * time.Second,
		RevisionsTimeout:  60 * time.Second,
		RetryBackoff:      20 * time.Millisecond,
		MaxRetryBackoff:   500 * time.Millisecond,
	}
}

// startSend starts the send task of a shard.
func (w *world) startSend(name, id string, sh client.Shard) *running[*send.Task] {
	w.t.Helper()
	cfg := sendConfig(name, id, sh)
	cfg.Logger = w.log.With("task", "send", "shard", sh.Name)
	task, err := send.New(cfg, send.Deps{Store: w.storeA, Epochs: w.epochs, Publisher: w.pubA, Dialer: w.clA, Leaders: w.watch, Listener: w.listen})
	must(w.t, err)
	r := goRun(w, task, task.Run)
	w.mu.Lock()
	w.sends[cfg.Shard.Ref.String()] = r
	w.mu.Unlock()
	return r
}

func (w *world) stopSend(ref string) {
	w.mu.Lock()
	r := w.sends[ref]
	delete(w.sends, ref)
	w.mu.Unlock()
	if r != nil {
		if err := r.stop(); err != nil {
			w.t.Errorf("send task %s: %v", ref, err)
		}
	}
}

func (w *world) sendTask(ref string) *send.Task {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sends[ref].v
}

// startReceive starts the receive side.
// A non-empty group stands for a new worker whose consumer group has no
// committed offsets: it reads the data topic from the start.
func (w *world) startReceive(group string) *running[*receive.Receiver] {
	w.t.Helper()
	k := w.kB
	k.Consumer.Group = group
	rc, err := receive.New(receive.Config{Sync: syncID, Kafka: k, Topics: w.topics, Logger: w.log.With("task", "receive"),
		Retry: middleware.RetryConfig{InitialInterval: 10 * time.Millisecond, MaxInterval: 200 * time.Millisecond}},
		receive.Deps{Conn: w.connB, Store: w.storeB, Publisher: w.pubB})
	must(w.t, err)
	r := goRun(w, rc, rc.Run)
	w.mu.Lock()
	w.recv = r
	w.mu.Unlock()
	select {
	case <-rc.Ready():
	case <-r.done:
		w.t.Fatalf("receive ended: %v", r.err)
	case <-time.After(30 * time.Second):
		w.t.Fatal("receive not ready")
	}
	return r
}

func (w *world) stopReceive() {
	w.mu.Lock()
	r := w.recv
	w.recv = nil
	w.mu.Unlock()
	if err := r.stop(); err != nil {
		w.t.Errorf("receive: %v", err)
	}
}

func (w *world) receiver() *receive.Receiver {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.recv.v
}

func (w *world) shardStatus(ref string) (receive.ShardStatus, bool) {
	for _, s := range w.receiver().Status() {
		if s.Shard == ref {
			return s, true
		}
	}
	return receive.ShardStatus{}, false
}

// compare compares every shard of coll in A and B.
func (w *world) compare(coll string, shards int) (bool, string) {
	for i := 0; i < shards; i++ {
		rep, err := verify.CompareShards(w.ctx, verify.FromConn(w.connA), verify.FromConn(w.connB), dbName, coll, coll, i, verify.Config{})
		if err != nil {
			return false, err.Error()
		}
		if !rep.Equal {
			msg := fmt.Sprintf("%s shard %d: A %d docs, B %d docs, %d differences", coll, i, rep.A.Count, rep.B.Count, len(rep.Differences))
			if len(rep.Differences) > 0 {
				d := rep.Differences[0]
				msg += fmt.Sprintf(" (first: %s %s A=%s B=%s)", d.Key, d.Kind, d.RevA, d.RevB)
			}
			return false, msg
		}
	}
	return true, ""
}

// waitIdentical waits until every shard of the collections is identical in A and B.
func (w *world) waitIdentical(timeout time.Duration, colls map[string]int) {
	w.t.Helper()
	w.eventually("A and B identical", timeout, func() (bool, string) {
		for c, n := range colls {
			if ok, msg := w.compare(c, n); !ok {
				return false, msg
			}
		}
		return true, ""
	})
}
