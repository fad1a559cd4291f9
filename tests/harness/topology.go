package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/api"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
)

// Credentials of every Topology: the clusters' JWT secrets and the admin
// API's bearer token (tests only).
const (
	TopologyJWTSecretA = "e2e-cluster-secret-a"
	TopologyJWTSecretB = "e2e-cluster-secret-b"
	TopologyToken      = "e2e-admin-token"
	// TopologyRootPassword is root's password in both clusters (a user's
	// writes, unlike the superuser JWT's, are refused in read-only mode).
	TopologyRootPassword = "e2e-root"
)

// TopologyConfig shapes a two-datacenter Topology. Zero fields take the
// defaults of WithDefaults.
type TopologyConfig struct {
	// SyncID names the sync whose topics are created and mirrored (default
	// "a-to-b").
	SyncID string
	// Masters and Workers per datacenter (default 2 and 2; Workers 0 with
	// NoWorkers). NoControlPlane starts neither.
	Masters, Workers int
	NoWorkers        bool
	NoControlPlane   bool
	// DBServersA and DBServersB of the arangosim clusters (default 3 and 2).
	DBServersA, DBServersB int
	// DataPartitions of the data topic created in both Kafkas before the
	// mirror starts (default 12). NoTopics leaves topic creation to the
	// masters (the mirror then follows the topics as they appear).
	DataPartitions int
	NoTopics       bool
	// GroupMinSessionTimeout of both brokers (default 1s), so consumer
	// groups with short sessions (B's workers, the mirror) are accepted.
	GroupMinSessionTimeout time.Duration
	// MirrorSessionTimeout of the mirror's consumer group (default 3s).
	MirrorSessionTimeout time.Duration
	// LogLevel of the dc2dc processes (default $DC2DC_TEST_LOG_LEVEL, else
	// "info": the failure output shows the end of each log).
	LogLevel string
	// MasterArgs and WorkerArgs are appended to every master's and
	// worker's command line (e.g. "--election.lease", "3s").
	MasterArgs, WorkerArgs []string
	// StartTimeout bounds each wait for a ready line or a leader (default 60s).
	StartTimeout time.Duration
}

// WithDefaults fills the zero fields.
func (c TopologyConfig) WithDefaults() TopologyConfig {
	if c.SyncID == "" {
		c.SyncID = "a-to-b"
	}
	if c.Masters == 0 {
		c.Masters = 2
	}
	if c.Workers == 0 && !c.NoWorkers {
		c.Workers = 2
	}
	if c.DBServersA == 0 {
		c.DBServersA = 3
	}
	if c.DBServersB == 0 {
		c.DBServersB = 2
	}
	if c.DataPartitions == 0 {
		c.DataPartitions = 12
	}
	if c.GroupMinSessionTimeout == 0 {
		c.GroupMinSessionTimeout = time.Second
	}
	if c.MirrorSessionTimeout == 0 {
		c.MirrorSessionTimeout = 3 * time.Second
	}
	if c.LogLevel == "" {
		c.LogLevel = os.Getenv("DC2DC_TEST_LOG_LEVEL")
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 60 * time.Second
	}
	return c
}

// Validate reports every problem at once.
func (c TopologyConfig) Validate() error {
	var errs []error
	if err := kafka.ValidateSyncID(c.SyncID); err != nil {
		errs = append(errs, fmt.Errorf("topology: SyncID: %w", err))
	}
	if c.Masters < 1 || c.Workers < 0 || c.DBServersA < 1 || c.DBServersB < 1 || c.DataPartitions < 1 {
		errs = append(errs, fmt.Errorf("topology: masters %d, workers %d, DB-Servers %d/%d, partitions %d: use at least 1 of each (workers 0 with NoWorkers)",
			c.Masters, c.Workers, c.DBServersA, c.DBServersB, c.DataPartitions))
	}
	if c.StartTimeout < 0 || c.GroupMinSessionTimeout < 0 || c.MirrorSessionTimeout < 0 {
		errs = append(errs, errors.New("topology: timeouts must not be negative"))
	}
	return errors.Join(errs...)
}

// Topology is two datacenters on 127.0.0.1, every box a real process with
// its logs in the test's temp directory: in each an arangosim cluster, a
// `dc2dc kafka` broker and the sync masters and workers; the `dc2dc mirror`
// between the two brokers. Nothing is configured: the test drives it
// through the CLI (DC.CLI) and the admin API.
type Topology struct {
	Cfg    TopologyConfig
	A, B   *DC
	Mirror *Proc
	t      testing.TB
}

// Server is one server of an arangosim cluster.
type Server struct {
	ID, Role, Endpoint string
}

// DC is one datacenter of a Topology.
type DC struct {
	// Name is "A" or "B" (the masters' and workers' --dc).
	Name         string
	Sim          *Proc
	Coordinators []string
	DBServers    []Server
	JWTSecret    string
	Kafka        *Kafka
	Masters      []*Member
	Workers      []*Member
	top          *Topology
}

// Member is a master or a worker process. Its port is fixed, so a restart
// comes back at the same endpoint.
type Member struct {
	*Proc
	Role     string // master or worker
	ID       string
	Endpoint string
	dc       *DC
}

// StartTopology starts everything and waits until each datacenter has a
// leader and every worker registered with it. It fails the test on error;
// t.Cleanup stops every process (and prints their logs when t failed).
func StartTopology(t testing.TB, cfg TopologyConfig) *Topology {
	t.Helper()
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	top := &Topology{Cfg: cfg, t: t}
	top.A = &DC{Name: "A", JWTSecret: TopologyJWTSecretA, top: top}
	top.B = &DC{Name: "B", JWTSecret: TopologyJWTSecretB, top: top}
	sim := Binary(t, "arangosim")
	for _, d := range []struct {
		dc *DC
		n  int
	}{{top.A, cfg.DBServersA}, {top.B, cfg.DBServersB}} {
		d.dc.Sim = Start(t, Spec{Name: "arangosim-" + lower(d.dc.Name), Path: sim,
			Args: []string{"-port", "0", "-dbservers", strconv.Itoa(d.n), "-jwt-secret", d.dc.JWTSecret, "-root-password", TopologyRootPassword}})
	}
	top.A.Kafka = StartKafkaNoWait(t, "kafka-a", "--group-min-session-timeout", cfg.GroupMinSessionTimeout.String())
	top.B.Kafka = StartKafkaNoWait(t, "kafka-b", "--group-min-session-timeout", cfg.GroupMinSessionTimeout.String())
	for _, dc := range []*DC{top.A, top.B} {
		dc.readSim(t, cfg.StartTimeout)
		dc.Kafka.waitReady(t)
	}
	if !cfg.NoTopics {
		top.createTopics(t)
	}
	top.Mirror = Start(t, Spec{Name: "mirror", Path: Binary(t, "dc2dc"), Args: []string{"mirror",
		"--from.brokers", top.A.Kafka.Addr, "--to.brokers", top.B.Kafka.Addr, "--sync-id", cfg.SyncID,
		"--metrics.addr", "127.0.0.1:" + strconv.Itoa(FreePort(t)), "--instance-id", "e2e-mirror",
		"--session-timeout", cfg.MirrorSessionTimeout.String(), "--log.level", cfg.LogLevel}})
	if cfg.NoControlPlane {
		top.Mirror.MustReady(cfg.StartTimeout)
		return top
	}
	for _, dc := range []*DC{top.A, top.B} {
		for i := 1; i <= cfg.Masters; i++ {
			dc.Masters = append(dc.Masters, dc.newMaster(t, i))
		}
	}
	top.Mirror.MustReady(cfg.StartTimeout)
	for _, dc := range []*DC{top.A, top.B} {
		for _, m := range dc.Masters {
			m.waitReady(t)
		}
	}
	for _, dc := range []*DC{top.A, top.B} {
		dc.WaitLeader(t, cfg.StartTimeout)
	}
	for _, dc := range []*DC{top.A, top.B} {
		for i := 1; i <= cfg.Workers; i++ {
			dc.Workers = append(dc.Workers, dc.newWorker(t, i))
		}
	}
	for _, dc := range []*DC{top.A, top.B} {
		for _, w := range dc.Workers {
			w.waitReady(t)
		}
	}
	return top
}

func (dc *DC) readSim(t testing.TB, timeout time.Duration) {
	t.Helper()
	r := dc.Sim.MustReady(timeout)
	servers, _ := r["servers"].([]any)
	for _, s := range servers {
		m, _ := s.(map[string]any)
		sv := Server{}
		sv.ID, _ = m["id"].(string)
		sv.Role, _ = m["role"].(string)
		sv.Endpoint, _ = m["endpoint"].(string)
		if sv.Role == "coordinator" {
			dc.Coordinators = append(dc.Coordinators, sv.Endpoint)
		} else {
			dc.DBServers = append(dc.DBServers, sv)
		}
	}
	if len(dc.Coordinators) == 0 {
		if ep := r.String("endpoint"); ep != "" {
			dc.Coordinators = []string{ep}
		}
	}
	if len(dc.Coordinators) == 0 || len(dc.DBServers) == 0 {
		t.Fatalf("harness: arangosim of %s: ready line %v names no coordinator or DB-Server", dc.Name, r)
	}
}

// Topics are the sync's topic names.
func (top *Topology) Topics() kafka.Topics {
	tp, err := kafka.TopicsFor("", top.Cfg.SyncID)
	if err != nil {
		top.t.Fatalf("harness: topics of %s: %v", top.Cfg.SyncID, err)
	}
	return tp
}

func (top *Topology) createTopics(t testing.TB) {
	t.Helper()
	tp := top.Topics()
	specs := []kafka.TopicSpec{{Name: tp.Data, Partitions: int32(top.Cfg.DataPartitions)}, {Name: tp.CtlUp, Partitions: 1},
		{Name: tp.CtlDown, Partitions: 1}, {Name: tp.Poison, Partitions: 1}}
	for _, dc := range []*DC{top.A, top.B} {
		ctx, cancel := context.WithTimeout(context.Background(), top.Cfg.StartTimeout)
		err := kafka.EnsureTopics(ctx, kafka.Config{Brokers: []string{dc.Kafka.Addr}}, specs)
		cancel()
		if err != nil {
			t.Fatalf("harness: topics of %s in Kafka %s: %v", top.Cfg.SyncID, dc.Name, err)
		}
	}
}

func (dc *DC) env() []string {
	return []string{"DC2DC_CLUSTER_JWT_SECRET=" + dc.JWTSecret, "DC2DC_AUTH_TOKEN=" + TopologyToken}
}

func (dc *DC) newMaster(t testing.TB, i int) *Member {
	t.Helper()
	cfg := dc.top.Cfg
	id := fmt.Sprintf("master-%s%d", lower(dc.Name), i)
	port := FreePort(t)
	args := []string{"master", "--cluster.endpoint", dc.Coordinators[0], "--kafka.brokers", dc.Kafka.Addr,
		"--server.host", "127.0.0.1", "--server.port", strconv.Itoa(port), "--server.id", id, "--dc", dc.Name,
		"--log.level", cfg.LogLevel}
	args = append(args, cfg.MasterArgs...)
	p := Start(t, Spec{Name: id, Path: Binary(t, "dc2dc"), Args: args, Env: dc.env()})
	return &Member{Proc: p, Role: "master", ID: id, Endpoint: "http://127.0.0.1:" + strconv.Itoa(port), dc: dc}
}

func (dc *DC) newWorker(t testing.TB, i int) *Member {
	t.Helper()
	cfg := dc.top.Cfg
	id := fmt.Sprintf("worker-%s%d", lower(dc.Name), i)
	port := FreePort(t)
	args := []string{"worker", "--cluster.endpoint", dc.Coordinators[0], "--kafka.brokers", dc.Kafka.Addr,
		"--server.host", "127.0.0.1", "--server.port", strconv.Itoa(port), "--server.id", id, "--dc", dc.Name,
		"--data-dir", filepath.Join(t.TempDir(), id), "--log.level", cfg.LogLevel,
		// A dead worker's partitions move within the 5 s target
		// (ARCHITECTURE §12.2); the brokers allow it (GroupMinSessionTimeout).
		"--kafka.session-timeout", "3s"}
	if len(dc.DBServers) > 0 {
		args = append(args, "--dbserver", dc.DBServers[(i-1)%len(dc.DBServers)].ID)
	}
	for _, m := range dc.Masters {
		args = append(args, "--master.endpoint", m.Endpoint)
	}
	args = append(args, cfg.WorkerArgs...)
	p := Start(t, Spec{Name: id, Path: Binary(t, "dc2dc"), Args: args, Env: dc.env()})
	return &Member{Proc: p, Role: "worker", ID: id, Endpoint: "http://127.0.0.1:" + strconv.Itoa(port), dc: dc}
}

func (m *Member) waitReady(t testing.TB) {
	t.Helper()
	r := m.MustReady(m.dc.top.Cfg.StartTimeout)
	if r.String("id") != m.ID || r.String("component") != m.Role {
		t.Fatalf("harness: %s: ready line %v", m.ID, r)
	}
}

// Running reports whether the member's current run has not exited.
func (m *Member) Running() bool {
	select {
	case <-m.Exited():
		return false
	default:
		return true
	}
}

// Kill9AndRestart kills the member with SIGKILL, starts it again at the
// same endpoint and waits for its ready line (a worker's comes once it
// registered with a leader).
func (m *Member) Kill9AndRestart(t testing.TB) {
	t.Helper()
	m.Kill9()
	m.RestartReady(t)
}

// RestartReady starts a stopped or killed member again and waits for its
// ready line.
func (m *Member) RestartReady(t testing.TB) {
	t.Helper()
	m.Restart()
	m.waitReady(t)
}

// MasterEndpoints of the datacenter, in order.
func (dc *DC) MasterEndpoints() []string {
	eps := make([]string, 0, len(dc.Masters))
	for _, m := range dc.Masters {
		eps = append(eps, m.Endpoint)
	}
	return eps
}

// Client returns an admin API client on every master of the datacenter
// (forwarding to the leader). Close it when done.
func (dc *DC) Client(t testing.TB) *api.Client {
	t.Helper()
	cl, err := api.NewClient(api.ClientConfig{Endpoints: dc.MasterEndpoints(), Token: TopologyToken, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("harness: admin client of %s: %v", dc.Name, err)
	}
	return cl
}

// Leader asks every running master directly (no forwarding) and returns
// the one that answers as leader, with its epoch. Two answering as leader
// is an error.
func (dc *DC) Leader(ctx context.Context) (*Member, uint64, error) {
	var (
		mu     sync.Mutex
		found  []*Member
		epoch  uint64
		wg     sync.WaitGroup
		errors []string
	)
	for _, m := range dc.Masters {
		if !m.Running() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := api.NewClient(api.ClientConfig{Endpoints: []string{m.Endpoint}, Token: TopologyToken, NoForward: true, Timeout: 2 * time.Second})
			if err != nil {
				return
			}
			defer cl.Close()
			ms, err := cl.Masters(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errors = append(errors, fmt.Sprintf("%s: %v", m.ID, err))
				return
			}
			if ms.Leader == m.ID {
				found = append(found, m)
				epoch = ms.Epoch
			}
		}()
	}
	wg.Wait()
	switch len(found) {
	case 0:
		return nil, 0, fmt.Errorf("no master of %s leads (%v)", dc.Name, errors)
	case 1:
		return found[0], epoch, nil
	}
	return nil, 0, fmt.Errorf("%d masters of %s answer as leader", len(found), dc.Name)
}

// WaitLeader polls until one master of the datacenter leads.
func (dc *DC) WaitLeader(t testing.TB, timeout time.Duration) (*Member, uint64) {
	t.Helper()
	return dc.waitLeader(t, timeout, func(*Member, uint64) string { return "" })
}

// WaitNewLeader polls until a master other than old leads with an epoch
// above oldEpoch.
func (dc *DC) WaitNewLeader(t testing.TB, old *Member, oldEpoch uint64, timeout time.Duration) (*Member, uint64) {
	t.Helper()
	return dc.waitLeader(t, timeout, func(l *Member, e uint64) string {
		if l == old || e <= oldEpoch {
			return fmt.Sprintf("%s leads with epoch %d (old: %s, epoch %d)", l.ID, e, old.ID, oldEpoch)
		}
		return ""
	})
}

// waitLeader polls until one master leads and refuse (the reason it does
// not count yet, or "") accepts it.
func (dc *DC) waitLeader(t testing.TB, timeout time.Duration, refuse func(*Member, uint64) string) (*Member, uint64) {
	t.Helper()
	var (
		leader *Member
		epoch  uint64
	)
	Eventually(t, timeout, 100*time.Millisecond, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		l, e, err := dc.Leader(ctx)
		if err != nil {
			return false, err.Error()
		}
		if why := refuse(l, e); why != "" {
			return false, why
		}
		leader, epoch = l, e
		return true, ""
	})
	return leader, epoch
}
