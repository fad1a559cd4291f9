package worker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/dc2dc/dc2dc/handlers/control/api"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/handlers/control/registry"
	"github.com/dc2dc/dc2dc/pipeline/failure"
	"github.com/dc2dc/dc2dc/store"
)

// Runner runs the worker's tasks. Assign is called from the heartbeat loop
// with the complete list of tasks this worker must run now (each with its
// generation and the leader epoch); it must return quickly and stop tasks
// that are no longer listed. Reports returns the state of the running
// tasks for the next heartbeat.
//
// Syncs is called from the heartbeat loop, before Assign, with the active
// syncs of the datacenter (HeartbeatResponse.Syncs): a worker in a target
// datacenter runs the receive side of each. ShardReports returns the
// receive side's per-shard reports for the next heartbeat
// (HeartbeatRequest.Shards). Both must return quickly.
//
// When the worker stops it calls Syncs and Assign with nil lists and, when
// the Runner is an io.Closer, Close (which must wait for the tasks to
// end) before the checkpoint store closes. A Runner that is a StoreUser is
// handed the checkpoint store once it is open, before the first Assign.
type Runner interface {
	Assign(ctx context.Context, epoch uint64, tasks []registry.Task)
	Reports() []registry.Report
	Syncs(ctx context.Context, epoch uint64, syncs []plan.Assignment)
	ShardReports() []plan.ShardReport
}

// StoreUser is a Runner that uses the worker's checkpoint store.
type StoreUser interface {
	UseStore(st *store.Store)
}

// Config of a worker.
type Config struct {
	// ID names the worker (default: host:port of its endpoint).
	ID string
	// Listen is the API's listen address (host:port); Endpoint the URL the
	// masters reach it at (default http(s)://<listen address>).
	Listen   string
	Endpoint string
	Host     string
	// DBServer is the DB-Server this worker sits next to (affinity).
	DBServer string
	Capacity int
	Version  string
	DC       string
	// Masters is how to reach the masters.
	Masters api.ClientConfig
	// DataDir holds the checkpoint store (<DataDir>/checkpoints).
	DataDir string
	// HeartbeatInterval (default 1s; the leader's answer to the
	// registration overrides it).
	HeartbeatInterval time.Duration
	Auth              api.AuthConfig
	TLS               api.TLSConfig
	ShutdownGrace     time.Duration
	Runner            Runner
	Logger            *slog.Logger
	Gatherer          prometheus.Gatherer
}

// WithDefaults fills the unset fields.
func (c Config) WithDefaults() Config {
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = time.Second
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = 5 * time.Second
	}
	if c.Masters.Timeout == 0 {
		// Well below the leader's dead-after (3 s): a master that accepts
		// connections but does not answer (paused) must not cost the
		// worker its tasks before it tries the next master.
		c.Masters.Timeout = 1500 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Host == "" {
		c.Host, _ = os.Hostname()
	}
	return c
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if err := c.Masters.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Listen == "" {
		errs = append(errs, errors.New("no listen address: set --server.port (default 8729)"))
	} else if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen address %q: %w: use host:port", c.Listen, err))
	}
	if c.Endpoint != "" && !strings.HasPrefix(c.Endpoint, "http://") && !strings.HasPrefix(c.Endpoint, "https://") {
		errs = append(errs, fmt.Errorf("--server.endpoint %q: use the URL the masters reach this worker at, e.g. http://worker1:8729", c.Endpoint))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("no data directory: set --data-dir to a directory for the worker's checkpoints (one per worker)"))
	}
	if c.Capacity < 0 {
		errs = append(errs, fmt.Errorf("capacity %d: use 0 (unlimited) or a positive number of tasks", c.Capacity))
	}
	if err := c.TLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Status is what the worker knows now.
type Status struct {
	ID         string          `json:"id"`
	Registered bool            `json:"registered"`
	Epoch      uint64          `json:"epoch"`
	LastBeat   time.Time       `json:"lastHeartbeat"`
	Tasks      []registry.Task `json:"tasks"`
	// Syncs are the active syncs of the last heartbeat answer.
	Syncs []plan.Assignment `json:"syncs,omitempty"`
}

// Worker is one sync worker.
type Worker struct {
	cfg    Config
	client *api.Client
	store  *store.Store
	ln     net.Listener
	ready  chan struct{}

	mu     sync.Mutex
	status Status
}

// New validates cfg and builds the worker (no I/O).
func New(cfg Config) (*Worker, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, failure.WithCode(failure.CodeConfigInvalid, err)
	}
	return &Worker{cfg: cfg, ready: make(chan struct{})}, nil
}

// Ready is closed once the worker serves its API and is registered.
func (w *Worker) Ready() <-chan struct{} { return w.ready }

// Addr is the API's listen address (after Ready).
func (w *Worker) Addr() string { return w.ln.Addr().String() }

// ID is the worker's id (after Ready).
func (w *Worker) ID() string { return w.cfg.ID }

// Endpoint is the advertised URL (after Ready).
func (w *Worker) Endpoint() string { return w.cfg.Endpoint }

// Store is the worker's checkpoint store (after Ready).
func (w *Worker) Store() *store.Store { return w.store }

// Status returns a snapshot.
func (w *Worker) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.status
	st.Tasks = append([]registry.Task(nil), st.Tasks...)
	st.Syncs = append([]plan.Assignment(nil), st.Syncs...)
	return st
}

// Run runs the worker until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	st, err := store.Open(store.Config{Dir: filepath.Join(w.cfg.DataDir, "checkpoints"), Logger: w.cfg.Logger})
	if err != nil {
		return fmt.Errorf("--data-dir %s: %w", w.cfg.DataDir, err)
	}
	w.store = st
	defer func() { _ = st.Close() }()
	if su, ok := w.cfg.Runner.(StoreUser); ok {
		su.UseStore(st)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", w.cfg.Listen)
	if err != nil {
		return failure.WithCode(failure.CodeConfigInvalid, fmt.Errorf("listen on %s: %w: choose a free --server.port", w.cfg.Listen, err))
	}
	w.ln = ln
	tlsCfg, err := w.cfg.TLS.Build()
	if err != nil {
		_ = ln.Close()
		return failure.WithCode(failure.CodeConfigInvalid, err)
	}
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	if w.cfg.Endpoint == "" {
		w.cfg.Endpoint = scheme + "://" + ln.Addr().String()
	}
	if w.cfg.ID == "" {
		w.cfg.ID = strings.TrimPrefix(strings.TrimPrefix(w.cfg.Endpoint, "http://"), "https://")
	}
	w.status.ID = w.cfg.ID
	mc := w.cfg.Masters
	if mc.Subject == "" {
		mc.Subject = w.cfg.ID
	}
	if w.client, err = api.NewClient(mc); err != nil {
		_ = ln.Close()
		return err
	}
	defer w.client.Close()
	handler, err := api.NewServer(api.Config{Role: "worker", ID: w.cfg.ID, DC: w.cfg.DC, Version: w.cfg.Version, Endpoint: w.cfg.Endpoint,
		Auth: w.cfg.Auth, Metrics: w.cfg.Gatherer, Logger: w.cfg.Logger})
	if err != nil {
		_ = ln.Close()
		return err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsCfg,
		ErrorLog: slog.NewLogLogger(w.cfg.Logger.Handler(), slog.LevelWarn)}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		serve := func() error { return srv.Serve(ln) }
		if tlsCfg != nil {
			serve = func() error { return srv.ServeTLS(ln, "", "") }
		}
		return api.Serve(gctx, srv, serve, w.cfg.ShutdownGrace)
	})
	g.Go(func() error { return w.loop(gctx) })
	return g.Wait()
}

// loop registers and heartbeats until ctx ends.
func (w *Worker) loop(ctx context.Context) error {
	interval := w.cfg.HeartbeatInterval
	registered := false
	backoff := 200 * time.Millisecond
	var readyOnce sync.Once
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			w.stopRunner(context.WithoutCancel(ctx))
			return nil
		case <-timer.C:
		}
		next := interval
		if !registered {
			err := w.register(ctx)
			if err != nil {
				if ctx.Err() == nil {
					w.cfg.Logger.Warn("cannot register with the masters; retrying", "err", err, "retry", backoff)
				}
				timer.Reset(jitter(backoff))
				backoff = min(backoff*2, 5*time.Second)
				continue
			}
			registered, backoff = true, 200*time.Millisecond
			readyOnce.Do(func() { close(w.ready) })
		}
		if err := w.heartbeat(ctx); err != nil {
			if api.IsUnknownWorker(err) {
				w.cfg.Logger.Info("the leader does not know this worker: registering again")
				registered, next = false, 0
			} else if ctx.Err() == nil {
				w.cfg.Logger.Warn("heartbeat failed", "err", err)
			}
		}
		timer.Reset(next)
	}
}

// stopRunner stops every task and waits for them (Close).
func (w *Worker) stopRunner(ctx context.Context) {
	if w.cfg.Runner == nil {
		return
	}
	epoch := w.Status().Epoch
	w.cfg.Runner.Syncs(ctx, epoch, nil)
	w.cfg.Runner.Assign(ctx, epoch, nil)
	if c, ok := w.cfg.Runner.(io.Closer); ok {
		if err := c.Close(); err != nil {
			w.cfg.Logger.Warn("stopping the tasks", "err", err)
		}
	}
}

func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

func (w *Worker) register(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := w.client.Register(rctx, registry.WorkerInfo{ID: w.cfg.ID, Endpoint: w.cfg.Endpoint, Host: w.cfg.Host,
		DBServer: w.cfg.DBServer, Capacity: w.cfg.Capacity})
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if resp.Epoch < w.status.Epoch {
		return fmt.Errorf("registered with a master of epoch %d, below the epoch %d already seen: a deposed leader answered", resp.Epoch, w.status.Epoch)
	}
	w.status.Epoch, w.status.Registered = resp.Epoch, true
	w.cfg.Logger.Info("registered with the leader", "epoch", resp.Epoch, "id", w.cfg.ID)
	return nil
}

func (w *Worker) heartbeat(ctx context.Context) error {
	var reps []registry.Report
	var shards []plan.ShardReport
	if w.cfg.Runner != nil {
		reps, shards = w.cfg.Runner.Reports(), w.cfg.Runner.ShardReports()
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := w.client.Heartbeat(rctx, api.HeartbeatRequest{ID: w.cfg.ID, Reports: reps, Shards: shards})
	if err != nil {
		return err
	}
	w.mu.Lock()
	if resp.Epoch < w.status.Epoch {
		w.mu.Unlock()
		w.cfg.Logger.Warn("ignoring the answer of a deposed leader", "epoch", resp.Epoch, "seen", w.status.Epoch)
		return nil
	}
	if resp.Epoch > w.status.Epoch {
		w.cfg.Logger.Info("new leader epoch", "epoch", resp.Epoch, "was", w.status.Epoch)
	}
	sort.Slice(resp.Tasks, func(i, j int) bool { return resp.Tasks[i].ID < resp.Tasks[j].ID })
	w.status.Epoch, w.status.LastBeat, w.status.Tasks, w.status.Syncs = resp.Epoch, time.Now(), resp.Tasks, resp.Syncs
	w.mu.Unlock()
	for _, id := range resp.Superseded {
		w.cfg.Logger.Warn("task superseded: another worker runs it now", "task", id)
	}
	if w.cfg.Runner != nil {
		w.cfg.Runner.Syncs(ctx, resp.Epoch, resp.Syncs)
		w.cfg.Runner.Assign(ctx, resp.Epoch, resp.Tasks)
	}
	return nil
}

// ClientTLS builds the TLS configuration towards the masters from a CA file
// (optional) and a client certificate (optional).
func ClientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	return api.ClientTLS(caFile, certFile, keyFile)
}
