package plan_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	driver "github.com/arangodb/go-driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/control/election"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/handlers/control/registry"
	"github.com/dc2dc/dc2dc/handlers/control/state"
	"github.com/dc2dc/dc2dc/pipeline/broker"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
	"github.com/dc2dc/dc2dc/pipeline/mirror"
	"github.com/dc2dc/dc2dc/tests/arangosim"
)

const (
	secret       = "dc2dc-plan-test"
	rootPassword = "pw" // a user's writes are refused in read-only mode, the superuser JWT's are not
	syncID       = "a-to-b"
)

func logger() *slog.Logger {
	if os.Getenv("DC2DC_TEST_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// side is one datacenter: its cluster, Kafka, leader (elector), registry
// and plan manager.
type side struct {
	name  string
	sim   *arangosim.Cluster
	cl    *client.Client
	drv   driver.Client
	store *state.Store
	reg   *registry.Registry
	mgr   *plan.Manager
	first *tmaster
	kc    kafka.Config
}

type world struct {
	t    *testing.T
	ctx  context.Context
	wg   sync.WaitGroup
	a, b *side
	opts []func(*plan.Config)
}

// tmaster is one master of a side: elector, registry, manager and the
// leader loop of package master (Lead after the registry took the epoch).
type tmaster struct {
	el     *election.Elector
	reg    *registry.Registry
	mgr    *plan.Manager
	cancel context.CancelFunc
	done   chan struct{}
}

// stop ends the master (its lease is released).
func (m *tmaster) stop() {
	m.cancel()
	<-m.done
}

// startMaster starts a master on s; the side's reg and mgr are the
// first master's until a test switches them.
func (w *world) startMaster(s *side, id string) *tmaster {
	t := w.t
	t.Helper()
	log := logger()
	el, err := election.New(election.Config{ID: id, Endpoint: "http://" + id,
		LeaseDuration: 3 * time.Second, RenewInterval: 500 * time.Millisecond, Logger: log}, s.store.Docs())
	must(t, err)
	reg, err := registry.New(registry.Config{})
	must(t, err)
	pc := plan.Config{DC: s.name, MasterID: id, Kafka: s.kc, StateInterval: 300 * time.Millisecond,
		DiscoverInterval: 300 * time.Millisecond, InventoryInterval: time.Second, TopologyInterval: 200 * time.Millisecond,
		CheckTimeout: 30 * time.Second, Logger: log.With("dc", s.name, "master", id)}
	for _, o := range w.opts {
		o(&pc)
	}
	mgr, err := plan.New(pc)
	must(t, err)
	ctx, cancel := context.WithCancel(w.ctx)
	m := &tmaster{el: el, reg: reg, mgr: mgr, cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); _ = el.Run(ctx) }()
	go func() {
		defer wg.Done()
		if err := mgr.Run(ctx, plan.Deps{Cluster: s.cl, Store: s.store, Registry: reg, Leader: el.Leader}); err != nil {
			t.Errorf("manager %s: %v", id, err)
		}
	}()
	go func() { // the master's leader loop
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if e, ok := el.Leader(); ok {
				reg.SetEpoch(e)
				mgr.Lead(e)
			} else {
				mgr.Lead(0)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		wg.Wait()
		close(m.done)
	}()
	if s.mgr == nil {
		s.reg, s.mgr = reg, mgr
	}
	return m
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds or within passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %s", what, within, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func newWorld(t *testing.T, opts ...func(*plan.Config)) *world {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &world{t: t, ctx: ctx, opts: opts}
	var cleanups []func()
	wg := &w.wg
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	})
	log := logger()
	brokers := map[string]*broker.Cluster{}
	for _, name := range []string{"A", "B"} {
		sim, err := arangosim.Start(ctx, arangosim.Config{DBServers: 2, JWTSecret: secret, RootPassword: rootPassword})
		must(t, err)
		cleanups = append(cleanups, func() { _ = sim.Close() })
		cl, err := client.New(client.Config{Endpoints: []string{sim.Endpoint()}, JWTSecret: secret})
		must(t, err)
		cleanups = append(cleanups, cl.Close)
		br, err := broker.Start(ctx, broker.Config{GroupMinSessionTimeout: time.Second})
		must(t, err)
		cleanups = append(cleanups, func() { _ = br.Close() })
		brokers[name] = br
		kc := kafka.Config{Brokers: br.Addrs(), Logger: log}
		kc.Consumer.SessionTimeout = 2 * time.Second
		kc.Consumer.HeartbeatInterval = 300 * time.Millisecond
		docs := state.NewDocs(cl.Coordinator())
		must(t, docs.Ensure(ctx))
		s := &side{name: name, sim: sim, cl: cl, drv: cl.Driver(), store: state.NewStore(docs), kc: kc}
		s.first = w.startMaster(s, "master-"+name+"1")
		if name == "A" {
			w.a = s
		} else {
			w.b = s
		}
	}
	mcfg := mirror.Config{
		Clusters:          map[string]mirror.ClusterConfig{"A": {Brokers: brokers["A"].Addrs()}, "B": {Brokers: brokers["B"].Addrs()}},
		Routes:            mirror.SyncRoutes(syncID, "A", "B"),
		TopicRefresh:      mirror.Duration(200 * time.Millisecond),
		SessionTimeout:    mirror.Duration(2 * time.Second),
		HeartbeatInterval: mirror.Duration(300 * time.Millisecond),
		ShutdownTimeout:   mirror.Duration(5 * time.Second),
		RetryBackoffMax:   mirror.Duration(500 * time.Millisecond),
	}
	m, err := mirror.New(mcfg, mirror.WithLogger(log.With("part", "mirror")), mirror.WithRegisterer(prometheus.NewRegistry()))
	must(t, err)
	wg.Add(1)
	go func() { defer wg.Done(); _ = m.Run(ctx) }()
	for _, s := range []*side{w.a, w.b} {
		eventually(t, 20*time.Second, s.name+" leads", func() (bool, string) {
			_, err := s.mgr.Status(ctx)
			return err == nil, fmt.Sprint(err)
		})
	}
	return w
}

// collection creates db/name in A with n shards and returns its plan id.
func (s *side) collection(t *testing.T, ctx context.Context, db, name string, shards int) string {
	t.Helper()
	d, err := s.drv.Database(ctx, db)
	if driver.IsNotFoundGeneral(err) {
		d, err = s.drv.CreateDatabase(ctx, db, nil)
	}
	must(t, err)
	c, err := d.CreateCollection(ctx, name, &driver.CreateCollectionOptions{NumberOfShards: shards})
	must(t, err)
	props, err := c.Properties(ctx)
	must(t, err)
	return props.ID
}

func (s *side) hasCollection(ctx context.Context, db, name string) (bool, int) {
	d, err := s.drv.Database(ctx, db)
	if err != nil {
		return false, 0
	}
	c, err := d.Collection(ctx, name)
	if err != nil {
		return false, 0
	}
	props, err := c.Properties(ctx)
	if err != nil {
		return false, 0
	}
	return true, props.NumberOfShards
}

// sendTasks lists A's send tasks of the sync by shard.
func (s *side) sendTasks() map[string]registry.Task {
	out := map[string]registry.Task{}
	for _, t := range s.reg.Tasks() {
		if t.Sync == syncID && t.Kind == registry.KindSendShard {
			out[t.Shard] = t
		}
	}
	return out
}

func tasksOf(tasks map[string]registry.Task, prefix string) int {
	n := 0
	for shard := range tasks {
		if strings.HasPrefix(shard, prefix) {
			n++
		}
	}
	return n
}

func (s *side) syncRecord(id string) (plan.Sync, bool) {
	for _, sy := range s.mgr.Syncs() {
		if sy.ID == id {
			return sy, true
		}
	}
	return plan.Sync{}, false
}

func kafkaConfig() kafka.Config { return kafka.Config{Brokers: []string{"127.0.0.1:1"}} }

// userDriver is a go-driver client of s's cluster as the user root (basic
// authentication), whose writes read-only mode refuses.
func (s *side) userDriver(t *testing.T) driver.Client {
	t.Helper()
	cl, err := client.New(client.Config{Endpoints: []string{s.sim.Endpoint()}, Authentication: client.AuthBasic, Username: "root", Password: rootPassword})
	must(t, err)
	t.Cleanup(cl.Close)
	return cl.Driver()
}

// hasIndexAndView reports whether db/coll has the named index and db the
// named view.
func (s *side) hasIndexAndView(ctx context.Context, db, coll, index, view string) (bool, bool) {
	d, err := s.drv.Database(ctx, db)
	if err != nil {
		return false, false
	}
	hasIndex := false
	if c, err := d.Collection(ctx, coll); err == nil {
		if ixs, err := c.Indexes(ctx); err == nil {
			for _, ix := range ixs {
				hasIndex = hasIndex || ix.UserName() == index
			}
		}
	}
	hasView, _ := d.ViewExists(ctx, view)
	return hasIndex, hasView
}
