package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/handlers/control/state"
	"github.com/dc2dc/dc2dc/handlers/target"
	"github.com/dc2dc/dc2dc/handlers/task/send"
	"github.com/dc2dc/dc2dc/pipeline/failure"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
	"github.com/dc2dc/dc2dc/pipeline/middleware"
	"github.com/dc2dc/dc2dc/store"
)

// Runner runs a worker's tasks (worker.Runner). See the package doc.
type Runner struct {
	cfg Config
	log *slog.Logger

	ctx    context.Context // root of every task; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	cl      *client.Client
	docs    *state.Docs
	watch   *client.Watcher
	sendMet *send.Metrics
	pubMet  *middleware.Metrics

	mu        sync.Mutex
	closed    bool
	st        *store.Store
	watching  bool
	raw       message.Publisher // this DC's Kafka, shared
	decorated message.Publisher // raw with tracing and metrics (send side)
	conn      *target.Conn      // the local coordinators (receive side)
	syncs     map[string]plan.Assignment
	sends     map[string]*sendRun    // by task id: the assigned tasks
	lastRun   map[string]*sendRun    // by sync/shard: the newest run (a successor waits for it)
	sources   map[string]*sourceSide // by sync
	recvs     map[string]*recvRun    // by sync: the active receive sides
	lastRecv  map[string]*recvRun    // by sync: the newest receive run
}

// New validates cfg and builds the runner (no I/O: Kafka and the cluster
// are contacted when the first task or sync arrives).
func New(cfg Config) (*Runner, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, failure.WithCode(failure.CodeConfigInvalid, err)
	}
	cl, err := client.New(cfg.Cluster)
	if err != nil {
		return nil, err
	}
	watch, err := client.NewWatcher(cl, client.WatcherConfig{Interval: cfg.WatchInterval}, nil, nil)
	if err != nil {
		cl.Close()
		return nil, err
	}
	sm, err := send.NewMetrics(cfg.MeterProvider)
	if err != nil {
		cl.Close()
		return nil, err
	}
	pm, err := middleware.NewMetrics(cfg.MeterProvider)
	if err != nil {
		cl.Close()
		_ = sm.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Runner{cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel, cl: cl, docs: state.NewDocs(cl.Coordinator()),
		watch: watch, sendMet: sm, pubMet: pm, st: cfg.Store,
		syncs: map[string]plan.Assignment{}, sends: map[string]*sendRun{}, lastRun: map[string]*sendRun{},
		sources: map[string]*sourceSide{}, recvs: map[string]*recvRun{}, lastRecv: map[string]*recvRun{}}, nil
}

// UseStore hands over the worker's checkpoint store (the worker calls it
// once the store is open, before the first Assign or Syncs).
func (r *Runner) UseStore(st *store.Store) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st = st
}

func (r *Runner) store() *store.Store {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

// Close stops every task and receive side, waits for them, and releases
// the shared connections. The runner takes no tasks afterwards.
func (r *Runner) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	if r.raw != nil {
		errs = append(errs, r.raw.Close())
	}
	if r.conn != nil {
		r.conn.Close()
	}
	errs = append(errs, r.sendMet.Close(), r.pubMet.Close())
	r.cl.Close()
	return errors.Join(errs...)
}

// goTracked runs f in a goroutine Close waits for; false when closed.
func (r *Runner) goTracked(f func()) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		f()
	}()
	return true
}

// publishers returns the shared Kafka publisher, raw and decorated
// (tracing, metrics), creating it on first use.
func (r *Runner) publishers() (raw, decorated message.Publisher, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.raw != nil {
		return r.raw, r.decorated, nil
	}
	p, err := kafka.NewPublisher(r.cfg.Kafka)
	if err != nil {
		return nil, nil, err
	}
	d, err := middleware.DecoratePublisher(p, middleware.NewTracing(r.cfg.TracerProvider).PublisherDecorator(), r.pubMet.PublisherDecorator())
	if err != nil {
		_ = p.Close()
		return nil, nil, err
	}
	r.raw, r.decorated = p, d
	return p, d, nil
}

// targetConn returns the connection to the local coordinators for the
// receive side, creating it on first use.
func (r *Runner) targetConn() (*target.Conn, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conn != nil {
		return r.conn, nil
	}
	c := r.cfg.Cluster
	conn, err := target.Dial(target.ConnConfig{Endpoints: c.Endpoints, Username: c.Username, Password: c.Password,
		JWTSecret: c.JWTSecret, TLS: c.TLS, RequestTimeout: c.RequestTimeout})
	if err != nil {
		return nil, err
	}
	r.conn = conn
	return conn, nil
}

// startWatch starts the shard-map watcher of the local cluster once.
func (r *Runner) startWatch() {
	r.mu.Lock()
	if r.watching {
		r.mu.Unlock()
		return
	}
	r.watching = true
	r.mu.Unlock()
	r.goTracked(func() {
		if err := r.watch.Run(r.ctx); err != nil && r.ctx.Err() == nil {
			r.log.Warn("runner: the shard-map watcher of the local cluster ended", "err", err)
		}
	})
}

// backoff is the jittered wait before restart attempt n (n ≥ 1).
func (r *Runner) backoff(n int) time.Duration {
	d := min(r.cfg.RestartBackoff<<min(n-1, 16), r.cfg.MaxRestartBackoff)
	return d/2 + rand.N(d/2+1)
}

// sleep waits d or until ctx ends (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// waitTopics waits until the topics exist in this datacenter's Kafka,
// logging the wait (at once, then every TopicWaitLog). setWaiting, when
// set, is told what is awaited ("" once the topics exist).
func (r *Runner) waitTopics(ctx context.Context, what string, setWaiting func(string), names ...string) error {
	first := true
	failures := 0
	for {
		wait := time.Second
		if !first {
			wait = r.cfg.TopicWaitLog
		}
		wctx, cancel := context.WithTimeout(ctx, wait)
		_, err := kafka.WaitTopics(wctx, r.cfg.Kafka, 200*time.Millisecond, names...)
		cancel()
		switch {
		case err == nil:
			if !first {
				r.log.Info("runner: the topics exist now", "for", what, "topics", names)
			}
			if setWaiting != nil {
				setWaiting("")
			}
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			msg := fmt.Sprintf("waiting for the Kafka topics %v to exist (the leader master creates them, the mirror carries them)", names)
			r.log.Warn("runner: "+msg, "for", what, "brokers", r.cfg.Kafka.Brokers)
			if setWaiting != nil {
				setWaiting(msg)
			}
			first = false
		default:
			failures++
			msg := fmt.Sprintf("cannot look up the Kafka topics %v: %v", names, err)
			r.log.Warn("runner: "+msg, "for", what, "retry", failures)
			if setWaiting != nil {
				setWaiting(msg)
			}
			if !sleep(ctx, r.backoff(failures)) {
				return ctx.Err()
			}
		}
	}
}

// recentError: a task's last error is reported while it is younger than
// this (the tasks keep their last error after they recovered), or as long
// as the task is failed.
const recentError = time.Minute

var codeRE = regexp.MustCompile(`DC2DC-E[0-9]{4}`)

// codeIn finds a DC2DC error code in an error text ("" when none).
func codeIn(s string) string { return codeRE.FindString(s) }
