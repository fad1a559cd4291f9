package registry_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/control/registry"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newReg(t testing.TB) *registry.Registry {
	r, err := registry.New(registry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	r.SetEpoch(7)
	return r
}

func send(id, leader string) registry.Task {
	return registry.Task{ID: id, Kind: registry.KindSendShard, Shard: "shop/100/" + id[len(id)-1:], ShardLeader: leader}
}

func loads(r *registry.Registry, now time.Time) map[string]int {
	out := map[string]int{}
	for _, w := range r.Workers(now) {
		out[w.ID] = w.Tasks
	}
	return out
}

func TestScheduleTable(t *testing.T) {
	type step struct {
		at       time.Duration
		register []registry.WorkerInfo
		beat     []string
		tasks    []registry.Task
		want     map[string]string // task → worker after the pass ("" unassigned)
		wantMove int               // -1: don't check
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{name: "affinity to the shard leader's DB-Server", steps: []step{{
			register: []registry.WorkerInfo{{ID: "w1", DBServer: "PRMR-1"}, {ID: "w2", DBServer: "PRMR-2"}},
			tasks:    []registry.Task{send("t1", "PRMR-2"), send("t2", "PRMR-1"), send("t3", "PRMR-2"), send("t4", "PRMR-1")},
			want:     map[string]string{"t1": "w2", "t2": "w1", "t3": "w2", "t4": "w1"}, wantMove: 4,
		}}},
		{name: "balance wins over affinity", steps: []step{{
			register: []registry.WorkerInfo{{ID: "w1", DBServer: "PRMR-1"}, {ID: "w2", DBServer: "PRMR-2"}},
			tasks:    []registry.Task{send("t1", "PRMR-1"), send("t2", "PRMR-1"), send("t3", "PRMR-1"), send("t4", "PRMR-1")},
			want:     map[string]string{"t1": "w1", "t2": "w1", "t3": "w2", "t4": "w2"}, wantMove: 4,
		}}},
		{name: "dead worker's tasks move, the others stay", steps: []step{
			{register: []registry.WorkerInfo{{ID: "w1"}, {ID: "w2"}, {ID: "w3"}},
				tasks: []registry.Task{send("t1", ""), send("t2", ""), send("t3", ""), send("t4", ""), send("t5", ""), send("t6", "")},
				want:  map[string]string{"t1": "w1", "t2": "w2", "t3": "w3", "t4": "w1", "t5": "w2", "t6": "w3"}, wantMove: 6},
			{at: 2 * time.Second, beat: []string{"w1", "w2"}, want: map[string]string{"t1": "w1", "t2": "w2", "t3": "w3", "t4": "w1", "t5": "w2", "t6": "w3"}, wantMove: 0},
			{at: 3500 * time.Millisecond, beat: []string{"w1", "w2"}, want: map[string]string{"t1": "w1", "t2": "w2", "t3": "w1", "t4": "w1", "t5": "w2", "t6": "w2"}, wantMove: 2},
		}},
		{name: "a new worker gets its share, no more", steps: []step{
			{register: []registry.WorkerInfo{{ID: "w1"}},
				tasks: []registry.Task{send("t1", ""), send("t2", ""), send("t3", ""), send("t4", "")}, wantMove: 4,
				want: map[string]string{"t1": "w1", "t2": "w1", "t3": "w1", "t4": "w1"}},
			{at: time.Second, register: []registry.WorkerInfo{{ID: "w2"}}, beat: []string{"w1"}, wantMove: 2,
				want: map[string]string{"t1": "w1", "t2": "w1", "t3": "w2", "t4": "w2"}},
		}},
		{name: "capacity", steps: []step{{
			register: []registry.WorkerInfo{{ID: "w1", Capacity: 1}, {ID: "w2", Capacity: 2}},
			tasks:    []registry.Task{send("t1", ""), send("t2", ""), send("t3", ""), send("t4", "")},
			want:     map[string]string{"t1": "w1", "t2": "w2", "t3": "w2", "t4": ""}, wantMove: 3,
		}}},
		{name: "no workers", steps: []step{{
			tasks: []registry.Task{send("t1", "")}, want: map[string]string{"t1": ""}, wantMove: 0,
		}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newReg(t)
			for i, s := range tc.steps {
				now := t0.Add(s.at)
				for _, w := range s.register {
					if err := r.Register(w, now); err != nil {
						t.Fatal(err)
					}
				}
				for _, id := range s.beat {
					if err := r.Heartbeat(id, now); err != nil {
						t.Fatal(err)
					}
				}
				for _, tk := range s.tasks {
					if err := r.PutTask(tk); err != nil {
						t.Fatal(err)
					}
				}
				moves := r.Schedule(now)
				if s.wantMove >= 0 && len(moves) != s.wantMove {
					t.Errorf("step %d: %d moves %+v, want %d", i, len(moves), moves, s.wantMove)
				}
				got := map[string]string{}
				for _, tk := range r.Tasks() {
					got[tk.ID] = tk.Worker
					if tk.Worker != "" && tk.LeaderEpoch != 7 {
						t.Errorf("task %s epoch %d", tk.ID, tk.LeaderEpoch)
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(s.want) {
					t.Fatalf("step %d: assignment %v, want %v (loads %v)", i, got, s.want, loads(r, now))
				}
				if again := r.Schedule(now); len(again) != 0 {
					t.Fatalf("step %d: a second pass moved %+v", i, again)
				}
			}
		})
	}
}

func TestGenerationsAndReports(t *testing.T) {
	r := newReg(t)
	_ = r.Register(registry.WorkerInfo{ID: "w1"}, t0)
	_ = r.PutTask(send("t1", ""))
	r.Schedule(t0)
	tk := r.TasksOf("w1")[0]
	if tk.Generation != 1 || tk.LeaderEpoch != 7 {
		t.Fatalf("first assignment %+v", tk)
	}
	pos := events.Position{Epoch: 1, Tick: 100}
	if sup := r.Report("w1", []registry.Report{{TaskID: "t1", Generation: 1, Phase: registry.PhaseRunning, Acked: pos}}, t0); len(sup) != 0 {
		t.Fatalf("superseded %v", sup)
	}
	// w1 dies, w2 takes the task with generation 2.
	later := t0.Add(4 * time.Second)
	_ = r.Register(registry.WorkerInfo{ID: "w2"}, later)
	r.Schedule(later)
	tk = r.Tasks()[0]
	if tk.Worker != "w2" || tk.Generation != 2 || tk.Acked != pos || tk.Phase != registry.PhaseRunning {
		t.Fatalf("after the move %+v", tk)
	}
	// The stale worker's report is refused and names the task.
	if sup := r.Report("w1", []registry.Report{{TaskID: "t1", Generation: 1, Acked: events.Position{Epoch: 1, Tick: 200}}}, later); len(sup) != 1 {
		t.Fatalf("stale report accepted")
	}
	// A report never moves the acknowledged position back.
	r.Report("w2", []registry.Report{{TaskID: "t1", Generation: 2, Acked: events.Position{Epoch: 1, Tick: 50}}}, later)
	if got := r.Tasks()[0].Acked; got != pos {
		t.Fatalf("acked went back to %v", got)
	}
	// A new leader adopts the assignment with its epoch.
	r.SetEpoch(8)
	if tk := r.Tasks()[0]; tk.LeaderEpoch != 8 || tk.Generation != 2 {
		t.Fatalf("after SetEpoch %+v", tk)
	}
	if err := r.Heartbeat("nobody", later); !errors.Is(err, registry.ErrUnknownWorker) {
		t.Fatalf("heartbeat of an unknown worker: %v", err)
	}
	if err := r.PutTask(registry.Task{ID: "", Kind: "x", Shard: "bad"}); err == nil {
		t.Fatal("invalid task accepted")
	}
	if err := r.Register(registry.WorkerInfo{Capacity: -1}, later); err == nil {
		t.Fatal("invalid worker accepted")
	}
}
