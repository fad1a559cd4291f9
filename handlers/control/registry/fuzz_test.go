package registry_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/registry"
)

// FuzzScheduleInvariants drives a registry with an arbitrary sequence of
// registrations, heartbeats, silences, task changes and passes, and checks
// the package's invariants after every pass.
func FuzzScheduleInvariants(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Add([]byte{0, 0, 0, 1, 0, 2, 2, 0, 2, 1, 2, 2, 2, 3, 5, 40, 4, 0, 5, 1, 3, 3})
	f.Add([]byte("registry fuzz seed with many operations to try"))
	f.Fuzz(func(t *testing.T, ops []byte) {
		r, err := registry.New(registry.Config{DeadAfter: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		epoch := uint64(1)
		r.SetEpoch(epoch)
		now := time.Unix(1000, 0)
		prev := map[string]registry.Task{}
		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i]%8, ops[i+1]
			switch op {
			case 0: // register
				_ = r.Register(registry.WorkerInfo{ID: fmt.Sprintf("w%d", arg%6), DBServer: fmt.Sprintf("PRMR-%d", arg%3), Capacity: int(arg/6) % 4}, now)
			case 1: // heartbeat
				_ = r.Heartbeat(fmt.Sprintf("w%d", arg%6), now)
			case 2: // add a task
				kind := registry.KindSendShard
				if arg&0x80 != 0 {
					kind = registry.KindReceiveShard
				}
				id := arg % 24
				if err := r.PutTask(registry.Task{ID: fmt.Sprintf("t%02d", id), Kind: kind, Shard: fmt.Sprintf("db/1/%d", id), ShardLeader: fmt.Sprintf("PRMR-%d", arg%3)}); err != nil {
					t.Fatal(err)
				}
			case 3: // remove a task
				r.RemoveTask(fmt.Sprintf("t%02d", arg%24))
			case 4: // time passes
				now = now.Add(time.Duration(arg) * 50 * time.Millisecond)
			case 5: // unregister
				r.Unregister(fmt.Sprintf("w%d", arg%6))
			case 6: // new leader
				epoch++
				r.SetEpoch(epoch)
			case 7: // everyone alive heartbeats
				for _, w := range r.Workers(now) {
					if w.Alive {
						_ = r.Heartbeat(w.ID, now)
					}
				}
			}
			moves := r.Schedule(now)
			check(t, r, now, epoch, prev, moves)
			if again := r.Schedule(now); len(again) != 0 {
				t.Fatalf("op %d: a second pass moved %+v", i/2, again)
			}
			prev = map[string]registry.Task{}
			for _, tk := range r.Tasks() {
				prev[tk.ID] = tk
			}
		}
	})
}

func check(t *testing.T, r *registry.Registry, now time.Time, epoch uint64, prev map[string]registry.Task, moves []registry.Move) {
	t.Helper()
	ws := r.Workers(now)
	live := map[string]registry.Worker{}
	for _, w := range ws {
		if w.Alive {
			live[w.ID] = w
		}
	}
	load := map[string]int{}
	unassigned := 0
	moved := map[string]bool{}
	for _, m := range moves {
		if moved[m.TaskID] {
			t.Fatalf("task %s moved twice in one pass: %+v", m.TaskID, moves)
		}
		moved[m.TaskID] = true
	}
	for _, tk := range r.Tasks() {
		if tk.Worker == "" {
			unassigned++
		} else {
			if _, ok := live[tk.Worker]; !ok {
				t.Fatalf("task %s assigned to %s, which is not alive", tk.ID, tk.Worker)
			}
			load[tk.Worker]++
			if tk.LeaderEpoch != epoch {
				t.Fatalf("task %s carries epoch %d, leader epoch is %d", tk.ID, tk.LeaderEpoch, epoch)
			}
		}
		if p, ok := prev[tk.ID]; ok {
			switch {
			case tk.Generation < p.Generation:
				t.Fatalf("task %s generation went back %d → %d", tk.ID, p.Generation, tk.Generation)
			case tk.Worker != p.Worker && tk.Worker != "" && tk.Generation == p.Generation:
				t.Fatalf("task %s moved %s → %s without a new generation", tk.ID, p.Worker, tk.Worker)
			case tk.Worker != p.Worker && !moved[tk.ID]:
				t.Fatalf("task %s moved %s → %s without a reported move", tk.ID, p.Worker, tk.Worker)
			case tk.Worker == p.Worker && moved[tk.ID] && tk.Generation == p.Generation:
				t.Fatalf("task %s reported moved but stayed", tk.ID)
			}
			if p.Worker != "" && tk.Worker != p.Worker {
				if _, alive := live[p.Worker]; alive {
					// A move away from a live worker only for balance or capacity.
					for _, m := range moves {
						if m.TaskID == tk.ID && m.Reason == "worker dead or gone" {
							t.Fatalf("task %s taken from live worker %s as dead", tk.ID, p.Worker)
						}
					}
				}
			}
		}
	}
	full := func(w registry.Worker) bool { return w.Capacity > 0 && load[w.ID] >= w.Capacity }
	for _, w := range live {
		if w.Capacity > 0 && load[w.ID] > w.Capacity {
			t.Fatalf("worker %s holds %d tasks, capacity %d", w.ID, load[w.ID], w.Capacity)
		}
	}
	if unassigned > 0 {
		for _, w := range live {
			if !full(w) {
				t.Fatalf("%d tasks unassigned while worker %s has room (%d tasks, capacity %d)", unassigned, w.ID, load[w.ID], w.Capacity)
			}
		}
	}
	for _, a := range live {
		for _, b := range live {
			if load[a.ID] > load[b.ID]+1 && !full(b) {
				t.Fatalf("unbalanced: %s holds %d, %s holds %d and has room", a.ID, load[a.ID], b.ID, load[b.ID])
			}
		}
	}
}
