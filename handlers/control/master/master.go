package master

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/sync/errgroup"

	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/control/api"
	"github.com/dc2dc/dc2dc/handlers/control/election"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/handlers/control/registry"
	"github.com/dc2dc/dc2dc/handlers/control/state"
	"github.com/dc2dc/dc2dc/pipeline/failure"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
)

// TasksKey is the record of the task table in _dc2dc.
const TasksKey = state.TasksKey

// MeterName is the instrumentation scope of the master's metrics.
const MeterName = "github.com/dc2dc/dc2dc/handlers/control/master"

// Config of a master.
type Config struct {
	// ID names this master (default: its advertised endpoint's host:port).
	ID string
	// DC names the datacenter (for people).
	DC string
	// Listen is the API's listen address (host:port; port 0 picks one).
	Listen string
	// Endpoint is the URL the other masters and the workers reach this
	// master at (default: http(s)://<listen address>).
	Endpoint string
	Version  string
	// Cluster is how to reach the local cluster's Coordinators.
	Cluster client.Config
	// Kafka is this datacenter's Kafka (the syncs' topics). Without
	// brokers the master runs no syncs (the sync endpoints answer that
	// there is no sync manager).
	Kafka kafka.Config
	// Plan tunes the planning (its DC, MasterID, Kafka and Logger are
	// filled in from this configuration).
	Plan plan.Config
	// Election timings (ID and Endpoint are filled in).
	Election election.Config
	// DeadAfter: a worker silent this long is dead (default 3s).
	DeadAfter time.Duration
	// ScheduleInterval (default 1s) and PersistInterval (default 5s).
	ScheduleInterval time.Duration
	PersistInterval  time.Duration
	// Auth and TLS of the admin API; ClientTLS is used towards the other
	// masters (forwarding, follower heartbeats).
	Auth      api.AuthConfig
	TLS       api.TLSConfig
	ClientTLS *tls.Config
	// ShutdownGrace bounds the API's clean shutdown (default 5s).
	ShutdownGrace time.Duration
	Logger        *slog.Logger
	MeterProvider metric.MeterProvider
	Gatherer      prometheus.Gatherer
}

// WithDefaults fills the unset fields.
func (c Config) WithDefaults() Config {
	if c.DeadAfter == 0 {
		c.DeadAfter = registry.DefaultDeadAfter
	}
	if c.ScheduleInterval == 0 {
		c.ScheduleInterval = time.Second
	}
	if c.PersistInterval == 0 {
		c.PersistInterval = 5 * time.Second
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Cluster = c.Cluster.WithDefaults()
	return c
}

// Validate reports every problem of the (defaulted) configuration at once.
func (c Config) Validate() error {
	var errs []error
	if err := c.Cluster.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("cluster: %w", err))
	}
	if c.Listen == "" {
		errs = append(errs, errors.New("no listen address: set --server.port (default 8629)"))
	} else if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen address %q: %w: use host:port", c.Listen, err))
	}
	if c.Endpoint != "" && !strings.HasPrefix(c.Endpoint, "http://") && !strings.HasPrefix(c.Endpoint, "https://") {
		errs = append(errs, fmt.Errorf("--server.endpoint %q: use the URL the workers reach this master at, e.g. http://master1:8629", c.Endpoint))
	}
	if err := c.TLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	ec := c.Election
	ec.ID = "x"
	if err := ec.WithDefaults().Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(c.Kafka.Brokers) > 0 {
		pc := c.Plan
		pc.DC, pc.Kafka = c.DC, c.Kafka
		if err := pc.WithDefaults().Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.DeadAfter < 0 || c.ScheduleInterval < 0 || c.PersistInterval < 0 {
		errs = append(errs, errors.New("dead-after, schedule and persist intervals must be positive"))
	}
	return errors.Join(errs...)
}

// Master is one sync master.
type Master struct {
	cfg     Config
	cl      *client.Client
	docs    *state.Docs
	store   *state.Store
	reg     *registry.Registry
	elector *election.Elector
	plan    *plan.Manager // nil without Kafka
	ln      net.Listener
	srv     *http.Server
	ready   chan struct{}

	leadCh chan struct{} // poked on election changes

	mu       sync.Mutex
	adopted  uint64    // epoch whose tasks are loaded (0 = none)
	since    time.Time // when adopted
	tasksRev string
	lastSave time.Time
	savedSig string
	// the workers record: its rev and what was saved last
	workersRev string
	workersSig string
}

// New validates cfg and builds the master (no I/O).
func New(cfg Config) (*Master, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, failure.WithCode(failure.CodeConfigInvalid, err)
	}
	reg, err := registry.New(registry.Config{DeadAfter: cfg.DeadAfter})
	if err != nil {
		return nil, failure.WithCode(failure.CodeConfigInvalid, err)
	}
	return &Master{cfg: cfg, reg: reg, ready: make(chan struct{}), leadCh: make(chan struct{}, 1)}, nil
}

// Ready is closed once the master is connected to its cluster and serves
// its API.
func (m *Master) Ready() <-chan struct{} { return m.ready }

// Addr is the API's listen address (after Ready).
func (m *Master) Addr() string { return m.ln.Addr().String() }

// Endpoint is the advertised URL (after Ready).
func (m *Master) Endpoint() string { return m.cfg.Endpoint }

// ID is the master's id (after Ready).
func (m *Master) ID() string { return m.cfg.ID }

// Elector returns the elector (after Ready).
func (m *Master) Elector() *election.Elector { return m.elector }

// Registry returns the registry.
func (m *Master) Registry() *registry.Registry { return m.reg }

// Connect checks the cluster: reachable, credentials accepted, a Coordinator.
// Its errors name the setting to fix.
func Connect(ctx context.Context, cfg client.Config) (*client.Client, error) {
	cl, err := client.New(cfg)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := cl.Ping(pctx); err != nil {
		cl.Close()
		switch {
		case failure.CodeOf(err) == failure.CodeArangoAuth:
			return nil, failure.WithCode(failure.CodeArangoAuth, fmt.Errorf(
				"the cluster at %v refused the credentials: check --cluster.jwt-secret (or --cluster.jwt-secret-file): it must be the cluster's JWT secret: %w", cfg.Endpoints, err))
		case client.IsUnreachable(err) || errors.Is(err, context.DeadlineExceeded):
			return nil, failure.WithCode(failure.CodeArangoUnreachable, fmt.Errorf(
				"the cluster at %v is unreachable: check --cluster.endpoint (the Coordinators' URLs) and that the cluster runs: %w", cfg.Endpoints, err))
		}
		return nil, fmt.Errorf("the cluster at %v: %w", cfg.Endpoints, err)
	}
	return cl, nil
}

// Run runs the master until ctx ends; shutdown is bounded by ShutdownGrace.
func (m *Master) Run(ctx context.Context) error {
	cl, err := Connect(ctx, m.cfg.Cluster)
	if err != nil {
		return err
	}
	m.cl = cl
	defer cl.Close()
	m.docs = state.NewDocs(cl.Coordinator())
	m.store = state.NewStore(m.docs)
	ectx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err = m.docs.Ensure(ectx)
	cancel()
	if err != nil {
		return fmt.Errorf("create _system/%s in the cluster: %w", state.Collection, err)
	}

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", m.cfg.Listen)
	if err != nil {
		return failure.WithCode(failure.CodeConfigInvalid, fmt.Errorf("listen on %s: %w: choose a free --server.port", m.cfg.Listen, err))
	}
	m.ln = ln
	tlsCfg, err := m.cfg.TLS.Build()
	if err != nil {
		_ = ln.Close()
		return failure.WithCode(failure.CodeConfigInvalid, err)
	}
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	if m.cfg.Endpoint == "" {
		m.cfg.Endpoint = scheme + "://" + ln.Addr().String()
	}
	if m.cfg.ID == "" {
		m.cfg.ID = strings.TrimPrefix(strings.TrimPrefix(m.cfg.Endpoint, "http://"), "https://")
	}

	ecfg := m.cfg.Election
	ecfg.ID, ecfg.Endpoint = m.cfg.ID, m.cfg.Endpoint
	ecfg.Logger = m.cfg.Logger
	ecfg.MeterProvider = m.cfg.MeterProvider
	ecfg.OnElected = func(uint64) { m.poke() }
	ecfg.OnLost = func(uint64) { m.poke() }
	if m.elector, err = election.New(ecfg, m.docs); err != nil {
		_ = ln.Close()
		return err
	}
	var syncs api.Syncs
	if len(m.cfg.Kafka.Brokers) > 0 {
		pc := m.cfg.Plan
		pc.DC, pc.MasterID, pc.Kafka = m.cfg.DC, m.cfg.ID, m.cfg.Kafka
		if pc.Logger == nil {
			pc.Logger = m.cfg.Logger.With("part", "plan")
		}
		if m.plan, err = plan.New(pc); err != nil {
			_ = ln.Close()
			return err
		}
		syncs = m.plan
	}
	if err := m.metrics(); err != nil {
		_ = ln.Close()
		return err
	}
	fwd := &http.Client{Timeout: 30 * time.Second, Transport: transport(m.cfg.ClientTLS)}
	handler, err := api.NewServer(api.Config{Role: "master", ID: m.cfg.ID, DC: m.cfg.DC, Version: m.cfg.Version, Endpoint: m.cfg.Endpoint,
		Auth: m.cfg.Auth, Registry: m.reg, Leadership: m.elector, Metrics: m.cfg.Gatherer, ForwardClient: fwd, Logger: m.cfg.Logger,
		Syncs: syncs})
	if err != nil {
		_ = ln.Close()
		return err
	}
	m.srv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsCfg,
		ErrorLog: slog.NewLogLogger(m.cfg.Logger.Handler(), slog.LevelWarn)}
	close(m.ready)
	m.cfg.Logger.Info("master ready", "id", m.cfg.ID, "endpoint", m.cfg.Endpoint, "listen", ln.Addr().String(), "dc", m.cfg.DC)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		serve := func() error { return m.srv.Serve(ln) }
		if tlsCfg != nil {
			serve = func() error { return m.srv.ServeTLS(ln, "", "") }
		}
		return api.Serve(gctx, m.srv, serve, m.cfg.ShutdownGrace)
	})
	g.Go(func() error { return m.elector.Run(gctx) })
	g.Go(func() error { return m.lead(gctx) })
	g.Go(func() error { return m.follow(gctx) })
	if m.plan != nil {
		g.Go(func() error {
			return m.plan.Run(gctx, plan.Deps{Cluster: cl, Store: m.store, Registry: m.reg, Leader: m.elector.Leader})
		})
	}
	return g.Wait()
}

var _ api.Syncs = (*plan.Manager)(nil)

// planLead tells the planning which leadership the master adopted.
func (m *Master) planLead(epoch uint64) {
	if m.plan != nil {
		m.plan.Lead(epoch)
	}
}

// Plan returns the sync manager (nil without Kafka; after Ready).
func (m *Master) Plan() *plan.Manager { return m.plan }

func (m *Master) poke() {
	select {
	case m.leadCh <- struct{}{}:
	default:
	}
}

// lead runs the leader's duties while this master leads.
func (m *Master) lead(ctx context.Context) error {
	tick := time.NewTicker(m.cfg.ScheduleInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-m.leadCh:
		}
		epoch, ok := m.elector.Leader()
		m.mu.Lock()
		adopted := m.adopted
		m.mu.Unlock()
		if !ok {
			m.planLead(0)
			if adopted != 0 {
				m.cfg.Logger.Info("no longer leader: forgetting the workers", "epoch", adopted)
				for _, w := range m.reg.Workers(time.Now()) {
					m.reg.Unregister(w.ID)
				}
				m.mu.Lock()
				m.adopted, m.tasksRev, m.savedSig, m.workersRev, m.workersSig = 0, "", "", "", ""
				m.mu.Unlock()
			}
			continue
		}
		if adopted != epoch {
			m.planLead(0) // the previous leadership's planning ends before the records are reloaded
			if err := m.adopt(ctx, epoch); err != nil {
				m.cfg.Logger.Warn("cannot load the task records; retrying", "epoch", epoch, "err", err)
				continue
			}
		}
		m.planLead(epoch)
		m.schedule(ctx, epoch)
	}
}

// adopt loads the stored task records for a new leadership.
func (m *Master) adopt(ctx context.Context, epoch uint64) error {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var tasks []registry.Task
	ver, ok, err := m.store.Load(rctx, TasksKey, &tasks)
	if err != nil {
		return err
	}
	for _, t := range m.reg.Tasks() {
		m.reg.RemoveTask(t.ID)
	}
	for _, t := range tasks {
		if err := m.reg.PutTask(t); err != nil {
			m.cfg.Logger.Error("dropping an invalid stored task record", "task", t.ID, "err", err)
		}
	}
	m.reg.SetEpoch(epoch)
	m.mu.Lock()
	m.adopted, m.since, m.tasksRev = epoch, time.Now(), ""
	if ok {
		m.tasksRev = ver.Rev
	}
	m.savedSig = signature(m.reg.Tasks())
	m.mu.Unlock()
	m.cfg.Logger.Info("leading: adopted the task records", "epoch", epoch, "tasks", len(tasks))
	return nil
}

func signature(ts []registry.Task) string {
	b, _ := json.Marshal(ts)
	return string(b)
}

// schedule runs a pass (after the adoption grace) and persists changes.
func (m *Master) schedule(ctx context.Context, epoch uint64) {
	m.mu.Lock()
	since, rev, last, sig := m.since, m.tasksRev, m.lastSave, m.savedSig
	m.mu.Unlock()
	now := time.Now()
	if now.Sub(since) < m.cfg.DeadAfter {
		return // let the workers of the previous leader re-register first
	}
	moves := m.reg.Schedule(now)
	for _, mv := range moves {
		m.cfg.Logger.Info("task assignment", "task", mv.TaskID, "from", mv.From, "to", mv.To, "generation", mv.Generation, "reason", mv.Reason)
	}
	m.reg.Forget(time.Hour, now)
	m.saveWorkers(ctx, epoch, now)
	tasks := m.reg.Tasks()
	cur := signature(tasks)
	if cur == sig || (len(moves) == 0 && now.Sub(last) < m.cfg.PersistInterval) {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ver, err := m.store.Save(rctx, epoch, TasksKey, rev, tasks)
	if errors.Is(err, state.ErrConflict) {
		// Our view of the rev is stale: read it again (same epoch wrote it).
		v, _, lerr := m.store.Load(rctx, TasksKey, nil)
		if lerr == nil {
			ver, err = m.store.Save(rctx, epoch, TasksKey, v.Rev, tasks)
		}
	}
	if err != nil {
		if errors.Is(err, state.ErrFenced) {
			m.cfg.Logger.Error("a newer leader exists: not saving the task records", "epoch", epoch, "err", err)
		} else {
			m.cfg.Logger.Warn("cannot save the task records; retrying", "epoch", epoch, "err", err)
		}
		return
	}
	m.mu.Lock()
	m.tasksRev, m.lastSave, m.savedSig = ver.Rev, now, cur
	m.mu.Unlock()
}

// WorkerRecord is one entry of the workers record (state.WorkersKey).
type WorkerRecord struct {
	registry.WorkerInfo
	Alive bool `json:"alive"`
}

// saveWorkers persists the worker list when its membership or liveness
// changed (not on every heartbeat).
func (m *Master) saveWorkers(ctx context.Context, epoch uint64, now time.Time) {
	var recs []WorkerRecord
	for _, w := range m.reg.Workers(now) {
		recs = append(recs, WorkerRecord{WorkerInfo: w.WorkerInfo, Alive: w.Alive})
	}
	sig := signature(nil)
	if b, err := json.Marshal(recs); err == nil {
		sig = string(b)
	}
	m.mu.Lock()
	rev, old := m.workersRev, m.workersSig
	m.mu.Unlock()
	if sig == old {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if rev == "" {
		if v, ok, err := m.store.Load(rctx, state.WorkersKey, nil); err == nil && ok {
			rev = v.Rev
		}
	}
	ver, err := m.store.Save(rctx, epoch, state.WorkersKey, rev, recs)
	if err != nil {
		m.mu.Lock()
		m.workersRev = "" // reload next time
		m.mu.Unlock()
		if ctx.Err() == nil {
			m.cfg.Logger.Warn("cannot save the worker list; retrying", "epoch", epoch, "err", err)
		}
		return
	}
	m.mu.Lock()
	m.workersRev, m.workersSig = ver.Rev, sig
	m.mu.Unlock()
}

// follow announces this master to the leader while it follows.
func (m *Master) follow(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var cl *api.Client
	var clFor string
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		st := m.elector.Status()
		if st.Leader || st.LeaderEndpoint == "" || st.LeaderEndpoint == m.cfg.Endpoint {
			continue
		}
		if clFor != st.LeaderEndpoint {
			if cl != nil {
				cl.Close()
			}
			c, err := api.NewClient(api.ClientConfig{Endpoints: []string{st.LeaderEndpoint}, Token: m.cfg.Auth.Token, JWTSecret: m.cfg.Auth.JWTSecret,
				Subject: m.cfg.ID, TLS: m.cfg.ClientTLS, Timeout: 2 * time.Second, NoForward: true})
			if err != nil {
				m.cfg.Logger.Warn("leader endpoint unusable", "endpoint", st.LeaderEndpoint, "err", err)
				continue
			}
			cl, clFor = c, st.LeaderEndpoint
		}
		if err := cl.MasterHeartbeat(ctx, api.MasterHeartbeat{ID: m.cfg.ID, Endpoint: m.cfg.Endpoint}); err != nil && ctx.Err() == nil {
			m.cfg.Logger.Debug("master heartbeat to the leader failed", "leader", st.LeaderEndpoint, "err", err)
		}
	}
}

func (m *Master) metrics() error {
	if m.cfg.MeterProvider == nil {
		return nil
	}
	meter := m.cfg.MeterProvider.Meter(MeterName)
	workers, err := meter.Int64ObservableGauge("dc2dc.workers", metric.WithDescription("live workers registered with this master while it leads"))
	if err != nil {
		return err
	}
	tasks, err := meter.Int64ObservableGauge("dc2dc.tasks", metric.WithDescription("task records by phase, while this master leads"))
	if err != nil {
		return err
	}
	syncs, err := meter.Int64ObservableGauge("dc2dc.syncs", metric.WithDescription("syncs of this datacenter by role and state, while this master leads"))
	if err != nil {
		return err
	}
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		if _, ok := m.elector.Leader(); !ok {
			return nil
		}
		n := 0
		for _, w := range m.reg.Workers(time.Now()) {
			if w.Alive {
				n++
			}
		}
		o.ObserveInt64(workers, int64(n))
		byPhase := map[registry.Phase]int64{}
		for _, t := range m.reg.Tasks() {
			byPhase[t.Phase]++
		}
		for p, n := range byPhase {
			o.ObserveInt64(tasks, n, metric.WithAttributes(attribute.String("phase", string(p))))
		}
		if m.plan != nil {
			type key struct{ role, state string }
			bySync := map[key]int64{}
			for _, sy := range m.plan.Syncs() {
				bySync[key{string(sy.Role), string(sy.State)}]++
			}
			for k, n := range bySync {
				o.ObserveInt64(syncs, n, metric.WithAttributes(attribute.String("role", k.role), attribute.String("state", k.state)))
			}
		}
		return nil
	}, workers, tasks, syncs)
	return err
}

func transport(c *tls.Config) http.RoundTripper {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = c
	return tr
}
