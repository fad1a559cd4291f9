package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/handlers/control/registry"
	"github.com/dc2dc/dc2dc/tests/harness"
)

// fault is one kind of failure the suite injects. inject breaks something
// (and waits as long as the fault lasts: a new leader's election, an
// outage's duration) and returns the function that repairs it; the runner
// calls restore whatever happened, then its own safety net (restoreAll).
type fault struct {
	name string
	// what the fault does, for the table's legend.
	what string
	// bounded lists the phases in which the bounded matrix (go test
	// without DC2DC_CHAOS=full) runs the fault.
	bounded []phase
	// na names the phases where the fault does not apply, with the reason
	// the table shows ("n/a: reason").
	na map[phase]string
	// bug names the phases where the run is skipped because it exposes a
	// known bug of dc2dc, with the bug (the table shows it as SKIP).
	bug    map[phase]string
	inject func(r *run) (restore func() error, err error)
}

// faults is the catalogue, in the order of the table. Faults named after a
// datacenter hit that datacenter whatever its role: in the switchover phase
// B is the source and A the target; the mirror faults hit the mirror of
// the direction that carries the data (the reverse one, B → A, in the
// switchover).
func faults() []fault {
	return []fault{
		{name: "kill-leader-master-a", what: "kill -9 of A's leader master; restarted once a new leader is elected",
			bounded: []phase{phaseTailing}, inject: killLeaderMaster("A")},
		{name: "kill-leader-master-b", what: "kill -9 of B's leader master; restarted once a new leader is elected",
			bounded: []phase{phaseSwitchover}, inject: killLeaderMaster("B")},
		{name: "kill-follower-master-a", what: "kill -9 of a follower master of A; restarted at once",
			inject: killFollowerMaster("A")},
		{name: "kill-follower-master-b", what: "kill -9 of a follower master of B; restarted at once",
			inject: killFollowerMaster("B")},
		{name: "kill-worker-a", what: "kill -9 of the worker of A with the most (initial-sync) tasks; restarted once the master saw it die",
			bounded: []phase{phaseInitial}, inject: killWorker("A")},
		{name: "kill-worker-b", what: "kill -9 of a worker of B that applies shards (sends them in the switchover); restarted once the master saw it die",
			bounded: []phase{phaseStop}, inject: killWorker("B")},
		{name: "kill-mirror", what: "kill -9 of the mirror (the reverse one in the switchover); restarted at once",
			bounded: []phase{phaseTailing}, inject: killMirror},
		{name: "kill-kafka-a", what: "kill -9 of Kafka A's broker; restarted on the same port and data directory",
			inject: killKafka("A")},
		{name: "kill-kafka-b", what: "kill -9 of Kafka B's broker; restarted on the same port and data directory",
			bounded: []phase{phaseTailing}, inject: killKafka("B")},
		{name: "dbserver-failover-a", what: "the DB-Server leading a written shard of A stops (its shards fail over), restarted after the hold",
			bounded: []phase{phaseTailing}, inject: dbserverFailover},
		{name: "leader-move-a", what: "moveShard of a written shard of A from its leader to its follower",
			bounded: []phase{phaseTailing}, inject: leaderMove},
		{name: "mirror-down", what: "the mirror (the reverse one in the switchover) stopped for the outage (60 s; 10 s bounded), then started again",
			bounded: []phase{phaseTailing}, inject: mirrorDown},
		{name: "wal-pruned-a", what: "the WAL of a shard leader in A pruned past its tailers (tail requests held 2 s, pruned to the last tick)",
			bounded: []phase{phaseTailing}, inject: walPruned("A"),
			na: map[phase]string{phaseSwitchover: "A is the target in the switchover: no task tails A's WAL, so pruning it reaches nothing (wal-pruned-b prunes the source's)"}},
		{name: "wal-pruned-b", what: "the WAL of a shard leader in B, the source in the switchover, pruned past its tailers (as wal-pruned-a)",
			inject: walPruned("B"),
			na: map[phase]string{
				phaseInitial: "B is the target before the switchover: no task tails B's WAL (wal-pruned-a prunes the source's)",
				phaseTailing: "B is the target before the switchover: no task tails B's WAL (wal-pruned-a prunes the source's)",
				phaseStop:    "B is the target before the switchover: no task tails B's WAL (wal-pruned-a prunes the source's)",
			}},
		{name: "b-503-latency", what: "B's Coordinator answers 503 to document and transaction requests and delays the rest by 250 ms for the hold",
			bounded: []phase{phaseTailing}, inject: b503Latency},
		{name: "pause-leader-master-a", what: "SIGSTOP of A's leader master until another leads and twice its lease passed (split brain: it wakes believing it leads), then SIGCONT; one leader afterwards",
			bounded: []phase{phaseTailing}, inject: pauseLeaderMaster("A")},
		{name: "pause-leader-master-b", what: "SIGSTOP of B's leader master until another leads and twice its lease passed, then SIGCONT; one leader afterwards",
			inject: pauseLeaderMaster("B")},
		{name: "pause-worker-a", what: "SIGSTOP of the worker of A with the most tasks until its master saw it die (its tasks move; at least the pause), then SIGCONT",
			inject: pauseWorker("A")},
		{name: "pause-worker-b", what: "SIGSTOP of a worker of B that applies shards (sends them in the switchover), longer than its Kafka session (3 s) and until its master saw it die, then SIGCONT: its partitions moved, it must not apply stale batches",
			inject: pauseWorker("B")},
		{name: "pause-mirror", what: "SIGSTOP of the mirror (the reverse one in the switchover) for the pause, longer than its session timeout (3 s), then SIGCONT",
			inject: pauseMirror},
	}
}

func (r *run) dc(name string) *harness.DC {
	if name == "A" {
		return r.s.top.A
	}
	return r.s.top.B
}

func killLeaderMaster(dcName string) func(r *run) (func() error, error) {
	return func(r *run) (func() error, error) {
		dc := r.dc(dcName)
		old, epoch, err := currentLeader(dc)
		if err != nil {
			return nil, err
		}
		r.involve(old.Proc)
		old.Kill9()
		killed := time.Now()
		restore := func() error { return old.RestartWait(60 * time.Second) }
		l, e, err := newLeader(dc, old, epoch, "killed")
		if err != nil {
			return restore, fmt.Errorf("no new leader in %s: %w", dcName, err)
		}
		r.involve(l.Proc)
		r.notef("%s: %s (epoch %d) killed, %s leads (epoch %d) after %v", dcName, old.ID, epoch, l.ID, e,
			time.Since(killed).Round(100*time.Millisecond))
		return restore, nil
	}
}

func killFollowerMaster(dcName string) func(r *run) (func() error, error) {
	return func(r *run) (func() error, error) {
		dc := r.dc(dcName)
		ctx, cancel := ctxFor(5 * time.Second)
		defer cancel()
		l, _, err := dc.Leader(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s's leader: %w", dcName, err)
		}
		for _, m := range dc.Masters {
			if m != l && m.Running() {
				r.involve(m.Proc, l.Proc)
				m.Kill9()
				r.notef("%s: follower %s killed (leader %s)", dcName, m.ID, l.ID)
				return func() error { return m.RestartWait(60 * time.Second) }, nil
			}
		}
		return nil, fmt.Errorf("%s has no running follower master", dcName)
	}
}

// victimWorker picks the worker of dc with the most tasks of the sync (in
// the initial-sync phase: in initial sync) in the source; in the target,
// the worker the status names for the most shards.
func (r *run) victimWorker(dc *harness.DC) *harness.Member {
	count := map[string]int{}
	if dc != r.s.target() {
		if ts, err := r.s.tasks(r.t, dc); err == nil {
			for _, tk := range ts {
				if tk.Worker == "" || tk.Sync != r.s.curSync() {
					continue
				}
				w := 1
				if r.phase == phaseInitial && tk.Phase == registry.PhaseInitialSync {
					w = 1000
				}
				count[tk.Worker] += w
			}
		}
	} else if st, err := r.s.status(dc); err == nil {
		for _, sh := range st.Shards {
			if sh.Target.Worker == "" {
				continue
			}
			w := 1
			if r.phase == phaseInitial && sh.Phase == plan.ShardInitialSync {
				w = 1000
			}
			count[sh.Target.Worker] += w
		}
	}
	ids := make([]string, 0, len(count))
	for id := range count {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		return count[ids[i]] > count[ids[j]] || count[ids[i]] == count[ids[j]] && ids[i] < ids[j]
	})
	for _, id := range ids {
		for _, w := range dc.Workers {
			if w.ID == id && w.Running() {
				return w
			}
		}
	}
	r.notef("%s: no worker named by the tasks or status; the first one is killed", dc.Name)
	return dc.Workers[0]
}

func killWorker(dcName string) func(r *run) (func() error, error) {
	return func(r *run) (func() error, error) {
		dc := r.dc(dcName)
		w := r.victimWorker(dc)
		r.involve(w.Proc)
		if l, _, err := dc.Leader(context.Background()); err == nil {
			r.involve(l.Proc)
		}
		w.Kill9()
		killed := time.Now()
		restore := func() error { return w.RestartWait(60 * time.Second) }
		// Let the master notice (its tasks move, its partitions rebalance)
		// before the worker comes back.
		cl := dc.Client(r.t)
		defer cl.Close()
		err := poll(20*time.Second, 200*time.Millisecond, func() (bool, string) {
			ctx, cancel := ctxFor(3 * time.Second)
			defer cancel()
			ws, err := cl.Workers(ctx)
			if err != nil {
				return false, err.Error()
			}
			for _, x := range ws.Workers {
				if x.ID == w.ID && x.Alive {
					return false, w.ID + " is still alive for the master"
				}
			}
			return true, ""
		})
		if err != nil {
			r.notef("%s: the master did not mark %s dead: %v", dcName, w.ID, err)
		} else {
			r.notef("%s: %s killed, dead for the master after %v", dcName, w.ID, time.Since(killed).Round(100*time.Millisecond))
		}
		return restore, nil
	}
}

// mirror is the mirror of the direction the phase replicates: the reverse
// one (B → A) in the switchover.
func (r *run) mirror() *harness.Proc {
	if r.phase == phaseSwitchover && r.s.rev != nil {
		return r.s.rev
	}
	return r.s.top.Mirror
}

func killMirror(r *run) (func() error, error) {
	m := r.mirror()
	r.involve(m)
	m.Kill9()
	return func() error { return m.RestartWait(60 * time.Second) }, nil
}

func killKafka(dcName string) func(r *run) (func() error, error) {
	return func(r *run) (func() error, error) {
		k := r.dc(dcName).Kafka
		r.involve(k.Proc, r.mirror())
		k.Kill9()
		return func() error { return k.RestartWait(60 * time.Second) }, nil
	}
}

func mirrorDown(r *run) (func() error, error) {
	m := r.mirror()
	r.involve(m)
	if err := m.Stop(10 * time.Second); err != nil {
		r.notef("mirror stop: %v", err)
	}
	restore := func() error { return m.RestartWait(60 * time.Second) }
	r.hold(r.s.opts.mirrorDown)
	return restore, nil
}

// writtenShard picks a shard of A the phase writes to: one of the bulk
// collection in the initial sync (its snapshot is under way), one of
// shop/orders otherwise.
func (r *run) writtenShard() (shardPlace, error) { return r.writtenShardIn(r.s.a, "A") }

// writtenShardIn picks a shard of the collection the load writes in the
// phase, with a leader and a follower, in the cluster s of datacenter dc.
func (r *run) writtenShardIn(s *sim, dc string) (shardPlace, error) {
	coll := "orders"
	if r.phase == phaseInitial {
		coll = bulkCollection
	}
	ctx, cancel := ctxFor(10 * time.Second)
	defer cancel()
	shards, err := s.shardsOf(ctx, "shop", coll)
	if err != nil {
		return shardPlace{}, err
	}
	for _, sh := range shards {
		if sh.leader != "" && len(sh.followers) > 0 {
			return sh, nil
		}
	}
	return shardPlace{}, fmt.Errorf("no shard of shop/%s in %s has a leader and a follower: %+v", coll, dc, shards)
}

func (r *run) involveWorkers(dc *harness.DC) {
	for _, w := range dc.Workers {
		r.involve(w.Proc)
	}
}

func dbserverFailover(r *run) (func() error, error) {
	sh, err := r.writtenShard()
	if err != nil {
		return nil, err
	}
	r.involve(r.s.top.A.Sim)
	r.involveWorkers(r.s.top.A)
	ctx, cancel := ctxFor(10 * time.Second)
	defer cancel()
	if err := r.s.a.stopServer(ctx, sh.leader); err != nil {
		return nil, err
	}
	r.notef("A: %s (leader of %s/%s %s) stopped for %v", sh.leader, sh.db, sh.coll, sh.shard, r.s.opts.hold)
	restore := func() error {
		ctx, cancel := ctxFor(60 * time.Second)
		defer cancel()
		if err := r.s.a.restartServer(ctx, sh.leader); err != nil {
			return err
		}
		return poll(30*time.Second, 200*time.Millisecond, func() (bool, string) { return r.s.a.allGood(ctx) })
	}
	r.hold(r.s.opts.hold)
	return restore, nil
}

func leaderMove(r *run) (func() error, error) {
	sh, err := r.writtenShard()
	if err != nil {
		return nil, err
	}
	r.involve(r.s.top.A.Sim)
	r.involveWorkers(r.s.top.A)
	ctx, cancel := ctxFor(30 * time.Second)
	defer cancel()
	to := sh.followers[0]
	if err := r.s.a.moveShard(ctx, sh.db, sh.coll, sh.shard, sh.leader, to); err != nil {
		return nil, err
	}
	r.notef("A: %s/%s %s moved from %s to %s", sh.db, sh.coll, sh.shard, sh.leader, to)
	return nil, nil
}

// walPruned prunes the WAL of a written shard's leader in datacenter
// dcName (the source of the phase) past its tailers.
func walPruned(dcName string) func(r *run) (func() error, error) {
	return func(r *run) (func() error, error) {
		a := r.s.a
		if dcName == "B" {
			a = r.s.b
		}
		return pruneUnderTailers(r, a, r.dc(dcName), dcName)
	}
}

func pruneUnderTailers(r *run, a *sim, dc *harness.DC, dcName string) (func() error, error) {
	sh, err := r.writtenShardIn(a, dcName)
	if err != nil {
		return nil, err
	}
	r.involve(dc.Sim)
	r.involveWorkers(dc)
	ctx, cancel := ctxFor(30 * time.Second)
	defer cancel()
	// Hold the tail requests on the leader so its tailers fall behind the
	// writes, then prune the WAL up to its last tick under them.
	if err := a.injectFault(ctx, sh.leader, simFault{PathPrefix: "/_api/wal/tail", LatencyMs: 2000, DurationMs: 2500}); err != nil {
		return nil, err
	}
	restore := func() error {
		ctx, cancel := ctxFor(10 * time.Second)
		defer cancel()
		return a.clearFaults(ctx, sh.leader)
	}
	r.hold(time.Second)
	tick, err := a.lastTick(ctx, sh.leader)
	if err != nil {
		return restore, err
	}
	if err := a.pruneWAL(ctx, sh.leader, tick); err != nil {
		return restore, err
	}
	r.notef("%s: WAL of %s (leader of %s/%s %s) pruned up to tick %d", dcName, sh.leader, sh.db, sh.coll, sh.shard, tick)
	return restore, nil
}

func b503Latency(r *run) (func() error, error) {
	b := r.s.b
	r.involve(r.s.top.B.Sim)
	r.involveWorkers(r.s.top.B)
	for _, m := range r.s.top.B.Masters {
		r.involve(m.Proc)
	}
	ms := int(r.s.opts.hold / time.Millisecond)
	ctx, cancel := ctxFor(10 * time.Second)
	defer cancel()
	restore := func() error {
		ctx, cancel := ctxFor(10 * time.Second)
		defer cancel()
		return b.clearFaults(ctx, coordinatorID)
	}
	// The first matching fault applies: 503 for writes, latency for the rest.
	for _, f := range []simFault{
		{PathPrefix: "/_api/document", Status: 503, DurationMs: ms},
		{PathPrefix: "/_api/transaction", Status: 503, DurationMs: ms},
		{PathPrefix: "/", LatencyMs: 250, DurationMs: ms},
	} {
		if err := b.injectFault(ctx, coordinatorID, f); err != nil {
			return restore, err
		}
	}
	r.hold(r.s.opts.hold)
	return restore, nil
}

// restoreAll is the runner's safety net after every run: every process of
// the topology runs, no arangosim fault is left, every DB-Server is up.
// It returns what it had to repair and what it could not.
func (s *session) restoreAll() (repaired []string, err error) {
	var errs []error
	// A paused process first: a pause fault that failed half-way must not
	// leave a process stopped for the next run (or for a restart below,
	// which would find it running).
	resumed, e := harness.ResumeAll(append(s.top.Procs(), s.rev)...)
	for _, name := range resumed {
		repaired = append(repaired, "resumed "+name)
	}
	if e != nil {
		errs = append(errs, e)
	}
	for _, dc := range []*harness.DC{s.top.A, s.top.B} {
		for _, m := range slices.Concat(dc.Masters, dc.Workers) {
			if !m.Running() {
				repaired = append(repaired, "restarted "+m.ID)
				if e := m.RestartWait(60 * time.Second); e != nil {
					errs = append(errs, e)
				}
			}
		}
		if !dc.Kafka.Running() {
			repaired = append(repaired, "restarted kafka "+dc.Name)
			if e := dc.Kafka.RestartWait(60 * time.Second); e != nil {
				errs = append(errs, e)
			}
		}
		if !dc.Sim.Running() {
			// arangosim keeps its data in memory: the session is lost.
			errs = append(errs, fmt.Errorf("arangosim of %s is not running: the session cannot continue", dc.Name))
		}
	}
	if !s.top.Mirror.Running() {
		repaired = append(repaired, "restarted the mirror")
		if e := s.top.Mirror.RestartWait(60 * time.Second); e != nil {
			errs = append(errs, e)
		}
	}
	if s.rev != nil && !s.rev.Running() {
		repaired = append(repaired, "restarted the reverse mirror")
		if e := s.rev.RestartWait(60 * time.Second); e != nil {
			errs = append(errs, e)
		}
	}
	for _, sm := range []*sim{s.a, s.b} {
		ctx, cancel := ctxFor(30 * time.Second)
		if e := sm.clearFaults(ctx, coordinatorID); e != nil {
			errs = append(errs, e)
		}
		h, e := sm.cl.Health(ctx)
		if e != nil {
			errs = append(errs, e)
		}
		for id, sv := range h {
			if sv.Role != "DBServer" {
				continue
			}
			if sv.Failed() {
				repaired = append(repaired, fmt.Sprintf("restarted DB-Server %s of %s", id, sm.dc.Name))
				if e := sm.restartServer(ctx, id); e != nil {
					errs = append(errs, e)
				}
			}
			if e := sm.clearFaults(ctx, id); e != nil {
				errs = append(errs, e)
			}
		}
		cancel()
	}
	return repaired, errors.Join(errs...)
}
