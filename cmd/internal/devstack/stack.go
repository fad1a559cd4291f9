package devstack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dc2dc/dc2dc/pipeline/kafka"
)

// Datacenter lists how to reach one side of the stack.
type Datacenter struct {
	Coordinators []string `json:"coordinators"`
	DBServers    []string `json:"dbservers"`
	Username     string   `json:"username"`
	Password     string   `json:"password"`
	JWTSecret    string   `json:"jwt_secret"`
	KafkaBrokers []string `json:"kafka_brokers"`
	Masters      []string `json:"masters,omitempty"`
	Workers      []string `json:"workers,omitempty"`
}

// Endpoints is the content of the endpoints file.
type Endpoints struct {
	StateDir string        `json:"state_dir"`
	SyncID   string        `json:"sync_id"`
	Topics   Topics        `json:"topics"`
	A        Datacenter    `json:"a"`
	B        Datacenter    `json:"b"`
	Mirror   MirrorMetrics `json:"mirror"`
	// AdminToken is the bearer token of the masters' and workers' API
	// (`dc2dc get ... --auth.token`), when the control plane runs.
	AdminToken string `json:"admin_token,omitempty"`
	// Logs maps each child to its log file.
	Logs map[string]string `json:"logs"`
	PIDs string            `json:"pids_file"`
}

// Topics are the Kafka topics of the sync (kafka.TopicsFor).
type Topics struct {
	Data    string `json:"data"`
	CtlUp   string `json:"ctl_up"`
	CtlDown string `json:"ctl_down"`
	Poison  string `json:"poison"`
}

// MirrorMetrics is where the mirror serves /metrics.
type MirrorMetrics struct {
	Metrics string `json:"metrics"`
}

// Exit reports a child that exited while the stack was running.
type Exit struct {
	Name string
	PID  int
	Err  error  // nil for exit status 0
	Log  string // its log file
	Tail string // the last lines of its log
}

func (e Exit) String() string {
	status := "exit status 0"
	if e.Err != nil {
		status = e.Err.Error()
	}
	return fmt.Sprintf("%s (pid %d) exited unexpectedly: %s; the end of %s:\n%s", e.Name, e.PID, status, e.Log, e.Tail)
}

// Stack is a running development stack.
type Stack struct {
	cfg     Config
	secrets Secrets
	ports   Ports
	release func()

	mu       sync.Mutex
	children []*child
	eps      Endpoints
	exits    chan Exit
	closed   bool
	closeErr error
	wg       sync.WaitGroup
}

// Start starts the whole stack and writes the endpoints file. On error
// everything it started is stopped before it returns. ctx aborts the
// start-up only; stop a started stack with Close.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("devstack: state dir: %w", err)
	}
	release, err := lockState(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	s := &Stack{cfg: cfg, release: release, exits: make(chan Exit, 16)}
	if err := s.start(ctx); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

func (s *Stack) start(ctx context.Context) error {
	cfg, log := s.cfg, s.cfg.Logger
	if killed := killLeftovers(cfg.StateDir); len(killed) > 0 {
		log.Warn("killed processes a previous run left behind", "processes", killed)
	}
	if cfg.Fresh {
		if err := wipe(cfg.StateDir); err != nil {
			return err
		}
	}
	for _, d := range []string{"data", "logs"} {
		if err := os.MkdirAll(filepath.Join(cfg.StateDir, d), 0o755); err != nil {
			return fmt.Errorf("devstack: %w", err)
		}
	}
	var err error
	if s.secrets, err = loadSecrets(cfg.StateDir); err != nil {
		return fmt.Errorf("devstack: secrets: %w", err)
	}
	if s.ports, err = loadPorts(cfg.StateDir); err != nil {
		return fmt.Errorf("devstack: ports: %w", err)
	}
	topics, err := kafka.TopicsFor("", cfg.SyncID)
	if err != nil {
		return err
	}
	s.eps = Endpoints{StateDir: cfg.StateDir, SyncID: cfg.SyncID,
		Topics: Topics{Data: topics.Data, CtlUp: topics.CtlUp, CtlDown: topics.CtlDown, Poison: topics.Poison}, Logs: map[string]string{},
		PIDs: filepath.Join(cfg.StateDir, "pids.json")}
	data := func(name string) string { return filepath.Join(cfg.StateDir, "data", name) }
	p, sec := s.ports, s.secrets

	// Tier 1: the clusters and the brokers.
	simA, err := s.spawn(0, "arangosim-a", cfg.Arangosim, nil, "--coordinators", "1", "--dbservers", "3",
		"--port", strconv.Itoa(p.A), "--jwt-secret", sec.JWTSecretA, "--root-password", sec.RootPassword, "--data-dir", data("arangosim-a"))
	if err != nil {
		return err
	}
	simB, err := s.spawn(0, "arangosim-b", cfg.Arangosim, nil, "--coordinators", "1", "--dbservers", "2",
		"--port", strconv.Itoa(p.B), "--jwt-secret", sec.JWTSecretB, "--root-password", sec.RootPassword, "--data-dir", data("arangosim-b"))
	if err != nil {
		return err
	}
	kA, err := s.spawn(0, "kafka-a", cfg.DC2DC, nil, "kafka", "--port", strconv.Itoa(p.KafkaA), "--data-dir", data("kafka-a"), "--log.level", cfg.LogLevel)
	if err != nil {
		return err
	}
	kB, err := s.spawn(0, "kafka-b", cfg.DC2DC, nil, "kafka", "--port", strconv.Itoa(p.KafkaB), "--data-dir", data("kafka-b"), "--log.level", cfg.LogLevel)
	if err != nil {
		return err
	}
	for _, side := range []struct {
		c   *child
		dc  *Datacenter
		jwt string
	}{{simA, &s.eps.A, sec.JWTSecretA}, {simB, &s.eps.B, sec.JWTSecretB}} {
		var r simReady
		if err := side.c.waitReady(cfg.StartTimeout, ctx.Done(), &r); err != nil {
			return err
		}
		for _, srv := range r.Servers {
			if srv.Role == "coordinator" {
				side.dc.Coordinators = append(side.dc.Coordinators, srv.Endpoint)
			} else {
				side.dc.DBServers = append(side.dc.DBServers, srv.Endpoint)
			}
		}
		if len(side.dc.Coordinators) == 0 {
			side.dc.Coordinators = []string{r.Endpoint}
		}
		side.dc.Username, side.dc.Password, side.dc.JWTSecret = "root", sec.RootPassword, side.jwt
	}
	for _, side := range []struct {
		c  *child
		dc *Datacenter
	}{{kA, &s.eps.A}, {kB, &s.eps.B}} {
		var r kafkaReady
		if err := side.c.waitReady(cfg.StartTimeout, ctx.Done(), &r); err != nil {
			return err
		}
		if len(r.Brokers) == 0 {
			return fmt.Errorf("devstack: %s named no brokers in its ready line", side.c.name)
		}
		side.dc.KafkaBrokers = r.Brokers
	}

	// The sync's topics on both sides, with the same partition counts (the
	// mirror keeps partitions).
	specs := []kafka.TopicSpec{{Name: topics.Data, Partitions: cfg.DataPartitions}, {Name: topics.CtlUp, Partitions: 1},
		{Name: topics.CtlDown, Partitions: 1}, {Name: topics.Poison, Partitions: 1}}
	for _, brokers := range [][]string{s.eps.A.KafkaBrokers, s.eps.B.KafkaBrokers} {
		tctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
		err := kafka.EnsureTopics(tctx, kafka.Config{Brokers: brokers}, specs)
		cancel()
		if err != nil {
			return fmt.Errorf("devstack: topics of sync %s: %w", cfg.SyncID, err)
		}
	}

	// Tier 2: the mirror and the control plane.
	mirror, err := s.spawn(1, "mirror", cfg.DC2DC, nil, "mirror", "--from.brokers", s.eps.A.KafkaBrokers[0], "--to.brokers", s.eps.B.KafkaBrokers[0],
		"--sync-id", cfg.SyncID, "--metrics.addr", "127.0.0.1:"+strconv.Itoa(p.Mirror), "--instance-id", "dev-mirror", "--log.level", cfg.LogLevel)
	if err != nil {
		return err
	}
	var mr struct {
		Metrics string `json:"metrics"`
	}
	if err := mirror.waitReady(cfg.StartTimeout, ctx.Done(), &mr); err != nil {
		return err
	}
	s.eps.Mirror.Metrics = "http://" + mr.Metrics + "/metrics"

	if cfg.ControlPlane {
		s.eps.AdminToken = sec.AdminToken
		for _, side := range []struct {
			name string
			dc   *Datacenter
			jwt  string
		}{{"a", &s.eps.A, sec.JWTSecretA}, {"b", &s.eps.B, sec.JWTSecretB}} {
			env := []string{"DC2DC_CLUSTER_JWT_SECRET=" + side.jwt, "DC2DC_AUTH_TOKEN=" + sec.AdminToken}
			dcName := map[string]string{"a": "A", "b": "B"}[side.name]
			margs := []string{"master", "--cluster.endpoint", side.dc.Coordinators[0],
				"--kafka.brokers", strings.Join(side.dc.KafkaBrokers, ","), "--server.host", "127.0.0.1", "--server.port", "0",
				"--server.id", "master-" + side.name, "--dc", dcName, "--log.level", cfg.LogLevel}
			if side.name == "a" {
				// A's users and permissions (the demo's user) reach B too.
				margs = append(margs, "--sync.replicate-users")
			}
			m, err := s.spawn(1, "master-"+side.name, cfg.DC2DC, env, margs...)
			if err != nil {
				return err
			}
			var r controlReady
			if err := m.waitReady(cfg.StartTimeout, ctx.Done(), &r); err != nil {
				return err
			}
			side.dc.Masters = []string{r.Endpoint}
			w, err := s.spawn(1, "worker-"+side.name, cfg.DC2DC, env, "worker", "--cluster.endpoint", side.dc.Coordinators[0],
				"--kafka.brokers", strings.Join(side.dc.KafkaBrokers, ","), "--master.endpoint", r.Endpoint, "--server.host", "127.0.0.1", "--server.port", "0", "--server.id", "worker-"+side.name,
				"--dc", dcName, "--data-dir", data("worker-"+side.name), "--log.level", cfg.LogLevel)
			if err != nil {
				return err
			}
			if err := w.waitReady(cfg.StartTimeout, ctx.Done(), &r); err != nil {
				return err
			}
			side.dc.Workers = []string{r.Endpoint}
		}
	}
	if err := os.MkdirAll(filepath.Dir(cfg.EndpointsFile), 0o755); err != nil {
		return fmt.Errorf("devstack: endpoints file: %w", err)
	}
	if err := writeJSON(cfg.EndpointsFile, s.Endpoints(), 0o600); err != nil {
		return fmt.Errorf("devstack: endpoints file: %w", err)
	}
	return nil
}

type simReady struct {
	Endpoint string `json:"endpoint"`
	Servers  []struct {
		Role     string `json:"role"`
		Endpoint string `json:"endpoint"`
	} `json:"servers"`
}

type kafkaReady struct {
	Brokers []string `json:"brokers"`
}

type controlReady struct {
	Endpoint string `json:"endpoint"`
}

// wipe removes everything in dir but the lock file.
func wipe(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("devstack: --fresh: %w", err)
	}
	for _, e := range entries {
		if e.Name() == "lock" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("devstack: --fresh: %w", err)
		}
	}
	return nil
}

// spawn starts one child, records its pid and watches its exit.
func (s *Stack) spawn(tier int, name, path string, env []string, args ...string) (*child, error) {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	logPath := filepath.Join(s.cfg.StateDir, "logs", name+".log")
	c, err := startChild(name, path, args, logPath, env)
	if err != nil {
		return nil, err
	}
	c.tier = tier
	s.mu.Lock()
	s.children = append(s.children, c)
	s.eps.Logs[name] = logPath
	pf := s.pidsLocked()
	s.mu.Unlock()
	s.cfg.Logger.Info("started", "process", name, "pid", c.pid(), "log", logPath)
	if err := writeJSON(filepath.Join(s.cfg.StateDir, "pids.json"), pf, 0o644); err != nil {
		return c, fmt.Errorf("devstack: pids file: %w", err)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		<-c.done
		if c.stopping.Load() {
			return
		}
		select {
		case s.exits <- Exit{Name: c.name, PID: c.pid(), Err: c.exitErr, Log: c.logPath, Tail: Tail(c.logPath, 20)}:
		default:
		}
	}()
	return c, nil
}

func (s *Stack) pidsLocked() PIDsFile {
	pf := PIDsFile{Dev: os.Getpid()}
	for _, c := range s.children {
		pf.Children = append(pf.Children, PID{Name: c.name, PID: c.pid(), Path: c.path, Log: c.logPath})
	}
	return pf
}

// Endpoints returns what the endpoints file holds.
func (s *Stack) Endpoints() Endpoints {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.eps
	e.Logs = make(map[string]string, len(s.eps.Logs))
	for k, v := range s.eps.Logs {
		e.Logs[k] = v
	}
	return e
}

// Config returns the stack's configuration (with defaults).
func (s *Stack) Config() Config { return s.cfg }

// PIDs lists the children with their pids and logs, in start order.
func (s *Stack) PIDs() []PID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pidsLocked().Children
}

// Exited reports children that exit while the stack runs (not those Close
// stops).
func (s *Stack) Exited() <-chan Exit { return s.exits }

// Close stops every child: SIGTERM to each process group, SIGKILL to those
// still running after Config.StopTimeout. It is idempotent and returns an
// error naming the children it had to kill.
func (s *Stack) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return s.closeErr
	}
	s.closed = true
	children := append([]*child(nil), s.children...)
	s.mu.Unlock()

	for _, c := range children {
		c.stopping.Store(true)
	}
	// Highest tier first: the mirror, masters and workers stop while the
	// clusters and brokers they talk to still answer (a master releases its
	// lease, so the next run's master leads at once).
	var killed []string
	for tier := 1; tier >= 0; tier-- {
		var group []*child
		for _, c := range children {
			if c.tier == tier {
				group = append(group, c)
			}
		}
		killed = append(killed, stopGroup(group, s.cfg.StopTimeout)...)
	}
	s.wg.Wait()
	if len(killed) > 0 {
		s.closeErr = fmt.Errorf("devstack: killed with SIGKILL after %v: %v", s.cfg.StopTimeout, killed)
	}
	s.release()
	return s.closeErr
}

// stopGroup sends SIGTERM to every child of group, waits up to timeout for
// them, then kills the rest with SIGKILL and names them.
func stopGroup(group []*child, timeout time.Duration) []string {
	for i := len(group) - 1; i >= 0; i-- {
		group[i].signal(syscall.SIGTERM)
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var killed []string
	expired := false
	for _, c := range group {
		if !expired {
			select {
			case <-c.done:
				continue
			case <-deadline.C:
				expired = true
			}
		}
		select {
		case <-c.done:
			continue
		default:
		}
		killed = append(killed, fmt.Sprintf("%s (pid %d)", c.name, c.pid()))
		c.signal(syscall.SIGKILL)
		<-c.done
	}
	return killed
}
