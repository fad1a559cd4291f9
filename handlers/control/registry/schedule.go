package registry

import (
	"sort"
	"time"
)

// Schedule runs one scheduling pass at time now: it takes the tasks of dead
// or unknown workers away, assigns unassigned tasks and restores the
// balance. It returns the moves it made (empty when nothing changed).
func (r *Registry) Schedule(now time.Time) []Move {
	r.mu.Lock()
	defer r.mu.Unlock()

	var live []*worker
	for _, w := range r.workers {
		if r.aliveLocked(w, now) {
			live = append(live, w)
		}
	}
	sort.Slice(live, func(i, j int) bool { return live[i].info.ID < live[j].info.ID })
	byID := make(map[string]*worker, len(live))
	for _, w := range live {
		byID[w.info.ID] = w
	}
	ids := make([]string, 0, len(r.tasks))
	for id := range r.tasks {
		ids = append(ids, id)
	}
	sort.Strings(ids)

	held := map[string][]*Task{} // worker id → its tasks (in id order)
	var moves []Move
	var free []*Task
	for _, id := range ids {
		t := r.tasks[id]
		if t.Worker != "" {
			if _, ok := byID[t.Worker]; ok {
				held[t.Worker] = append(held[t.Worker], t)
				continue
			}
			moves = append(moves, Move{TaskID: t.ID, From: t.Worker, Reason: "worker dead or gone"})
			t.Worker = ""
		}
		free = append(free, t)
	}
	full := func(w *worker) bool { return w.info.Capacity > 0 && len(held[w.info.ID]) >= w.info.Capacity }
	// A worker over its (lowered) capacity gives tasks back.
	for _, w := range live {
		for w.info.Capacity > 0 && len(held[w.info.ID]) > w.info.Capacity {
			ts := held[w.info.ID]
			t := ts[len(ts)-1]
			held[w.info.ID] = ts[:len(ts)-1]
			moves = append(moves, Move{TaskID: t.ID, From: w.info.ID, Reason: "over capacity"})
			t.Worker = ""
			free = append(free, t)
		}
	}
	assign := func(t *Task, to *worker, reason string) {
		from := t.Worker
		t.Worker = to.info.ID
		t.Generation++
		t.LeaderEpoch = r.epoch
		t.UpdatedAt = now
		held[to.info.ID] = append(held[to.info.ID], t)
		// Merge with an earlier "unassigned" move of the same task.
		for i := range moves {
			if moves[i].TaskID == t.ID && moves[i].To == "" {
				moves[i].To, moves[i].Generation, moves[i].Reason = to.info.ID, t.Generation, moves[i].Reason+", "+reason
				return
			}
		}
		moves = append(moves, Move{TaskID: t.ID, From: from, To: to.info.ID, Generation: t.Generation, Reason: reason})
	}

	// Assign the free tasks: an affine worker while it is below the fair
	// share, else the least loaded worker with room.
	total := 0
	for _, ts := range held {
		total += len(ts)
	}
	total += len(free)
	sort.Slice(free, func(i, j int) bool { return free[i].ID < free[j].ID })
	for _, t := range free {
		if len(live) == 0 {
			break
		}
		share := (total + len(live) - 1) / len(live)
		var best *worker
		if t.Kind == KindSendShard && t.ShardLeader != "" {
			for _, w := range live {
				if w.info.DBServer == t.ShardLeader && !full(w) && len(held[w.info.ID]) < share &&
					(best == nil || len(held[w.info.ID]) < len(held[best.info.ID])) {
					best = w
				}
			}
		}
		if best == nil {
			best = leastLoaded(live, held, full)
		}
		if best == nil {
			break // every live worker is full
		}
		assign(t, best, "assigned")
	}

	// Restore the balance: move from the most to the least loaded worker
	// with room while they differ by more than one.
	for len(live) > 1 {
		lo := leastLoaded(live, held, full)
		if lo == nil {
			break
		}
		var hi *worker
		for _, w := range live {
			if hi == nil || len(held[w.info.ID]) > len(held[hi.info.ID]) {
				hi = w
			}
		}
		if len(held[hi.info.ID]) <= len(held[lo.info.ID])+1 {
			break
		}
		ts := held[hi.info.ID]
		pick := pickToMove(ts, hi, lo)
		t := ts[pick]
		held[hi.info.ID] = append(ts[:pick:pick], ts[pick+1:]...)
		assign(t, lo, "rebalanced")
	}
	return moves
}

// leastLoaded returns the live worker with room and the fewest tasks
// (ties: the lowest id), or nil when all are full.
func leastLoaded(live []*worker, held map[string][]*Task, full func(*worker) bool) *worker {
	var best *worker
	for _, w := range live {
		if full(w) {
			continue
		}
		if best == nil || len(held[w.info.ID]) < len(held[best.info.ID]) {
			best = w
		}
	}
	return best
}

// pickToMove chooses which of hi's tasks moves to lo: one affine to lo,
// else one not affine to hi, else the last one.
func pickToMove(ts []*Task, hi, lo *worker) int {
	affine := func(t *Task, w *worker) bool {
		return t.Kind == KindSendShard && t.ShardLeader != "" && t.ShardLeader == w.info.DBServer
	}
	for i, t := range ts {
		if affine(t, lo) {
			return i
		}
	}
	for i := len(ts) - 1; i >= 0; i-- {
		if !affine(ts[i], hi) {
			return i
		}
	}
	return len(ts) - 1
}
