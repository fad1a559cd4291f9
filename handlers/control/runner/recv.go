package runner

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/handlers/task/receive"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
)

// recvRun is the receive side of one target sync in this worker.
type recvRun struct {
	a      plan.Assignment
	cancel context.CancelFunc
	done   chan struct{}

	mu sync.Mutex
	rc *receive.Receiver
	// msgTimeout is the sync's latest message timeout (0 = not changed
	// since the assignment that started this run).
	msgTimeout time.Duration
}

// messageTimeout of an assignment, with plan's default.
func messageTimeout(a plan.Assignment) time.Duration {
	return plan.Sync{MessageTimeoutMillis: a.MessageTimeoutMillis}.MessageTimeout()
}

// setTimeout passes a changed message timeout to the running receive side
// (and to the next one this run starts).
func (r *recvRun) setTimeout(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgTimeout = d
	if r.rc != nil {
		r.rc.SetMessageTimeout(d)
	}
}

// timeout is the message timeout a new receive side of this run starts with.
func (r *recvRun) timeout(def time.Duration) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.msgTimeout > 0 {
		return r.msgTimeout
	}
	return def
}

func (s *recvRun) set(f func(*recvRun)) {
	s.mu.Lock()
	f(s)
	s.mu.Unlock()
}

// Syncs tells the runner the active syncs of its datacenter (the
// heartbeat's answer). For every target sync that is running or stopping
// it runs one receive side (a member of the consumer group
// dc2dc.<sync>.apply); a receive side whose sync disappeared or is no
// longer active is stopped, and one whose topic prefix changed is
// restarted. The list also gives the topic prefix of the syncs the send
// tasks serve (role source).
func (r *Runner) Syncs(_ context.Context, epoch uint64, syncs []plan.Assignment) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.syncs = make(map[string]plan.Assignment, len(syncs))
	want := map[string]plan.Assignment{}
	for _, a := range syncs {
		r.syncs[a.Sync] = a
		if a.Role == plan.RoleTarget && a.State.Active() {
			want[a.Sync] = a
		}
	}
	for id, run := range r.recvs {
		a, ok := want[id]
		if ok && a.TopicPrefix == run.a.TopicPrefix {
			run.setTimeout(messageTimeout(a))
			continue
		}
		reason := "sync no longer active here"
		if ok {
			reason = "topic prefix changed"
		}
		r.log.Info("runner: stopping the receive side", "sync", id, "reason", reason, "leader_epoch", epoch)
		run.cancel()
		delete(r.recvs, id)
	}
	if r.closed {
		return
	}
	ids := make([]string, 0, len(want))
	for id := range want {
		if _, ok := r.recvs[id]; !ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		r.startRecvLocked(want[id], epoch)
	}
}

// startRecvLocked starts a receive side; it begins once the sync's
// previous receive side in this worker (if any) has stopped.
func (r *Runner) startRecvLocked(a plan.Assignment, epoch uint64) {
	ctx, cancel := context.WithCancel(r.ctx)
	run := &recvRun{a: a, cancel: cancel, done: make(chan struct{})}
	key := a.Sync
	prev := r.lastRecv[key]
	r.lastRecv[key] = run
	r.recvs[a.Sync] = run
	r.log.Info("runner: starting the receive side", "sync", a.Sync, "leader_epoch", epoch, "message_timeout_ms", a.MessageTimeoutMillis)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer cancel()
		defer close(run.done)
		defer func() {
			r.mu.Lock()
			if r.lastRecv[key] == run {
				delete(r.lastRecv, key)
			}
			r.mu.Unlock()
		}()
		if prev != nil {
			select {
			case <-prev.done:
			case <-ctx.Done():
				return
			}
		}
		r.runRecv(ctx, run)
	}()
}

// runRecv runs the receive side until ctx ends, starting it again (with
// backoff) when it ends with an error.
func (r *Runner) runRecv(ctx context.Context, run *recvRun) {
	a := run.a
	topics, err := kafka.TopicsFor(a.TopicPrefix, a.Sync)
	if err != nil {
		r.log.Error("runner: the sync's topics are invalid: no receive side", "sync", a.Sync, "err", err)
		<-ctx.Done()
		return
	}
	for n := 1; ; n++ {
		if err := r.waitTopics(ctx, "the receive side of sync "+a.Sync, nil, topics.Data, topics.CtlDown); err != nil {
			return
		}
		err := r.receiveOnce(ctx, run, topics)
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("runner: the receive side ended; restarting", "sync", a.Sync, "err", err, "attempt", n)
		if !sleep(ctx, r.backoff(n)) {
			return
		}
	}
}

func (r *Runner) receiveOnce(ctx context.Context, run *recvRun, topics kafka.Topics) error {
	st := r.store()
	if st == nil {
		return fmt.Errorf("runner: no checkpoint store (UseStore was not called)")
	}
	conn, err := r.targetConn()
	if err != nil {
		return err
	}
	pub, _, err := r.publishers()
	if err != nil {
		return err
	}
	cfg := r.cfg.Receive
	cfg.Sync, cfg.Kafka, cfg.Topics = run.a.Sync, r.cfg.Kafka, topics
	cfg.MessageTimeout = run.timeout(messageTimeout(run.a))
	cfg.Kafka.Consumer.Group = "" // the default: dc2dc.<sync>.apply
	cfg.Logger = r.log.With("sync", run.a.Sync, "task", "receive")
	if cfg.MeterProvider == nil {
		cfg.MeterProvider = r.cfg.MeterProvider
	}
	if cfg.TracerProvider == nil {
		cfg.TracerProvider = r.cfg.TracerProvider
	}
	rc, err := receive.New(cfg, receive.Deps{Conn: conn, Store: st, Publisher: pub})
	if err != nil {
		return err
	}
	run.set(func(s *recvRun) { s.rc = rc })
	return rc.Run(ctx)
}

// ShardReports implements worker.Runner: the receive side's view of every
// shard it applied, per active target sync.
func (r *Runner) ShardReports() []plan.ShardReport {
	r.mu.Lock()
	runs := make([]*recvRun, 0, len(r.recvs))
	for _, run := range r.recvs {
		runs = append(runs, run)
	}
	r.mu.Unlock()
	var out []plan.ShardReport
	for _, run := range runs {
		run.mu.Lock()
		rc, sync := run.rc, run.a.Sync
		run.mu.Unlock()
		if rc == nil {
			continue
		}
		for _, s := range rc.Status() {
			out = append(out, shardReport(sync, s))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Sync != out[j].Sync {
			return out[i].Sync < out[j].Sync
		}
		return out[i].Shard < out[j].Shard
	})
	return out
}

// shardReport maps the receive side's status of a shard.
func shardReport(sync string, s receive.ShardStatus) plan.ShardReport {
	rep := plan.ShardReport{Sync: sync, Shard: s.Shard, Phase: s.Phase, Applied: s.Applied,
		LagSeconds: s.LagSeconds, LagTicks: s.LagTicks, LastApplied: s.LastBatchAt,
		SnapshotMode: s.SnapshotMode, SnapshotDocs: s.SnapshotDocs, SnapshotTotal: s.SnapshotTotal}
	if s.LastError != "" && time.Since(s.LastErrorAt) < recentError {
		rep.Error = s.LastError
	}
	if rep.Phase == "" && s.Messages > 0 {
		// Every message of the shard since this receive side started was
		// a replay Dedupe skipped (B has it): e.g. the heartbeats of an idle
		// shard whose sender resumed from its checkpoint number their
		// batches from Sub 1 again, below what B applied. The receive side
		// names a shard "tailing" once a batch gets past Dedupe; caught up
		// is what this is too.
		rep.Phase = "tailing"
	}
	rep.ErrorCode = codeIn(rep.Error)
	return rep
}
