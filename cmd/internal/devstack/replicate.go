package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/source"
	"github.com/dc2dc/dc2dc/handlers/target"
	"github.com/dc2dc/dc2dc/handlers/task/ctl"
	"github.com/dc2dc/dc2dc/handlers/task/receive"
	"github.com/dc2dc/dc2dc/handlers/task/send"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
	"github.com/dc2dc/dc2dc/pipeline/middleware"
	"github.com/dc2dc/dc2dc/store"
)

// ReplicatorConfig configures the standalone replication of `dc2dc dev`.
type ReplicatorConfig struct {
	A, B   Datacenter
	SyncID string
	// Dir holds the checkpoint stores (send side and receive side).
	Dir string
	// Interval between two looks at A's topology (default 2s).
	Interval time.Duration
	Logger   *slog.Logger
}

// Validate reports every problem at once.
func (c ReplicatorConfig) Validate() error {
	var errs []error
	for name, dc := range map[string]Datacenter{"A": c.A, "B": c.B} {
		if len(dc.Coordinators) == 0 || dc.JWTSecret == "" || len(dc.KafkaBrokers) == 0 {
			errs = append(errs, fmt.Errorf("replicator: datacenter %s needs coordinators, a JWT secret and Kafka brokers", name))
		}
	}
	if err := kafka.ValidateSyncID(c.SyncID); err != nil {
		errs = append(errs, err)
	}
	if c.Dir == "" {
		errs = append(errs, errors.New("replicator: no directory for the checkpoint stores"))
	}
	if c.Interval < 0 {
		errs = append(errs, fmt.Errorf("replicator: interval %v: use a positive duration", c.Interval))
	}
	return errors.Join(errs...)
}

// ShardStatus is the replication state of one shard of A.
type ShardStatus struct {
	Shard      string // database/collectionId/index
	Collection string // database/name
	SendPhase  string // send task: starting, snapshot, tailing, done, failed
	RecvPhase  string // receive side: snapshot, tailing, resync-requested, ended ("" before the first batch)
	Applied    events.Position
	LeaderTick uint64
	LagSeconds float64
	LagTicks   uint64
	LastError  string
}

// Phase is the shard's phase for people: initial-sync or tailing.
func (s ShardStatus) Phase() string {
	switch {
	case s.SendPhase == "snapshot" || s.RecvPhase == "snapshot":
		return "initial-sync"
	case s.RecvPhase == "":
		return "waiting"
	default:
		return s.RecvPhase
	}
}

// Replicator replicates cluster A to cluster B inside one process without the
// control plane (the "standalone plan" of `dc2dc dev`): it copies the
// structure (databases, collections with identical sharding, indexes,
// analyzers, views) from A
// to B, runs one send-shard task per shard of A (following new collections
// by polling A's topology) and the receive side in B.
//
// Analyzers and views are created once each (later changes of their
// definitions in A are not followed). It is for development only: one
// process owns every shard (StoreEpochs), users are not copied (A's
// password hashes are not readable through the user API), and dropped
// collections are not dropped in B.
type Replicator struct {
	cfg ReplicatorConfig
	log *slog.Logger

	mu        sync.Mutex
	sends     map[string]*sendEntry
	recv      *receive.Receiver
	structure map[string]bool // db/collection done in B
	lastErr   string
}

type sendEntry struct {
	task       *send.Task
	collection string
}

// NewReplicator checks the configuration.
func NewReplicator(cfg ReplicatorConfig) (*Replicator, error) {
	if cfg.Interval == 0 {
		cfg.Interval = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Replicator{cfg: cfg, log: cfg.Logger, sends: map[string]*sendEntry{}, structure: map[string]bool{}}, nil
}

// Status lists every shard, sorted.
func (r *Replicator) Status() ([]ShardStatus, string) {
	r.mu.Lock()
	recv := r.recv
	out := make([]ShardStatus, 0, len(r.sends))
	for ref, e := range r.sends {
		st := e.task.Status()
		out = append(out, ShardStatus{Shard: ref, Collection: e.collection, SendPhase: st.Phase, LeaderTick: st.LeaderTick, LastError: st.LastError})
	}
	lastErr := r.lastErr
	r.mu.Unlock()
	if recv != nil {
		byRef := map[string]receive.ShardStatus{}
		for _, s := range recv.Status() {
			byRef[s.Shard] = s
		}
		for i := range out {
			if s, ok := byRef[out[i].Shard]; ok {
				out[i].RecvPhase, out[i].Applied, out[i].LagSeconds, out[i].LagTicks = s.Phase, s.Applied, s.LagSeconds, s.LagTicks
				if s.LastError != "" {
					out[i].LastError = "B: " + s.LastError
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Collection+out[i].Shard < out[j].Collection+out[j].Shard })
	return out, lastErr
}

func (r *Replicator) setErr(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.lastErr = ""
		return
	}
	r.lastErr = err.Error()
}

// Run replicates until ctx ends.
func (r *Replicator) Run(ctx context.Context) error {
	cfg, log := r.cfg, r.log
	topics, err := kafka.TopicsFor("", cfg.SyncID)
	if err != nil {
		return err
	}
	clA, err := client.New(client.Config{Endpoints: cfg.A.Coordinators, JWTSecret: cfg.A.JWTSecret})
	if err != nil {
		return err
	}
	defer clA.Close()
	connB, err := target.Dial(target.ConnConfig{Endpoints: cfg.B.Coordinators, JWTSecret: cfg.B.JWTSecret, RequestTimeout: 30 * time.Second})
	if err != nil {
		return err
	}
	defer connB.Close()
	storeA, err := store.Open(store.Config{Dir: filepath.Join(cfg.Dir, "send-a")})
	if err != nil {
		return err
	}
	defer func() { _ = storeA.Close() }()
	storeB, err := store.Open(store.Config{Dir: filepath.Join(cfg.Dir, "receive-b")})
	if err != nil {
		return err
	}
	defer func() { _ = storeB.Close() }()

	kA := kafka.Config{Brokers: cfg.A.KafkaBrokers, Logger: log.With("kafka", "A")}
	kB := kafka.Config{Brokers: cfg.B.KafkaBrokers, Logger: log.With("kafka", "B")}
	metrics, err := middleware.NewMetrics(nil)
	if err != nil {
		return err
	}
	defer func() { _ = metrics.Close() }()
	rawA, err := kafka.NewPublisher(kA)
	if err != nil {
		return err
	}
	defer func() { _ = rawA.Close() }()
	pubA, err := middleware.DecoratePublisher(rawA, middleware.NewTracing(nil).PublisherDecorator(), metrics.PublisherDecorator())
	if err != nil {
		return err
	}
	pubB, err := kafka.NewPublisher(kB)
	if err != nil {
		return err
	}
	defer func() { _ = pubB.Close() }()

	watch, err := client.NewWatcher(clA, client.WatcherConfig{Interval: cfg.Interval}, nil, func(err error) {
		log.Warn("topology of A", "err", err)
	})
	if err != nil {
		return err
	}
	lk := kA
	lk.Consumer.Group = kafka.DefaultTopicPrefix + "." + cfg.SyncID + ".ctl.dev"
	listen, err := ctl.NewListener(ctl.ListenerConfig{Kafka: lk, Topic: topics.CtlDown, Logger: log.With("task", "ctl")})
	if err != nil {
		return err
	}
	rk := kB
	rc, err := receive.New(receive.Config{Sync: cfg.SyncID, Kafka: rk, Topics: topics, Logger: log.With("task", "receive")},
		receive.Deps{Conn: connB, Store: storeB, Publisher: pubB})
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.recv = rc
	r.mu.Unlock()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return watch.Run(gctx) })
	g.Go(func() error { return listen.Run(gctx) })
	g.Go(func() error { return rc.Run(gctx) })
	g.Go(func() error {
		plan := &planner{r: r, clA: clA, structure: target.NewStructure(connB, connB.Client()), watch: watch,
			deps: send.Deps{Store: storeA, Epochs: &send.StoreEpochs{Store: storeA, Sync: cfg.SyncID}, Publisher: pubA,
				Dialer: clA, Leaders: watch, Listener: listen}, topic: topics.Data}
		return plan.run(gctx, g)
	})
	err = g.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// planner starts a send task for every shard of A it has not started yet,
// after creating the shard's collection in B.
type planner struct {
	r         *Replicator
	clA       *client.Client
	structure *target.Structure
	watch     *client.Watcher
	deps      send.Deps
	topic     string
}

func (p *planner) run(ctx context.Context, g *errgroup.Group) error {
	tick := time.NewTicker(p.r.cfg.Interval)
	defer tick.Stop()
	for {
		if topo := p.watch.Current(); topo != nil {
			p.r.setErr(p.plan(ctx, g, topo))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-p.watch.Changed():
		case <-tick.C:
		}
	}
}

func (p *planner) plan(ctx context.Context, g *errgroup.Group, topo *client.Topology) error {
	var errs []error
	for _, db := range topo.DatabaseNames() {
		if db == "_system" {
			continue
		}
		d := topo.Databases[db]
		if !p.done(db) {
			if err := p.structure.CreateDatabase(ctx, db, target.DatabaseOptions{}); err != nil {
				errs = append(errs, fmt.Errorf("database %s in B: %w", db, err))
				continue
			}
			p.markDone(db)
		}
		for _, c := range d.Collections {
			if c.IsSystem || strings.HasPrefix(c.Name, "_") {
				continue
			}
			key := db + "/" + c.Name
			if !p.done(key) {
				if err := p.collection(ctx, db, c); err != nil {
					errs = append(errs, fmt.Errorf("collection %s in B: %w", key, err))
					continue
				}
				p.markDone(key)
			}
			for _, sh := range c.Shards {
				if err := p.startSend(ctx, g, db, c, sh); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if err := p.searchObjects(ctx, db); err != nil {
			errs = append(errs, fmt.Errorf("analyzers and views of %s in B: %w", db, err))
		}
	}
	return errors.Join(errs...)
}

// searchObjects creates A's analyzers (those of the database, not the
// built-in ones) and then its views in B, each once.
func (p *planner) searchObjects(ctx context.Context, db string) error {
	coord := p.clA.Coordinator()
	var analyzers struct {
		Result []json.RawMessage `json:"result"`
	}
	if err := coord.GetJSON(ctx, client.DBPath(db, "_api/analyzer"), nil, &analyzers); err != nil {
		return err
	}
	for _, def := range analyzers.Result {
		var a struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(def, &a); err != nil || !strings.HasPrefix(a.Name, db+"::") {
			continue // built-in or of another database
		}
		key := db + "/analyzer:" + a.Name
		if p.done(key) {
			continue
		}
		if err := p.structure.EnsureAnalyzer(ctx, db, def); err != nil {
			return err
		}
		p.markDone(key)
	}
	var views struct {
		Result []struct {
			Name string `json:"name"`
		} `json:"result"`
	}
	if err := coord.GetJSON(ctx, client.DBPath(db, "_api/view"), nil, &views); err != nil {
		return err
	}
	for _, v := range views.Result {
		key := db + "/view:" + v.Name
		if p.done(key) {
			continue
		}
		var def json.RawMessage
		if err := coord.GetJSON(ctx, client.DBPath(db, "_api/view", url.PathEscape(v.Name), "properties"), nil, &def); err != nil {
			return err
		}
		if err := p.structure.EnsureView(ctx, db, def); err != nil {
			return err
		}
		p.markDone(key)
	}
	return nil
}

func (p *planner) done(key string) bool {
	p.r.mu.Lock()
	defer p.r.mu.Unlock()
	return p.r.structure[key]
}

func (p *planner) markDone(key string) {
	p.r.mu.Lock()
	defer p.r.mu.Unlock()
	p.r.structure[key] = true
}

// collection creates c in B with A's definition and indexes.
func (p *planner) collection(ctx context.Context, db string, c *client.Collection) error {
	if err := p.structure.CreateCollection(ctx, db, c.Parameters); err != nil {
		return err
	}
	var indexes []json.RawMessage
	if len(c.Indexes) > 0 {
		if err := json.Unmarshal(c.Indexes, &indexes); err != nil {
			return fmt.Errorf("indexes of %s/%s: %w", db, c.Name, err)
		}
	}
	for _, idx := range indexes {
		if err := p.structure.EnsureIndex(ctx, db, c.Name, idx); err != nil {
			return err
		}
	}
	return nil
}

func (p *planner) startSend(ctx context.Context, g *errgroup.Group, db string, c *client.Collection, sh client.Shard) error {
	ref := events.ShardRef{Database: db, CollectionID: c.ID, Index: sh.Index}
	key := ref.String()
	p.r.mu.Lock()
	_, running := p.r.sends[key]
	p.r.mu.Unlock()
	if running {
		return nil
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(p.r.cfg.SyncID + "/" + key))
	cfg := send.Config{
		Sync:   p.r.cfg.SyncID,
		Shard:  source.Shard{Ref: ref, Collection: c.Name, Name: sh.Name, Leader: sh.Leader},
		Topic:  p.topic,
		Source: source.Config{SyncerID: 1 + h.Sum64()%(1<<40), ServerID: 4242, ClientInfo: "dc2dc dev " + key},
		Logger: p.r.log.With("task", "send", "shard", key),
	}
	t, err := send.New(cfg, p.deps)
	if err != nil {
		return fmt.Errorf("send task %s: %w", key, err)
	}
	p.r.mu.Lock()
	p.r.sends[key] = &sendEntry{task: t, collection: db + "/" + c.Name}
	p.r.mu.Unlock()
	g.Go(func() error {
		if err := t.Run(ctx); err != nil {
			// One shard's permanent failure is shown in the status; the
			// others go on.
			p.r.log.Error("send task stopped", "shard", key, "err", err)
		}
		return nil
	})
	return nil
}
