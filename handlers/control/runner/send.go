package runner

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/control/registry"
	"github.com/dc2dc/dc2dc/handlers/source"
	"github.com/dc2dc/dc2dc/handlers/task/ctl"
	"github.com/dc2dc/dc2dc/handlers/task/send"
	"github.com/dc2dc/dc2dc/pipeline/failure"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
	"github.com/dc2dc/dc2dc/store"
)

// sendRun is one run of a send-shard task under one generation.
type sendRun struct {
	task   registry.Task
	key    string // sync/shard
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	t       *send.Task
	waiting string // what the run waits for before its task runs
	err     error  // how the task ended (nil: stopped or dropped)
	ended   bool
}

func (s *sendRun) set(f func(*sendRun)) {
	s.mu.Lock()
	f(s)
	s.mu.Unlock()
}

// sourceSide is what the send tasks of one sync share: the sync's topics
// and the ctl.down listener of this worker. It lives while tasks use it.
type sourceSide struct {
	sync   string
	topics kafka.Topics
	users  int
	cancel context.CancelFunc
	ready  chan struct{} // topics exist and the listener subscribed

	mu      sync.Mutex
	waiting string
	listen  *ctl.Listener
	epochs  *Epochs
}

func (s *sourceSide) setWaiting(msg string) {
	s.mu.Lock()
	s.waiting = msg
	s.mu.Unlock()
}

func (s *sourceSide) status() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting
}

// Assign implements worker.Runner: it makes the running send-shard tasks
// exactly tasks. A task no longer listed, or listed with another
// generation, is stopped (cancelled at once); its successor for the same
// shard starts only after the stopped run's goroutine ended. Tasks of
// other kinds are ignored (the receive side comes with Syncs).
func (r *Runner) Assign(_ context.Context, epoch uint64, tasks []registry.Task) {
	want := make(map[string]registry.Task, len(tasks))
	for _, t := range tasks {
		if t.Kind == registry.KindSendShard {
			want[t.ID] = t
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, run := range r.sends {
		t, ok := want[id]
		if ok && t.Generation == run.task.Generation && sameDefinition(t, run.task) {
			continue
		}
		reason := "no longer assigned"
		if ok {
			reason = fmt.Sprintf("generation %d → %d", run.task.Generation, t.Generation)
		}
		r.log.Info("runner: stopping send task", "task", id, "shard", run.key, "reason", reason, "leader_epoch", epoch)
		run.cancel()
		delete(r.sends, id)
	}
	if r.closed {
		return
	}
	ids := make([]string, 0, len(want))
	for id := range want {
		if _, ok := r.sends[id]; !ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		r.startSendLocked(want[id], epoch)
	}
}

// sameDefinition: the fields a running task depends on are unchanged.
func sameDefinition(a, b registry.Task) bool {
	return a.Sync == b.Sync && a.Shard == b.Shard && a.Collection == b.Collection && a.ShardName == b.ShardName
}

func (r *Runner) startSendLocked(t registry.Task, epoch uint64) {
	ctx, cancel := context.WithCancel(r.ctx)
	run := &sendRun{task: t, key: t.Sync + "/" + t.Shard, cancel: cancel, done: make(chan struct{})}
	prev := r.lastRun[run.key]
	r.lastRun[run.key] = run
	r.sends[t.ID] = run
	r.log.Info("runner: starting send task", "task", t.ID, "sync", t.Sync, "shard", t.Shard, "generation", t.Generation, "leader_epoch", epoch)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer cancel()
		defer close(run.done)
		defer func() {
			r.mu.Lock()
			if r.lastRun[run.key] == run {
				delete(r.lastRun, run.key)
			}
			r.mu.Unlock()
		}()
		err := r.runSend(ctx, run, prev)
		if err != nil && ctx.Err() == nil {
			r.log.Error("runner: send task failed (it stays failed until reassigned, e.g. reset failed shard)", "task", t.ID, "shard", t.Shard, "err", err)
		}
		run.set(func(s *sendRun) { s.err, s.ended, s.waiting = err, true, "" })
	}()
}

// runSend waits for the previous run of the shard, the sync's topics and
// listener, then runs the send task until ctx ends or it ends itself.
func (r *Runner) runSend(ctx context.Context, run *sendRun, prev *sendRun) error {
	if prev != nil {
		run.set(func(s *sendRun) { s.waiting = "waiting for the previous run of the shard to stop" })
		select {
		case <-prev.done:
		case <-ctx.Done():
			return nil
		}
	}
	t := run.task
	if t.Sync == "" {
		return failure.WithCode(failure.CodeConfigInvalid, fmt.Errorf("send task %s has no sync id: the leader master's task record is incomplete", t.ID))
	}
	ref, err := t.ShardRef()
	if err != nil {
		return failure.WithCode(failure.CodeConfigInvalid, fmt.Errorf("send task %s: %w", t.ID, err))
	}
	st := r.store()
	if st == nil {
		return failure.WithCode(failure.CodeInternal, errors.New("runner: no checkpoint store (UseStore was not called)"))
	}
	side, err := r.acquireSource(t.Sync)
	if err != nil {
		return err
	}
	defer r.releaseSource(side)
	r.startWatch()
	if !waitSide(ctx, side, run) {
		return nil
	}
	_, pub, err := r.publishers()
	for n := 1; err != nil; n++ {
		run.set(func(s *sendRun) { s.waiting = "cannot create the Kafka publisher: " + err.Error() })
		r.log.Warn("runner: cannot create the Kafka publisher; retrying", "err", err)
		if !sleep(ctx, r.backoff(n)) {
			return nil
		}
		_, pub, err = r.publishers()
	}
	shard, err := r.shardOf(t, ref)
	for n := 1; err != nil; n++ {
		if failure.CodeOf(err) == failure.CodeSourceShardMissing {
			return err
		}
		// The shard map could not be read (the cluster is unreachable):
		// not the task's fault.
		run.set(func(s *sendRun) { s.waiting = "cannot read the local cluster's shard map: " + err.Error() })
		r.log.Warn("runner: cannot read the local cluster's shard map; retrying", "task", t.ID, "err", err)
		if !sleep(ctx, r.backoff(n)) {
			return nil
		}
		shard, err = r.shardOf(t, ref)
	}
	if !r.dropStale(ctx, run, side.epochs, st) {
		return nil
	}
	cfg := r.cfg.Send
	cfg.Sync, cfg.Shard, cfg.Topic = t.Sync, shard, side.topics.Data
	cfg.Logger = r.log.With("task", t.ID, "shard", t.Shard)
	h := fnv.New64a()
	_, _ = h.Write([]byte(t.Sync + "/" + t.Shard))
	cfg.Source.SyncerID = 1 + h.Sum64()%(1<<40)
	if cfg.Source.ServerID == 0 {
		cfg.Source.ServerID = 4242
	}
	cfg.Source.ClientInfo = "dc2dc worker " + r.cfg.WorkerID + " " + t.Shard
	cfg.Source.Logger = cfg.Logger
	side.mu.Lock()
	deps := send.Deps{Store: st, Epochs: side.epochs, Publisher: pub, Dialer: r.cl, Leaders: r.watch, Metrics: r.sendMet, Listener: side.listen}
	side.mu.Unlock()
	task, err := send.New(cfg, deps)
	if err != nil {
		return err
	}
	run.set(func(s *sendRun) { s.t, s.waiting = task, "" })
	return task.Run(ctx)
}

// dropStale makes sure the task does not resume a checkpoint of an epoch
// another worker has superseded since (the task moved away and came
// back): such a checkpoint is reset to "initial sync" (keeping its epoch
// and leader), so the task starts a new epoch. It retries reading the
// counter until ctx ends (false).
func (r *Runner) dropStale(ctx context.Context, run *sendRun, ep *Epochs, st *store.Store) bool {
	t := run.task
	for n := 1; ; n++ {
		stale, local, current, err := ep.Stale(ctx, st, t.Shard)
		if err == nil && !stale {
			return true
		}
		if err == nil {
			r.log.Info("runner: the worker's checkpoint of the shard is of a superseded epoch (the task ran elsewhere meanwhile): starting a new epoch",
				"task", t.ID, "shard", t.Shard, "checkpoint_epoch", local, "counter", current)
			pos, gerr := st.Source(t.Sync, t.Shard)
			if gerr == nil {
				err = st.Reset(store.SourcePosition{Sync: t.Sync, Shard: t.Shard, Epoch: pos.Epoch, Leader: pos.Leader, Phase: store.PhaseInitialSync})
			} else {
				err = gerr
			}
			if err == nil {
				return true
			}
		}
		run.set(func(s *sendRun) { s.waiting = "cannot check the shard's epoch counter: " + err.Error() })
		r.log.Warn("runner: cannot check the shard's epoch counter; retrying", "task", t.ID, "err", err)
		if !sleep(ctx, r.backoff(n)) {
			return false
		}
	}
}

// waitSide waits until the sync's topics exist and its listener runs,
// showing what it waits for in the run's report; false when ctx ended.
func waitSide(ctx context.Context, side *sourceSide, run *sendRun) bool {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-side.ready:
			run.set(func(s *sendRun) { s.waiting = "" })
			return true
		case <-ctx.Done():
			return false
		case <-tick.C:
			w := side.status()
			run.set(func(s *sendRun) { s.waiting = w })
		}
	}
}

// shardOf completes the task's shard from the shard map when the task
// record lacks the collection or shard name.
func (r *Runner) shardOf(t registry.Task, ref events.ShardRef) (source.Shard, error) {
	coll := strings.TrimPrefix(t.Collection, ref.Database+"/")
	sh := source.Shard{Ref: ref, Collection: coll, Name: t.ShardName, Leader: t.ShardLeader}
	if sh.Name != "" && sh.Collection != "" {
		return sh, nil
	}
	if err := r.watch.Poll(r.ctx); err != nil && r.watch.Current() == nil {
		return sh, err
	}
	if topo := r.watch.Current(); topo != nil {
		if d, ok := topo.Databases[ref.Database]; ok {
			for _, c := range d.Collections {
				if c.ID == ref.CollectionID && ref.Index < len(c.Shards) {
					s := c.Shards[ref.Index]
					if sh.Collection == "" {
						sh.Collection = c.Name
					}
					if sh.Name == "" {
						sh.Name = s.Name
					}
					if sh.Leader == "" {
						sh.Leader = s.Leader
					}
					return sh, nil
				}
			}
		}
	}
	return sh, failure.WithCode(failure.CodeSourceShardMissing, fmt.Errorf("send task %s: shard %s is not in the local cluster's shard map and the task names no shard", t.ID, t.Shard))
}

// acquireSource returns the sync's shared source side, starting it.
func (r *Runner) acquireSource(sync string) (*sourceSide, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.sources[sync]; ok {
		s.users++
		return s, nil
	}
	topics, err := kafka.TopicsFor(r.syncs[sync].TopicPrefix, sync)
	if err != nil {
		return nil, failure.WithCode(failure.CodeConfigInvalid, err)
	}
	lk := r.cfg.Kafka
	lk.Consumer.Group = kafka.DefaultTopicPrefix + "." + sync + ".ctl." + r.cfg.WorkerID
	listen, err := ctl.NewListener(ctl.ListenerConfig{Kafka: lk, Topic: topics.CtlDown, Logger: r.log.With("sync", sync, "ctl", "down")})
	if err != nil {
		return nil, failure.WithCode(failure.CodeConfigInvalid, err)
	}
	ctx, cancel := context.WithCancel(r.ctx)
	s := &sourceSide{sync: sync, topics: topics, users: 1, cancel: cancel, ready: make(chan struct{}), listen: listen,
		epochs: &Epochs{Docs: r.docs, Sync: sync, Worker: r.cfg.WorkerID, Floor: r.st}}
	r.sources[sync] = s
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.runSource(ctx, s)
	}()
	return s, nil
}

// releaseSource stops the sync's source side when its last task ended.
func (r *Runner) releaseSource(s *sourceSide) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.users--
	if s.users == 0 {
		s.cancel()
		if r.sources[s.sync] == s {
			delete(r.sources, s.sync)
		}
	}
}

// runSource waits for the sync's topics, then runs the ctl.down listener
// (restarted after errors) until ctx ends.
func (r *Runner) runSource(ctx context.Context, s *sourceSide) {
	if err := r.waitTopics(ctx, "send tasks of sync "+s.sync, s.setWaiting, s.topics.Data, s.topics.CtlDown); err != nil {
		return
	}
	s.setWaiting("waiting for the ctl.down listener to subscribe")
	readyDone := make(chan struct{})
	go func() {
		defer close(readyDone)
		select {
		case <-s.listen.Ready():
			s.setWaiting("")
			close(s.ready)
		case <-ctx.Done():
		}
	}()
	defer func() { <-readyDone }()
	for n := 1; ; n++ {
		err := s.listen.Run(ctx)
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("runner: the ctl.down listener ended; restarting", "sync", s.sync, "err", err)
		if !sleep(ctx, r.backoff(n)) {
			return
		}
	}
}

// Reports implements worker.Runner: one report per assigned send task.
func (r *Runner) Reports() []registry.Report {
	r.mu.Lock()
	runs := make([]*sendRun, 0, len(r.sends))
	for _, run := range r.sends {
		runs = append(runs, run)
	}
	r.mu.Unlock()
	out := make([]registry.Report, 0, len(runs))
	for _, run := range runs {
		out = append(out, run.report())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TaskID < out[j].TaskID })
	return out
}

func (s *sendRun) report() registry.Report {
	s.mu.Lock()
	t, waiting, err, ended := s.t, s.waiting, s.err, s.ended
	s.mu.Unlock()
	rep := registry.Report{TaskID: s.task.ID, Generation: s.task.Generation, Phase: registry.PhasePending, Error: waiting}
	if t != nil {
		st := t.Status()
		rep.Phase = sendPhase(st.Phase)
		if st.Phase == "starting" && st.Epoch > 0 && st.Epochs == 0 {
			// Resumed a tailing checkpoint and nothing new came since
			// (the send task names its phase with the first records).
			rep.Phase = registry.PhaseRunning
		}
		rep.StreamEpoch, rep.Acked, rep.LeaderTick = st.Epoch, st.AckedPos, st.LeaderTick
		if st.LastError != "" && (st.Phase == "failed" || time.Since(st.LastErrorAt) < recentError) {
			rep.Error = st.LastError
		}
	}
	if ended {
		switch {
		case err != nil:
			rep.Phase, rep.Error, rep.ErrorCode = registry.PhaseFailed, err.Error(), string(failure.CodeOf(err))
		case rep.Phase != registry.PhaseFailed:
			rep.Phase = registry.PhaseStopped
		}
	}
	if rep.ErrorCode == "" && rep.Error != "" {
		rep.ErrorCode = codeIn(rep.Error)
	}
	return rep
}

// sendPhase maps a send task's phase to the registry's.
func sendPhase(p string) registry.Phase {
	switch p {
	case "snapshot":
		return registry.PhaseInitialSync
	case "tailing":
		return registry.PhaseRunning
	case "failed":
		return registry.PhaseFailed
	case "done":
		return registry.PhaseStopped
	default: // "starting"
		return registry.PhasePending
	}
}
