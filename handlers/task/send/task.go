package send

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/source"
	"github.com/dc2dc/dc2dc/handlers/task/ctl"
	"github.com/dc2dc/dc2dc/pipeline/batcher"
	"github.com/dc2dc/dc2dc/pipeline/failure"
	"github.com/dc2dc/dc2dc/store"
)

// Status is what a Task reports.
type Status struct {
	Shard       string
	Epoch       uint64
	Leader      string
	Phase       string // "starting", "snapshot", "tailing", "done", "failed"
	AckedTick   uint64 // checkpointed source tick
	AckedPos    events.Position
	Batches     uint64 // batches acknowledged by Kafka
	Records     uint64 // records in them
	LeaderTick  uint64 // leader's latest tick (from the tail)
	Epochs      uint64 // epochs started by this task
	EpochReason string // why the current epoch started: "first", "restart", a source.Reason*, "resync-request"
	// Revision resync over Kafka: requests put into the stream, and tree
	// requests that timed out into a full snapshot.
	TreeRequests, RevisionRequests, TreeFallbacks int
	LastError                                     string
	LastErrorAt                                   time.Time
}

// Task is the send-shard task of one shard. See the package doc.
type Task struct {
	cfg  Config
	deps Deps
	ref  string

	leaderTick atomic.Uint64
	mu         sync.Mutex
	st         Status
}

// New checks the configuration.
func New(cfg Config, deps Deps) (*Task, error) {
	cfg = cfg.WithDefaults()
	if err := errors.Join(cfg.Validate(), deps.validate()); err != nil {
		return nil, failure.WithCode(failure.CodeConfigInvalid, err)
	}
	t := &Task{cfg: cfg, deps: deps, ref: cfg.Shard.Ref.String()}
	t.st = Status{Shard: t.ref, Phase: "starting"}
	src := cfg.Source.OnTail
	cfg.Source.OnTail = func(s source.TailStats) {
		t.leaderTick.Store(s.LastTick)
		deps.Metrics.tail(s)
		if src != nil {
			src(s)
		}
	}
	t.cfg = cfg
	return t, nil
}

// Status returns the task's status.
func (t *Task) Status() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.st
	s.LeaderTick = t.leaderTick.Load()
	return s
}

func (t *Task) update(f func(*Status)) {
	t.mu.Lock()
	f(&t.st)
	t.mu.Unlock()
}

// errResync ends an epoch on B's request.
var errResync = errors.New("cluster B asked for a resync of the shard")

// Run runs epochs until ctx ends (nil), the shard is dropped (nil), or a
// permanent error (returned).
func (t *Task) Run(ctx context.Context) error {
	defer t.deps.Metrics.Release(t.ref)
	var resyncs <-chan ctl.Resync
	if t.deps.Listener != nil {
		ch, cancel := t.deps.Listener.Resyncs(t.ref)
		defer cancel()
		resyncs = ch
	}
	start, resume, err := t.resumePoint()
	if err != nil {
		return err
	}
	failures := 0
	reason := "first"
	if _, err := t.deps.Store.Source(t.cfg.Sync, t.ref); err == nil {
		reason = "restart"
	}
	for {
		if !resume {
			if start, err = t.newEpoch(ctx, start.Leader, reason); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				if failure.IsRetryable(err) {
					failures++
					if werr := t.wait(ctx, failures, err); werr != nil {
						return nil
					}
					continue
				}
				return t.failed(err)
			}
		}
		err = t.runEpoch(ctx, start, resume, resyncs)
		var ne *source.NewEpochError
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.As(err, &ne):
			t.cfg.Logger.Info("send: new epoch", "shard", t.ref, "reason", ne.Reason, "old_leader", ne.OldLeader, "leader", ne.Leader, "cause", ne.Cause)
			start.Leader, resume, failures, reason = ne.Leader, false, 0, ne.Reason
		case errors.Is(err, errResync):
			t.cfg.Logger.Info("send: resync requested by B: new epoch", "shard", t.ref, "epoch", start.Epoch)
			if t.deps.Leaders != nil {
				if l, ok := t.deps.Leaders.ShardLeader(t.cfg.Shard.Ref.Database, t.cfg.Shard.Name); ok {
					start.Leader = l
				}
			}
			resume, failures, reason = false, 0, "resync-request"
		case errors.Is(err, source.ErrShardDropped), failure.CodeOf(err) == failure.CodeSourceShardMissing:
			// The drop marker, or the shard gone from the shard map (a
			// drop whose marker the tail could not see).
			t.cfg.Logger.Info("send: shard dropped: task ends", "shard", t.ref, "cause", err)
			t.update(func(s *Status) { s.Phase = "done" })
			return nil
		case err == nil:
			return nil
		case failure.IsRetryable(err):
			failures++
			t.recordErr(err)
			if werr := t.wait(ctx, failures, err); werr != nil {
				return nil
			}
			// Continue from the checkpoint (same epoch when tailing).
			if start, resume, err = t.resumePoint(); err != nil {
				return err
			}
			reason = "retry"
		default:
			return t.failed(err)
		}
	}
}

func (t *Task) failed(err error) error {
	t.recordErr(err)
	t.update(func(s *Status) { s.Phase = "failed" })
	return err
}

func (t *Task) recordErr(err error) {
	t.update(func(s *Status) { s.LastError, s.LastErrorAt = err.Error(), time.Now() })
}

func (t *Task) wait(ctx context.Context, n int, cause error) error {
	d := t.cfg.RetryBackoff << min(n-1, 16)
	d = min(d, t.cfg.MaxRetryBackoff)
	d = d/2 + rand.N(d/2+1)
	t.cfg.Logger.Warn("send: retrying", "shard", t.ref, "attempt", n, "wait", d, "err", cause)
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// resumePoint reads the checkpoint: a tailing position resumes its epoch.
func (t *Task) resumePoint() (source.Start, bool, error) {
	pos, err := t.deps.Store.Source(t.cfg.Sync, t.ref)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return source.Start{Leader: t.cfg.Shard.Leader}, false, nil
	case err != nil:
		return source.Start{}, false, err
	}
	if pos.Phase == store.PhaseTailing && pos.Tick > 0 && pos.Leader != "" {
		return source.Start{Epoch: pos.Epoch, Leader: pos.Leader, Tick: pos.Tick, LastScanned: pos.LastScanned}, true, nil
	}
	leader := pos.Leader
	if leader == "" {
		leader = t.cfg.Shard.Leader
	}
	return source.Start{Leader: leader}, false, nil
}

// newEpoch allocates an epoch and stores it before anything of it is published.
func (t *Task) newEpoch(ctx context.Context, leader, reason string) (source.Start, error) {
	if leader == "" {
		leader = t.cfg.Shard.Leader
	}
	if t.deps.Leaders != nil {
		if l, ok := t.deps.Leaders.ShardLeader(t.cfg.Shard.Ref.Database, t.cfg.Shard.Name); ok && leader == "" {
			leader = l
		}
	}
	e, err := t.deps.Epochs.Next(ctx, t.ref)
	if err != nil {
		return source.Start{}, fmt.Errorf("send: new epoch for %s: %w", t.ref, err)
	}
	if err := t.deps.Store.Put(store.SourcePosition{Sync: t.cfg.Sync, Shard: t.ref, Epoch: e, Leader: leader, Phase: store.PhaseInitialSync}); err != nil {
		return source.Start{}, err
	}
	t.update(func(s *Status) {
		s.Epoch, s.Leader, s.Phase, s.Epochs, s.EpochReason = e, leader, "snapshot", s.Epochs+1, reason
	})
	return source.Start{Epoch: e, Leader: leader}, nil
}

// mark: once `added` records are acknowledged, pos can be resumed from.
type mark struct {
	added uint64
	pos   source.Position
}

// epoch is one epoch's sink, batcher and checkpointing.
type epoch struct {
	t     *Task
	start source.Start
	b     *batcher.Batcher

	// mu serialises Adds (source records, heartbeats, control records)
	// so a heartbeat never lands inside a transaction's Emit.
	mu          sync.Mutex
	added       uint64
	lastRecTick uint64
	lastPos     source.Position
	havePos     bool
	lastEmit    time.Time

	mmu     sync.Mutex
	marks   []mark
	emitted uint64
}

// Emit implements source.Sink.
func (e *epoch) Emit(ctx context.Context, recs []events.Record, pos source.Position) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range recs {
		if err := e.b.Add(ctx, r); err != nil {
			return err
		}
		e.added++
		if r.Tick > e.lastRecTick {
			e.lastRecTick = r.Tick
		}
	}
	e.lastPos, e.havePos, e.lastEmit = pos, true, time.Now()
	e.pushMark(pos)
	phase := string(pos.Phase)
	e.t.update(func(s *Status) { s.Phase = phase; s.Leader = pos.Leader })
	return nil
}

func (e *epoch) pushMark(pos source.Position) {
	e.mmu.Lock()
	e.marks = append(e.marks, mark{added: e.added, pos: pos})
	e.mmu.Unlock()
}

// add puts one record of our own (heartbeat, control) into the stream.
func (e *epoch) add(ctx context.Context, r events.Record) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.b.Add(ctx, r); err != nil {
		return err
	}
	e.added++
	return nil
}

// heartbeat adds a heartbeat when the stream was idle for the interval.
// It never waits for an Emit in progress (the stream is not idle then).
func (e *epoch) heartbeat(ctx context.Context) error {
	if !e.mu.TryLock() {
		return nil
	}
	defer e.mu.Unlock()
	if time.Since(e.lastEmit) < e.t.cfg.HeartbeatInterval {
		return nil
	}
	phase := "snapshot"
	rec := events.Record{}
	withTick := false
	if e.havePos && e.lastPos.Phase == source.PhaseTailing {
		phase = string(source.PhaseTailing)
		// Carry the source tick only when no transaction is open (its
		// records would have ticks above the resume tick).
		if e.lastPos.Tick > e.lastRecTick {
			rec.Tick, withTick = e.lastPos.Tick, true
		}
	}
	rec.Event = &events.Heartbeat{SourceTime: time.Now().UTC(), LeaderTick: e.t.leaderTick.Load(), Phase: phase}
	if err := e.b.Add(ctx, rec); err != nil {
		return err
	}
	e.added++
	e.lastEmit = time.Now()
	if withTick {
		e.lastRecTick = rec.Tick
		e.pushMark(e.lastPos)
	}
	return nil
}

// publish is the batcher's Emit: publish synchronously, then checkpoint.
func (e *epoch) publish(ctx context.Context, out batcher.Out) error {
	payload, err := events.Encode(out.Batch)
	if err != nil {
		return failure.WithCode(failure.CodeInternal, err)
	}
	msg := message.NewMessage(watermill.NewUUID(), payload)
	msg.SetContext(ctx)
	for k, v := range out.Metadata() {
		msg.Metadata.Set(k, v)
	}
	if err := e.t.deps.Publisher.Publish(e.t.cfg.Topic, msg); err != nil {
		return err
	}
	n := uint64(len(out.Batch.Records))
	e.mmu.Lock()
	e.emitted += n
	var pos source.Position
	found := false
	for len(e.marks) > 0 && e.marks[0].added <= e.emitted {
		pos, found = e.marks[0].pos, true
		e.marks = e.marks[1:]
	}
	e.mmu.Unlock()
	e.t.update(func(s *Status) { s.Batches++; s.Records += n; s.AckedPos = out.Batch.Pos })
	if !found {
		return nil
	}
	return e.checkpoint(pos, out.Batch.Pos)
}

func (e *epoch) checkpoint(pos source.Position, acked events.Position) error {
	rec := store.SourcePosition{Sync: e.t.cfg.Sync, Shard: e.t.ref, Epoch: pos.Epoch, Leader: pos.Leader,
		SnapshotTick: pos.SnapshotTick, Phase: store.PhaseInitialSync}
	if pos.Phase == source.PhaseTailing {
		rec.Phase = store.PhaseTailing
		rec.Tick = min(pos.Tick, acked.Tick)
		if rec.Tick == pos.Tick {
			rec.LastScanned = pos.LastScanned
		}
	}
	if err := e.t.deps.Store.Put(rec); err != nil {
		return err
	}
	e.t.update(func(s *Status) { s.AckedTick = rec.Tick })
	return nil
}

// runEpoch runs one epoch (resumed or new) until it ends.
func (t *Task) runEpoch(ctx context.Context, start source.Start, resume bool, resyncs <-chan ctl.Resync) error {
	ep := &epoch{t: t, start: start, lastEmit: time.Now(), lastRecTick: start.Tick}
	stream := batcher.Stream{Sync: t.cfg.Sync, Shard: t.cfg.Shard.Ref, Collection: t.cfg.Shard.Collection, Leader: start.Leader, Epoch: start.Epoch}
	if resume {
		stream.Start = events.Position{Epoch: start.Epoch, Tick: start.Tick}
		ep.lastPos = source.Position{Epoch: start.Epoch, Leader: start.Leader, Phase: source.PhaseTailing, Tick: start.Tick, LastScanned: start.LastScanned}
		ep.havePos = true
	}
	b, err := batcher.New(t.cfg.Batch, stream, ep.publish)
	if err != nil {
		return failure.WithCode(failure.CodeConfigInvalid, err)
	}
	ep.b = b
	t.update(func(s *Status) { s.Epoch, s.Leader = start.Epoch, start.Leader })

	var target source.Target
	if t.deps.Listener != nil && !resume {
		target = &RemoteTarget{ep: ep}
	}
	src, err := source.New(t.cfg.Source, t.cfg.Shard, start, t.deps.Dialer, t.deps.Leaders, target, ep)
	if err != nil {
		return err
	}

	bctx, bcancel := context.WithCancel(ctx)
	defer bcancel()
	bdone := make(chan error, 1)
	go func() { bdone <- b.Run(bctx) }()

	sctx, scancel := context.WithCancelCause(ctx)
	defer scancel(nil)
	sdone := make(chan error, 1)
	go func() { sdone <- src.Run(sctx) }()

	hb := time.NewTicker(t.cfg.HeartbeatInterval / 2)
	defer hb.Stop()
	var srcErr, bErr error
	bFinished := false
loop:
	for {
		select {
		case srcErr = <-sdone:
			break loop
		case bErr = <-bdone:
			// The batcher failed (a publish error): stop the source.
			bFinished = true
			scancel(bErr)
			srcErr = <-sdone
			break loop
		case r := <-resyncs:
			if r.Epoch >= start.Epoch {
				t.cfg.Logger.Info("send: resync request", "shard", t.ref, "epoch", r.Epoch, "reason", r.Reason, "detail", r.Detail)
				scancel(errResync)
				srcErr = <-sdone
				if srcErr == nil || errors.Is(srcErr, context.Canceled) {
					srcErr = errResync
				}
				break loop
			}
		case <-hb.C:
			if err := ep.heartbeat(sctx); err != nil && sctx.Err() == nil {
				t.cfg.Logger.Debug("send: heartbeat", "shard", t.ref, "err", err)
			}
		}
	}
	if !bFinished {
		// Let everything emitted be published and acknowledged.
		b.Close()
		bErr = <-bdone
	}
	if bErr != nil && !errors.Is(bErr, context.Canceled) {
		return bErr
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(srcErr, context.Canceled) {
		if c := context.Cause(sctx); c != nil && !errors.Is(c, context.Canceled) {
			return c
		}
	}
	return srcErr
}
