package election

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/dc2dc/dc2dc/handlers/control/state"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// MeterName is the instrumentation scope of the election's metrics.
const MeterName = "github.com/dc2dc/dc2dc/handlers/control/election"

// Metric names (OpenTelemetry; Prometheus: dc2dc_master_leader,
// dc2dc_master_elections_total).
const (
	MetricLeader    = "dc2dc.master.leader"
	MetricElections = "dc2dc.master.elections"
)

// Store is the compare-and-set document access the election needs;
// *state.Docs satisfies it.
type Store interface {
	Get(ctx context.Context, key string) (state.Doc, error)
	Create(ctx context.Context, key string, v any) (string, error)
	Replace(ctx context.Context, key, rev string, v any) (string, error)
}

// Status is what an elector knows about the leadership.
type Status struct {
	// ID is this master's id.
	ID string
	// Leader: this master is the leader now, with Epoch.
	Leader bool
	// Epoch is this leader's epoch, or the highest epoch seen.
	Epoch uint64
	// LeaderID and LeaderEndpoint name the lease holder last seen ("" when
	// none or released).
	LeaderID       string
	LeaderEndpoint string
	// ValidUntil is the leader's own deadline (zero for followers).
	ValidUntil time.Time
}

// Elector runs the election for one master.
type Elector struct {
	cfg   Config
	store Store
	inc   string // incarnation

	leaderGauge metric.Int64Gauge
	elections   metric.Int64Counter

	// owned by Run's goroutine
	rev       string    // rev of the lease as last written by us (leader)
	seenRev   string    // follower: the rev being timed
	seenAt    time.Time // follower: when seenRev was first received
	seenEpoch uint64
	deadline  *time.Timer

	mu         sync.Mutex
	leader     bool
	epoch      uint64
	validUntil time.Time
	holder     string
	endpoint   string
}

// New validates cfg and returns an elector over st.
func New(cfg Config, st Store) (*Elector, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, failure.WithCode(failure.CodeConfigInvalid, err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	e := &Elector{cfg: cfg, store: st, inc: hex.EncodeToString(b[:])}
	if cfg.MeterProvider != nil {
		m := cfg.MeterProvider.Meter(MeterName)
		var err error
		if e.leaderGauge, err = m.Int64Gauge(MetricLeader, metric.WithDescription("1 while this master is the leader of its datacenter, else 0")); err != nil {
			return nil, err
		}
		if e.elections, err = m.Int64Counter(MetricElections, metric.WithDescription("elections this master won (takeovers, including its first)")); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// Config returns the (defaulted) configuration.
func (e *Elector) Config() Config { return e.cfg }

// Leader reports whether this master is the leader now, and its epoch. It
// turns false at the lease deadline on this master's clock.
func (e *Elector) Leader() (epoch uint64, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.leader && time.Now().Before(e.validUntil) {
		return e.epoch, true
	}
	return 0, false
}

// Status returns what the elector knows now.
func (e *Elector) Status() Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := Status{ID: e.cfg.ID, Epoch: e.epoch, LeaderID: e.holder, LeaderEndpoint: e.endpoint}
	if e.leader && time.Now().Before(e.validUntil) {
		st.Leader, st.ValidUntil = true, e.validUntil
		st.LeaderID, st.LeaderEndpoint = e.cfg.ID, e.cfg.Endpoint
	}
	return st
}

// Run takes part in the election until ctx ends. It returns nil then
// (after releasing the lease unless Config.KeepLeaseOnStop).
func (e *Elector) Run(ctx context.Context) error {
	e.gauge(0)
	e.deadline = time.NewTimer(time.Hour)
	e.deadline.Stop()
	defer e.deadline.Stop()
	next := time.NewTimer(0)
	defer next.Stop()
	for {
		select {
		case <-ctx.Done():
			e.stop()
			return nil
		case <-e.deadline.C:
			e.checkDeadline()
		case <-next.C:
			e.step(ctx)
			next.Reset(e.cfg.RenewInterval)
		}
	}
}

// reqCtx bounds one request: RequestTimeout, and a leader's deadline.
func (e *Elector) reqCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	e.mu.Lock()
	leader, until := e.leader, e.validUntil
	e.mu.Unlock()
	if leader {
		if d := time.Now().Add(e.cfg.RequestTimeout); d.Before(until) {
			until = d
		}
		return context.WithDeadline(ctx, until)
	}
	return context.WithTimeout(ctx, e.cfg.RequestTimeout)
}

func (e *Elector) isLeader() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leader
}

func (e *Elector) step(ctx context.Context) {
	defer e.checkDeadline()
	if e.isLeader() && e.rev != "" {
		e.mu.Lock()
		epoch := e.epoch
		e.mu.Unlock()
		if e.write(ctx, e.rev, epoch) {
			return
		}
	}
	rctx, cancel := e.reqCtx(ctx)
	d, err := e.store.Get(rctx, state.LeaseKey)
	cancel()
	seen := time.Now()
	if errors.Is(err, state.ErrNotFound) {
		e.create(ctx, e.seenEpoch+1)
		return
	}
	if err != nil {
		if ctx.Err() == nil {
			e.cfg.Logger.Warn("election: cannot read the lease", "err", err)
		}
		return
	}
	var l state.Lease
	if err := json.Unmarshal(d.Body, &l); err != nil {
		e.cfg.Logger.Error("election: the lease document is not a lease; taking it over once it stops changing", "err", err, "body", string(d.Body))
	}
	if l.Epoch > e.seenEpoch {
		e.seenEpoch = l.Epoch
	}
	e.mu.Lock()
	e.holder, e.endpoint = l.Holder, l.Endpoint
	if !e.leader && l.Epoch > e.epoch {
		e.epoch = l.Epoch
	}
	e.mu.Unlock()
	switch {
	case l.Holder == e.cfg.ID && l.Incarnation == e.inc && e.isLeader():
		e.write(ctx, d.Rev, l.Epoch)
	case l.Holder == e.cfg.ID && l.Incarnation == e.inc:
		// Our own lease, but we stepped down (it could not be renewed in
		// time): a new term, so a new epoch. Taking it back at the old one
		// would give two terms one epoch, and whatever tells terms apart
		// by their epoch (fenced writes, the peer's message stamps of a
		// leader's fresh counters) could not.
		e.write(ctx, d.Rev, l.Epoch+1)
	case l.Holder == "":
		e.write(ctx, d.Rev, l.Epoch+1)
	default:
		if e.isLeader() {
			e.stepDown("another master holds the lease", "holder", l.Holder, "epoch", l.Epoch)
		}
		if d.Rev != e.seenRev {
			e.seenRev, e.seenAt = d.Rev, seen
			return
		}
		if time.Since(e.seenAt) >= e.cfg.LeaseDuration {
			e.cfg.Logger.Info("election: the lease expired, taking over", "holder", l.Holder, "epoch", l.Epoch)
			e.write(ctx, d.Rev, l.Epoch+1)
		}
	}
}

func (e *Elector) lease(epoch uint64) state.Lease {
	return state.Lease{Holder: e.cfg.ID, Incarnation: e.inc, Endpoint: e.cfg.Endpoint, Epoch: epoch,
		LeaseMillis: e.cfg.LeaseDuration.Milliseconds(), RenewedAt: time.Now().UTC()}
}

// create writes the first lease.
func (e *Elector) create(ctx context.Context, epoch uint64) {
	rctx, cancel := e.reqCtx(ctx)
	defer cancel()
	sent := time.Now()
	rev, err := e.store.Create(rctx, state.LeaseKey, e.lease(epoch))
	if err != nil {
		if !errors.Is(err, state.ErrConflict) && ctx.Err() == nil {
			e.cfg.Logger.Warn("election: cannot create the lease", "err", err)
		}
		return
	}
	e.won(rev, epoch, sent)
}

// write renews (same epoch) or takes over (higher epoch) the lease by
// compare-and-set on rev. It reports success.
func (e *Elector) write(ctx context.Context, rev string, epoch uint64) bool {
	rctx, cancel := e.reqCtx(ctx)
	defer cancel()
	sent := time.Now()
	newRev, err := e.store.Replace(rctx, state.LeaseKey, rev, e.lease(epoch))
	if err != nil {
		e.rev = ""
		if !errors.Is(err, state.ErrConflict) && !errors.Is(err, state.ErrNotFound) && ctx.Err() == nil {
			e.cfg.Logger.Warn("election: cannot write the lease", "err", err, "epoch", epoch)
		}
		return false
	}
	e.won(newRev, epoch, sent)
	return true
}

// won records a successful lease write sent at sent.
func (e *Elector) won(rev string, epoch uint64, sent time.Time) {
	e.rev = rev
	e.seenRev = ""
	if epoch > e.seenEpoch {
		e.seenEpoch = epoch
	}
	until := sent.Add(e.cfg.LeaseDuration - e.cfg.SafetyMargin)
	if !time.Now().Before(until) {
		return // the answer came too late to act on it
	}
	e.mu.Lock()
	was, oldEpoch := e.leader, e.epoch
	e.mu.Unlock()
	if was && oldEpoch != epoch {
		e.stepDown("the lease changed epoch", "epoch", epoch)
		was = false
	}
	e.mu.Lock()
	e.leader, e.epoch, e.validUntil = true, epoch, until
	e.holder, e.endpoint = e.cfg.ID, e.cfg.Endpoint
	e.mu.Unlock()
	e.deadline.Reset(time.Until(until))
	if was {
		return
	}
	e.cfg.Logger.Info("election: became leader", "id", e.cfg.ID, "epoch", epoch)
	e.gauge(1)
	if e.elections != nil {
		e.elections.Add(context.Background(), 1)
	}
	if e.cfg.OnElected != nil {
		e.cfg.OnElected(epoch)
	}
}

func (e *Elector) checkDeadline() {
	e.mu.Lock()
	expired := e.leader && !time.Now().Before(e.validUntil)
	e.mu.Unlock()
	if expired {
		e.stepDown("the lease could not be renewed in time")
	}
}

func (e *Elector) stepDown(why string, kv ...any) {
	e.mu.Lock()
	if !e.leader {
		e.mu.Unlock()
		return
	}
	epoch := e.epoch
	e.leader = false
	e.validUntil = time.Time{}
	e.mu.Unlock()
	e.deadline.Stop()
	e.rev = ""
	e.cfg.Logger.Warn("election: lost leadership: "+why, append([]any{"id", e.cfg.ID, "epoch", epoch}, kv...)...)
	e.gauge(0)
	if e.cfg.OnLost != nil {
		e.cfg.OnLost(epoch)
	}
}

// stop ends the leadership on shutdown and releases the lease.
func (e *Elector) stop() {
	e.mu.Lock()
	leader, epoch := e.leader && time.Now().Before(e.validUntil), e.epoch
	e.mu.Unlock()
	rev := e.rev
	e.stepDown("stopping")
	if !leader || rev == "" || e.cfg.KeepLeaseOnStop {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.RequestTimeout)
	defer cancel()
	rel := state.Lease{Epoch: epoch, LeaseMillis: e.cfg.LeaseDuration.Milliseconds(), RenewedAt: time.Now().UTC()}
	if _, err := e.store.Replace(ctx, state.LeaseKey, rev, rel); err != nil {
		e.cfg.Logger.Warn("election: cannot release the lease; the others take over when it expires", "err", err)
		return
	}
	e.cfg.Logger.Info("election: released the lease", "epoch", epoch)
}

func (e *Elector) gauge(v int64) {
	if e.leaderGauge != nil {
		e.leaderGauge.Record(context.Background(), v)
	}
}
