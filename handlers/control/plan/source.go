package plan

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/registry"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
)

// sourceRun is A's side of one sync: found through its ctl.down topic,
// recorded on the first valid sync-state.
type sourceRun struct {
	s      *session
	id     string
	prefix string
	checks chan CheckRequest

	mu         sync.Mutex
	st         *SyncState
	stStamp    Stamp
	peerEpoch  uint64
	peerSeen   time.Time
	peerFrom   string
	seq        uint64
	lastHash   string
	lastInv    time.Time
	lastStop   string
	topicsOK   bool
	readOnly   bool      // this session made the cluster read-only
	releaseAt  time.Time // when to make it writable after the stop
	stop       *StopProgress
	resetsDone map[string]bool
	results    map[string]*CheckResult
	search     map[string]searchObjects // per database, cached
	searchAt   time.Time
}

type searchObjects struct {
	analyzers, views []byte // JSON arrays
	options          *InvDatabaseOptions
}

func newSourceRun(s *session, id, prefix string) *sourceRun {
	return &sourceRun{s: s, id: id, prefix: prefix, checks: make(chan CheckRequest, 8), resetsDone: map[string]bool{},
		results: map[string]*CheckResult{}}
}

func (r *sourceRun) log() *slogger { return &slogger{r.s.m, "sync", r.id, "role", RoleSource} }

func (r *sourceRun) onMessage(m Message) {
	if m.Sync != r.id {
		return
	}
	if st := m.SyncState; st != nil && st.SourceDC != "" && r.s.m.cfg.DC != "" && !strings.EqualFold(st.SourceDC, r.s.m.cfg.DC) {
		return // a sync that follows another datacenter
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.Epoch < r.peerEpoch {
		return
	}
	r.peerEpoch, r.peerSeen, r.peerFrom = m.Epoch, time.Now(), m.From
	switch {
	case m.SyncState != nil:
		st := Stamp{m.Epoch, m.SyncState.Seq}
		if r.stStamp.Less(st) {
			r.st, r.stStamp = m.SyncState, st
		}
	case m.CheckRequest != nil:
		select {
		case r.checks <- *m.CheckRequest:
		default:
		}
	}
}

func (r *sourceRun) step(ctx context.Context, topics kafka.Topics) {
	r.mu.Lock()
	st, from := r.st, r.peerFrom
	r.mu.Unlock()
	rec, ok := r.s.sync(r.id)
	if !ok {
		if st == nil || st.State != StateRunning {
			return
		}
		if err := r.record(ctx, st, from); err != nil {
			r.log().Warn("cannot record the new sync; retrying", "err", err)
			return
		}
		r.log().Info("a new sync follows this datacenter", "peer", from, "partitions", st.DataPartitions)
		rec, _ = r.s.sync(r.id)
	} else if st != nil {
		rec = r.follow(ctx, rec, st)
	}
	if !rec.State.Active() {
		r.removeTasks("")
		if r.isReadOnly() {
			// The workers stop their tasks at their next heartbeat: only
			// then may users write again, or a write could still travel.
			r.mu.Lock()
			if r.releaseAt.IsZero() {
				r.releaseAt = time.Now().Add(r.s.m.cfg.ReleaseGrace)
			}
			at := r.releaseAt
			r.mu.Unlock()
			if time.Now().After(at) {
				r.writable(ctx)
			}
		}
		if time.Since(rec.UpdatedAt) < r.s.m.cfg.InactiveStateFor {
			r.publishInventory(ctx, rec, topics) // B learns the state (and that A lives)
		}
		return
	}
	if !r.ensureTopics(ctx, rec, topics) {
		return
	}
	if st != nil {
		r.resets(ctx, st)
		r.tasks(st)
	}
	if rec.State == StateStopping && rec.EnsureInSync {
		r.drain(ctx)
	} else if r.isReadOnly() {
		r.writable(ctx)
	}
	r.publishInventory(ctx, rec, topics)
}

// record adds the source record of a newly discovered sync.
func (r *sourceRun) record(ctx context.Context, st *SyncState, from string) error {
	prefix := r.prefix
	if prefix == kafka.DefaultTopicPrefix {
		prefix = ""
	}
	return r.s.updateSyncs(ctx, func(list []Sync) ([]Sync, error) {
		for _, sy := range list {
			if sy.ID == r.id {
				return list, nil
			}
		}
		now := time.Now().UTC()
		sy := Sync{ID: r.id, Role: RoleSource, Peer: from, State: StateRunning, TopicPrefix: prefix, DataPartitions: st.DataPartitions,
			MessageTimeoutMillis: st.MessageTimeoutMillis, Incarnation: st.Incarnation, CreatedAt: now, UpdatedAt: now}
		if err := sy.Validate(); err != nil {
			return nil, err
		}
		return append(list, sy), nil
	})
}

// follow makes the source record follow B's state.
func (r *sourceRun) follow(ctx context.Context, rec Sync, st *SyncState) Sync {
	return r.changeTo(ctx, rec, following(rec, st))
}

// following is the source record that follows B's state st.
func following(rec Sync, st *SyncState) Sync {
	want := rec
	sameInc := st.Incarnation == rec.Incarnation
	switch st.State {
	case StateRunning:
		switch {
		case !rec.State.Active() && !sameInc:
			// configured anew after a stop or abort
			want.State, want.Incarnation, want.Error, want.DataPartitions = StateRunning, st.Incarnation, "", st.DataPartitions
		case !rec.State.Active():
			// stopped or aborted here (abort outgoing sync) while B runs
			// the same incarnation: stays so
		case rec.State == StateStopping:
			want.State, want.EnsureInSync, want.StopDeadline = StateRunning, false, time.Time{}
		}
		if rec.State.Active() {
			want.Incarnation = st.Incarnation
		}
	case StateStopping:
		switch {
		case rec.State.Active():
			want.State, want.EnsureInSync, want.StopDeadline = StateStopping, st.EnsureInSync, st.StopDeadline
		case !sameInc && st.EnsureInSync && time.Now().Before(st.StopDeadline):
			// Configured anew and already being stopped before this side
			// saw it run (its leader was away, e.g. paused, for the whole
			// running state): it must run to deliver what the stop waits
			// for, so it joins the stop with the new incarnation. (Not a
			// stop past its deadline: a stale state a mirror delivers
			// late; nor one without ensure-in-sync, which waits for
			// nothing here.)
			want.State, want.Incarnation, want.Error, want.DataPartitions = StateStopping, st.Incarnation, "", st.DataPartitions
			want.EnsureInSync, want.StopDeadline = st.EnsureInSync, st.StopDeadline
		}
	case StateStopped, StateAborted:
		if rec.State.Active() {
			want.State, want.EnsureInSync, want.StopDeadline = st.State, false, time.Time{}
		}
	}
	if st.MessageTimeoutMillis != rec.MessageTimeoutMillis {
		want.MessageTimeoutMillis = st.MessageTimeoutMillis
	}
	return want
}

// changeTo stores want as the sync's record when it differs from rec, and
// returns the record that holds afterwards.
func (r *sourceRun) changeTo(ctx context.Context, rec, want Sync) Sync {
	if want == rec {
		return rec
	}
	err := r.s.changeSync(ctx, r.id, func(sy *Sync) error {
		sy.State, sy.Incarnation, sy.Error, sy.DataPartitions = want.State, want.Incarnation, want.Error, want.DataPartitions
		sy.EnsureInSync, sy.StopDeadline, sy.MessageTimeoutMillis = want.EnsureInSync, want.StopDeadline, want.MessageTimeoutMillis
		return nil
	})
	if err != nil {
		r.log().Warn("cannot follow the target's state; retrying", "err", err)
		return rec
	}
	if want.State != rec.State {
		r.log().Info("sync state follows the target", "from", rec.State, "to", want.State)
		if want.State == StateRunning {
			r.mu.Lock()
			r.topicsOK = false
			r.mu.Unlock()
		}
	}
	nrec, _ := r.s.sync(r.id)
	return nrec
}

func (r *sourceRun) ensureTopics(ctx context.Context, rec Sync, topics kafka.Topics) bool {
	r.mu.Lock()
	ok := r.topicsOK
	r.mu.Unlock()
	if ok {
		return true
	}
	err := kafka.EnsureTopics(ctx, r.s.m.cfg.Kafka, []kafka.TopicSpec{{Name: topics.Data, Partitions: int32(rec.Partitions())},
		{Name: topics.CtlUp, Partitions: 1}, {Name: topics.Poison, Partitions: 1}})
	if err != nil {
		if ctx.Err() == nil {
			r.log().Warn("cannot create the sync's topics in this datacenter's Kafka; retrying", "err", err)
		}
		return false
	}
	r.mu.Lock()
	r.topicsOK = true
	r.mu.Unlock()
	return true
}

// sourceReports are the send tasks' states for the inventory.
func (r *sourceRun) sourceReports() []SourceReport {
	tasks := r.syncTasks()
	out := make([]SourceReport, 0, len(tasks))
	for _, t := range tasks {
		db, _, _ := strings.Cut(t.Shard, "/")
		out = append(out, SourceReport{Shard: t.Shard, Collection: db + "/" + t.Collection, SourceShard: sourceShard(t)})
	}
	return out
}

func sourceShard(t registry.Task) SourceShard {
	return SourceShard{Worker: t.Worker, Phase: string(t.Phase), StreamEpoch: t.StreamEpoch, Acked: t.Acked,
		LeaderTick: t.LeaderTick, Leader: t.ShardLeader, Error: t.Error, UpdatedAt: t.UpdatedAt}
}

// peer returns when B was last heard of.
func (r *sourceRun) peer() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.peerSeen
}

func (r *sourceRun) publishInventory(ctx context.Context, rec Sync, topics kafka.Topics) {
	w := r.s.watcher()
	if w == nil {
		return
	}
	topo := w.Current()
	if topo == nil {
		return
	}
	dbs, err := r.inventory(ctx, topo)
	if err != nil {
		if ctx.Err() == nil {
			r.log().Warn("cannot read this cluster's inventory", "err", err)
		}
		return
	}
	hash := hashOf(dbs)
	r.mu.Lock()
	stopSig := ""
	if rec.State == StateStopping && r.stop != nil {
		stopSig = fmt.Sprintf("%v/%v/%d/%s", r.stop.ReadOnly, r.stop.Drained, len(r.stop.Shards), r.stop.Error)
	}
	due := hash != r.lastHash || stopSig != r.lastStop || time.Since(r.lastInv) >= r.s.m.cfg.InventoryInterval
	if !due {
		r.mu.Unlock()
		return
	}
	r.seq++
	inv := &Inventory{Seq: r.seq, Hash: hash, State: rec.State, Databases: dbs, Sources: r.sourceReports()}
	if r.s.m.cfg.ReplicateUsers {
		inv.Users = usersOf(topo)
	}
	if rec.State == StateStopping && r.stop != nil {
		cp := *r.stop
		inv.Stop = &cp
	}
	r.mu.Unlock()
	if err := r.s.publish(topics.CtlUp, Message{Type: TypeInventory, Sync: r.id, Inventory: inv}); err != nil {
		if ctx.Err() == nil {
			r.log().Warn("cannot publish the inventory", "err", err)
		}
		return
	}
	r.mu.Lock()
	r.lastHash, r.lastInv, r.lastStop = hash, time.Now(), stopSig
	r.mu.Unlock()
}

// checkResult returns a cached result.
func (r *sourceRun) checkResult(id string) *CheckResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.results[id]
}

// statusShards is the source side's status: one shard per send task, with
// the target's view from B's last sync-state.
func (r *sourceRun) statusShards() []ShardStatus {
	tasks := r.syncTasks()
	r.mu.Lock()
	st := r.st
	r.mu.Unlock()
	tgt := map[string]ShardReport{}
	if st != nil {
		for _, rep := range st.Shards {
			tgt[rep.Shard] = rep
		}
	}
	out := make([]ShardStatus, 0, len(tasks))
	for _, t := range tasks {
		db, _, _ := strings.Cut(t.Shard, "/")
		rep := tgt[t.Shard]
		ss := ShardStatus{Shard: t.Shard, Collection: db + "/" + t.Collection, ShardName: t.ShardName, Phase: string(t.Phase),
			Source: sourceShard(t), Target: rep, Error: t.Error, LagSeconds: rep.LagSeconds, LastDataChange: rep.LastApplied}
		if rep.Applied.Epoch == t.Acked.Epoch && t.Acked.Tick > rep.Applied.Tick {
			ss.LagTicks = t.Acked.Tick - rep.Applied.Tick
		}
		out = append(out, ss)
	}
	slices.SortFunc(out, func(a, b ShardStatus) int {
		return strings.Compare(a.Collection+"\x00"+a.Shard, b.Collection+"\x00"+b.Shard)
	})
	return out
}

func (r *sourceRun) run(ctx context.Context) {
	topics, err := kafka.TopicsFor(r.prefix, r.id)
	if err != nil {
		return
	}
	r.s.go_(func(ctx context.Context) { r.s.consume(ctx, topics.CtlDown, r.onMessage) })
	r.s.go_(func(ctx context.Context) { r.checker(ctx, topics) })
	tick := time.NewTicker(min(time.Second, r.s.m.cfg.StateInterval))
	defer tick.Stop()
	for {
		r.step(ctx, topics)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
