package plan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/control/registry"
	"github.com/dc2dc/dc2dc/handlers/control/state"
	"github.com/dc2dc/dc2dc/pipeline/failure"
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
}

func newSourceRun(s *session, id, prefix string) *sourceRun {
	return &sourceRun{s: s, id: id, prefix: prefix, checks: make(chan CheckRequest, 8), resetsDone: map[string]bool{},
		results: map[string]*CheckResult{}}
}

func (r *sourceRun) log() *slogger { return &slogger{r.s.m, "sync", r.id, "role", RoleSource} }

// TaskID names the send-shard task of a shard of a sync.
func TaskID(sync, shard string) string { return "send:" + sync + ":" + shard }

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

// release makes the cluster writable again when this session made it
// read-only (the session ends: a new leader decides again).
func (r *sourceRun) release() {
	r.mu.Lock()
	ro := r.readOnly
	r.mu.Unlock()
	if ro {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.setMode(ctx, false); err != nil {
			r.log().Error("cannot make the cluster writable again after losing the leadership", "err", err)
		}
	}
}

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
		if rec.State.Active() {
			want.State, want.EnsureInSync, want.StopDeadline = StateStopping, st.EnsureInSync, st.StopDeadline
		}
	case StateStopped, StateAborted:
		if rec.State.Active() {
			want.State, want.EnsureInSync, want.StopDeadline = st.State, false, time.Time{}
		}
	}
	if st.MessageTimeoutMillis != rec.MessageTimeoutMillis {
		want.MessageTimeoutMillis = st.MessageTimeoutMillis
	}
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

// syncTasks lists the registry's send tasks of this sync.
func (r *sourceRun) syncTasks() []registry.Task {
	var out []registry.Task
	for _, t := range r.s.deps.Registry.Tasks() {
		if t.Sync == r.id && t.Kind == registry.KindSendShard {
			out = append(out, t)
		}
	}
	return out
}

// removeTasks removes the sync's tasks (of one shard when shard != "").
func (r *sourceRun) removeTasks(shard string) {
	for _, t := range r.syncTasks() {
		if shard == "" || t.Shard == shard {
			r.s.deps.Registry.RemoveTask(t.ID)
		}
	}
}

// tasks puts one send task per shard of every collection B reported ready
// and A still has, and removes the others. Nothing happens before the
// first topology (never remove on ignorance).
func (r *sourceRun) tasks(st *SyncState) {
	w := r.s.watcher()
	if w == nil {
		return
	}
	topo := w.Current()
	if topo == nil {
		return
	}
	ready := map[string]bool{}
	for _, k := range st.Ready {
		ready[k] = true
	}
	want := map[string]registry.Task{}
	users := usersOf(topo)
	for _, db := range topo.DatabaseNames() {
		for _, c := range topo.Databases[db].Collections {
			isUsers := r.s.m.cfg.ReplicateUsers && users != nil && db == "_system" && c.ID == users.ID
			if !ready[db+"/"+c.ID] || (!isUsers && (db == "_system" || !replicated(c))) {
				continue
			}
			for _, sh := range c.Shards {
				ref := events.ShardRef{Database: db, CollectionID: c.ID, Index: sh.Index}
				id := TaskID(r.id, ref.String())
				want[id] = registry.Task{ID: id, Kind: registry.KindSendShard, Sync: r.id, Shard: ref.String(),
					Collection: c.Name, ShardName: sh.Name, ShardLeader: sh.Leader}
			}
		}
	}
	for _, t := range r.syncTasks() {
		if _, ok := want[t.ID]; !ok {
			r.s.deps.Registry.RemoveTask(t.ID)
			r.log().Info("send task removed", "task", t.ID)
		}
	}
	have := map[string]bool{}
	for _, t := range r.syncTasks() {
		have[t.ID] = true
		if w, ok := want[t.ID]; ok && (w.Collection != t.Collection || w.ShardName != t.ShardName) {
			// renamed in A (the registry keeps a task's names): the task
			// goes on under the next generation with the new names
			next := t
			next.Collection, next.ShardName, next.ShardLeader = w.Collection, w.ShardName, w.ShardLeader
			next.Generation++
			r.s.deps.Registry.RemoveTask(t.ID)
			if err := r.s.deps.Registry.PutTask(next); err != nil {
				r.log().Error("cannot update a send task", "task", t.ID, "err", err)
			}
			r.log().Info("send task follows a rename", "task", t.ID, "from", t.Collection, "to", w.Collection)
		}
	}
	for id, t := range want {
		if err := r.s.deps.Registry.PutTask(t); err != nil {
			r.log().Error("invalid send task", "task", id, "err", err)
		} else if !have[id] {
			r.log().Info("send task added", "task", id, "leader", t.ShardLeader)
		}
	}
}

// replicated reports whether dc2dc replicates a collection of A.
func replicated(c *client.Collection) bool {
	return !c.IsSystem && !strings.HasPrefix(c.Name, "_")
}

// resets applies B's reset-failed-shard requests (each id once per
// session): the shard's stream epoch counter is raised (so the worker's
// checkpoint is of a superseded epoch and the task starts a new epoch with
// a snapshot) and the task is put back unassigned under the next
// generation, pending, with nothing acked: its worker stops the old run
// and the scheduler assigns the new one.
func (r *sourceRun) resets(ctx context.Context, st *SyncState) {
	for _, rs := range st.Resets {
		r.mu.Lock()
		done := r.resetsDone[rs.ID]
		r.mu.Unlock()
		if done {
			continue
		}
		for _, t := range r.syncTasks() {
			if t.Shard != rs.Shard {
				continue
			}
			if err := BumpEpochCounter(ctx, r.s.deps.Store.Docs(), r.id, t.Shard); err != nil {
				r.log().Warn("cannot raise the shard's epoch counter for the reset; retrying", "shard", t.Shard, "err", err)
				return
			}
			r.s.deps.Registry.RemoveTask(t.ID)
			fresh := registry.Task{ID: t.ID, Kind: t.Kind, Sync: t.Sync, Shard: t.Shard, Collection: t.Collection, ShardName: t.ShardName,
				ShardLeader: t.ShardLeader, Generation: t.Generation + 1}
			if err := r.s.deps.Registry.PutTask(fresh); err != nil {
				r.log().Error("cannot put the reset task back", "task", t.ID, "err", err)
			}
			r.log().Info("shard reset requested by the target: its send task starts over in a new epoch", "shard", t.Shard)
		}
		r.mu.Lock()
		r.resetsDone[rs.ID] = true
		r.mu.Unlock()
	}
}

// BumpEpochCounter raises the stream epoch counter of a shard (the
// document handlers/control/runner.Epochs keeps in the local _dc2dc under
// "epoch-" + hex(sha256(sync NUL shard)[:16]); the format is duplicated
// here because runner imports this package). No counter yet: nothing to do.
func BumpEpochCounter(ctx context.Context, docs *state.Docs, sync, shard string) error {
	h := sha256.Sum256([]byte(sync + "\x00" + shard))
	key := "epoch-" + hex.EncodeToString(h[:16])
	for attempt := 0; attempt < 10; attempt++ {
		d, err := docs.Get(ctx, key)
		if errors.Is(err, state.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var doc map[string]any
		if err := json.Unmarshal(d.Body, &doc); err != nil {
			return err
		}
		var cur struct {
			Epoch uint64 `json:"epoch"`
		}
		_ = json.Unmarshal(d.Body, &cur)
		for k := range doc {
			if strings.HasPrefix(k, "_") {
				delete(doc, k)
			}
		}
		doc["epoch"] = cur.Epoch + 1
		doc["updatedAt"] = time.Now().UTC()
		_, err = docs.Replace(ctx, key, d.Rev, doc)
		if errors.Is(err, state.ErrConflict) {
			continue
		}
		return err
	}
	return failure.Retryable(fmt.Errorf("epoch counter of %s: compare-and-set lost 10 times", shard))
}

func (r *sourceRun) isReadOnly() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.readOnly
}

// setMode puts the cluster into read-only (true) or default mode.
func (r *sourceRun) setMode(ctx context.Context, readOnly bool) error {
	mode := "default"
	if readOnly {
		mode = "readonly"
	}
	_, err := r.s.deps.Cluster.Coordinator().Do(ctx, client.Request{Method: http.MethodPut, Path: "_admin/server/mode",
		Body: []byte(`{"mode":"` + mode + `"}`), What: "server mode"}, http.StatusOK)
	return err
}

func (r *sourceRun) writable(ctx context.Context) {
	if err := r.setMode(ctx, false); err != nil {
		r.log().Warn("cannot make the cluster writable again; retrying", "err", err)
		return
	}
	r.mu.Lock()
	r.readOnly, r.stop, r.releaseAt = false, nil, time.Time{}
	r.mu.Unlock()
	r.log().Info("the cluster is writable again")
}

// drain: read-only, then each shard's count and root hash at a snapshot
// taken after that moment (final: nothing changes any more) and where each
// send task stands; B stops once its partner shards hold the same.
func (r *sourceRun) drain(ctx context.Context) {
	r.mu.Lock()
	ro, p := r.readOnly, r.stop
	r.mu.Unlock()
	if !ro {
		if err := r.setMode(ctx, true); err != nil {
			r.log().Warn("cannot make the cluster read-only for the stop; retrying", "err", err)
			r.mu.Lock()
			r.stop = &StopProgress{Error: "cannot make the source read-only: " + err.Error()}
			r.mu.Unlock()
			return
		}
		r.log().Info("the cluster is read-only until the target holds everything")
		p = &StopProgress{ReadOnly: true}
		r.mu.Lock()
		r.readOnly, r.stop = true, p
		r.mu.Unlock()
	}
	if p != nil && p.Drained {
		return
	}
	res := r.computeCheck(ctx, "stop")
	np := &StopProgress{ReadOnly: true, Drained: true, Final: map[string]events.Position{}, Shards: res.Shards}
	for _, sc := range res.Shards {
		if sc.Error != "" {
			np = &StopProgress{ReadOnly: true, Error: sc.Error}
			break
		}
		np.Final[sc.Shard] = sc.Acked
	}
	if np.Drained {
		r.log().Info("drained: the final state of every shard is known", "shards", len(np.Shards))
	}
	r.mu.Lock()
	r.stop = np
	r.mu.Unlock()
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
