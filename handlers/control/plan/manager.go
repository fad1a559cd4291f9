package plan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/control/registry"
	"github.com/dc2dc/dc2dc/handlers/control/state"
	"github.com/dc2dc/dc2dc/handlers/target"
	"github.com/dc2dc/dc2dc/pipeline/failure"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
)

// Config of a Manager.
type Config struct {
	// DC names this datacenter (sync ids default to "<source>-to-<DC>";
	// messages carry it as their sender).
	DC string
	// MasterID names this master (its consumer groups).
	MasterID string
	// Kafka is this datacenter's Kafka.
	Kafka kafka.Config
	// StateInterval: B publishes sync-state (default 2s). DiscoverInterval:
	// A lists the ctl.down topics (default 2s). InventoryInterval: A
	// publishes its inventory at least this often (default 5s).
	// TopologyInterval: A polls its topology (default 2s).
	StateInterval     time.Duration
	DiscoverInterval  time.Duration
	InventoryInterval time.Duration
	TopologyInterval  time.Duration
	// PeerAliveAfter: the other leader counts as alive when heard from
	// within (default 10s).
	PeerAliveAfter time.Duration
	// CheckTimeout bounds `check sync` (default 60s).
	CheckTimeout time.Duration
	// StopTimeout is the default deadline of `stop sync` (default 10m).
	StopTimeout time.Duration
	// InactiveStateFor: a stopped or aborted target sync keeps telling A
	// for this long after its last change (default 10m).
	InactiveStateFor time.Duration
	// ReplicateUsers (off by default): A also sends the shard of
	// _system/_users (users with their password hashes, verbatim), B applies
	// it like any shard (B's own user of the same name is replaced) and
	// reloads its users after each change. B ends up with A's credentials,
	// root included; users only B has stay. The reload is unconfirmed on a
	// running ArangoDB 3.12 (ARCHITECTURE §12, experiment 3).
	ReplicateUsers bool
	// ReleaseGrace: after a stop with ensure-in-sync, A stays read-only
	// this long after removing the send tasks, so the workers stopped them
	// (at their next heartbeat) before users write again (default 2s).
	ReleaseGrace time.Duration
	Logger       *slog.Logger
}

// WithDefaults fills the unset fields.
func (c Config) WithDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.StateInterval, 2*time.Second)
	def(&c.DiscoverInterval, 2*time.Second)
	def(&c.InventoryInterval, 5*time.Second)
	def(&c.TopologyInterval, 2*time.Second)
	def(&c.PeerAliveAfter, 10*time.Second)
	def(&c.CheckTimeout, 60*time.Second)
	def(&c.StopTimeout, 10*time.Minute)
	def(&c.InactiveStateFor, 10*time.Minute)
	def(&c.ReleaseGrace, 2*time.Second)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Kafka.EnsureDefaults()
	return c
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if err := c.Kafka.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("this datacenter's Kafka (--kafka.*): %w", err))
	}
	for name, d := range map[string]time.Duration{"state interval": c.StateInterval, "discover interval": c.DiscoverInterval,
		"inventory interval": c.InventoryInterval, "topology interval": c.TopologyInterval, "peer alive after": c.PeerAliveAfter,
		"check timeout": c.CheckTimeout, "stop timeout": c.StopTimeout, "inactive state": c.InactiveStateFor, "release grace": c.ReleaseGrace} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("plan: %s %v: must be positive", name, d))
		}
	}
	if strings.ContainsAny(c.DC, "/\n") {
		errs = append(errs, fmt.Errorf("plan: datacenter name %q: no '/' or newlines", c.DC))
	}
	return errors.Join(errs...)
}

// Deps are the master's parts the manager works with.
type Deps struct {
	// Cluster is this datacenter's cluster (superuser JWT).
	Cluster *client.Client
	// Store holds the fenced records in the local _dc2dc.
	Store *state.Store
	// Registry receives the send-shard tasks (source side); the master
	// assigns and persists them.
	Registry *registry.Registry
	// Leader is the elector's current view (stop acting the moment it
	// says no).
	Leader func() (uint64, bool)
}

func (d Deps) validate() error {
	if d.Cluster == nil || d.Store == nil || d.Registry == nil || d.Leader == nil {
		return failure.WithCode(failure.CodeInternal, errors.New("plan: Run needs the cluster, the store, the registry and the elector"))
	}
	return nil
}

// Manager runs the syncs of this datacenter while its master leads. Safe
// for concurrent use; the api.Syncs methods answer "not leading" while no
// leadership session runs.
type Manager struct {
	cfg Config
	log *slog.Logger

	poke chan struct{}

	mu       sync.Mutex
	want     uint64 // leadership epoch the master adopted (0 = none)
	sess     *session
	startErr error                             // why the current leadership's session does not run yet
	reports  map[string]map[string]ShardReport // sync → shard → freshest report
}

// New validates cfg (no I/O).
func New(cfg Config) (*Manager, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, failure.WithCode(failure.CodeConfigInvalid, err)
	}
	return &Manager{cfg: cfg, log: cfg.Logger, poke: make(chan struct{}, 1), reports: map[string]map[string]ShardReport{}}, nil
}

// Lead tells the manager the leadership epoch the master adopted (0: not
// leading). The master's leader loop calls it on every pass.
func (m *Manager) Lead(epoch uint64) {
	m.mu.Lock()
	changed := m.want != epoch
	m.want = epoch
	m.mu.Unlock()
	if changed {
		select {
		case m.poke <- struct{}{}:
		default:
		}
	}
}

// Run starts and stops leadership sessions until ctx ends.
func (m *Manager) Run(ctx context.Context, deps Deps) error {
	if err := deps.validate(); err != nil {
		return err
	}
	cc := deps.Cluster.Config()
	conn, err := target.Dial(target.ConnConfig{Endpoints: cc.Endpoints, Username: cc.Username, Password: cc.Password,
		JWTSecret: cc.JWTSecret, TLS: cc.TLS, RequestTimeout: 60 * time.Second})
	if err != nil {
		return err
	}
	defer conn.Close()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var cur *session
	stop := func() {
		if cur == nil {
			return
		}
		m.mu.Lock()
		m.sess = nil
		m.mu.Unlock()
		cur.stop()
		m.log.Info("planning stopped", "epoch", cur.epoch)
		cur = nil
	}
	defer stop()
	for {
		m.mu.Lock()
		want := m.want
		m.mu.Unlock()
		if e, ok := deps.Leader(); !ok || e != want {
			want = 0
		}
		if cur != nil && cur.epoch != want {
			stop()
		}
		if cur == nil && want != 0 {
			s, err := startSession(ctx, m, deps, conn, want)
			if err != nil {
				if ctx.Err() == nil {
					m.log.Warn("cannot start planning; retrying", "epoch", want, "err", err)
				}
				m.mu.Lock()
				m.startErr = err
				m.mu.Unlock()
			} else {
				cur = s
				m.mu.Lock()
				m.sess, m.startErr = s, nil
				m.mu.Unlock()
				m.log.Info("planning started", "epoch", want)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-m.poke:
		case <-tick.C:
		}
	}
}

// notLeading is the error of every operation without a session.
func notLeading() error {
	return failure.Retryable(errors.New("this master is not leading (yet): no planning session runs; retry shortly"))
}

func (m *Manager) session() (*session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sess == nil {
		if m.want != 0 && m.startErr != nil {
			return nil, failure.Retryable(fmt.Errorf("this master leads but cannot start planning (retrying): %w", m.startErr))
		}
		return nil, notLeading()
	}
	return m.sess, nil
}

// WorkerShards takes a target worker's receive-side reports.
func (m *Manager) WorkerShards(workerID string, shards []ShardReport, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range shards {
		if r.Sync == "" || r.Shard == "" {
			continue
		}
		r.Worker = workerID
		bySync := m.reports[r.Sync]
		if bySync == nil {
			bySync = map[string]ShardReport{}
			m.reports[r.Sync] = bySync
		}
		old, ok := bySync[r.Shard]
		// The freshest report wins: a higher applied position, or the same
		// position reported later (lag and errors change).
		if ok && r.Applied.Less(old.Applied) && old.Worker != workerID {
			continue
		}
		if r.LastApplied.IsZero() {
			r.LastApplied = old.LastApplied
		}
		bySync[r.Shard] = r
	}
}

// shardReports returns a copy of the reports of a sync.
func (m *Manager) shardReports(sync string) map[string]ShardReport {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]ShardReport, len(m.reports[sync]))
	for k, v := range m.reports[sync] {
		out[k] = v
	}
	return out
}

// Assignments lists the active syncs (both roles: workers ignore what they
// have nothing to do for).
func (m *Manager) Assignments() []Assignment {
	s, err := m.session()
	if err != nil {
		return nil
	}
	var out []Assignment
	for _, sy := range s.syncList() {
		if !sy.State.Active() {
			continue
		}
		out = append(out, Assignment{Sync: sy.ID, Role: sy.Role, State: sy.State, TopicPrefix: sy.TopicPrefix,
			MessageTimeoutMillis: sy.MessageTimeout().Milliseconds()})
	}
	return out
}

// from names the sender in messages.
func (m *Manager) from() string {
	if m.cfg.DC != "" {
		return m.cfg.DC
	}
	return m.cfg.MasterID
}

// groupName is this master's consumer group for a sync's control topic in
// one leadership epoch.
func (m *Manager) groupName(topic string, epoch uint64) string {
	id := m.cfg.MasterID
	if id == "" {
		id = "master"
	}
	var b strings.Builder
	for _, r := range id {
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return topic + ".plan." + b.String() + ".e" + strconv.FormatUint(epoch, 10)
}

// Syncs returns the records of this datacenter's syncs (nil while not
// leading).
func (m *Manager) Syncs() []Sync {
	s, err := m.session()
	if err != nil {
		return nil
	}
	return s.syncList()
}
