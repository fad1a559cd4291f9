package plan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/control/registry"
	"github.com/dc2dc/dc2dc/handlers/control/state"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// TaskID names the send-shard task of a shard of a sync.
func TaskID(sync, shard string) string { return "send:" + sync + ":" + shard }

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
