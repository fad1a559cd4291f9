package worker_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/api"
	"github.com/dc2dc/dc2dc/handlers/control/election"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/handlers/control/registry"
	"github.com/dc2dc/dc2dc/handlers/control/worker"
	"github.com/dc2dc/dc2dc/store"
	"net/http/httptest"
)

func TestValidateListsEveryProblem(t *testing.T) {
	_, err := worker.New(worker.Config{Listen: "nope", Endpoint: "worker1:8729", Capacity: -2,
		Masters: api.ClientConfig{Endpoints: []string{"master:8629"}}, TLS: api.TLSConfig{CertFile: "x"}})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"listen address", "--server.endpoint", "--data-dir", "capacity", "master endpoint", "--tls.key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention %q", err, want)
		}
	}
}

type lead struct{ epoch uint64 }

func (l lead) Status() election.Status { return election.Status{ID: "m", Leader: true, Epoch: l.epoch} }

type runner struct {
	mu     sync.Mutex
	tasks  []registry.Task
	syncs  []plan.Assignment
	epoch  uint64
	closed bool
	store  *store.Store
}

func (r *runner) UseStore(st *store.Store) {
	r.mu.Lock()
	r.store = st
	r.mu.Unlock()
}

func (r *runner) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	return nil
}

func (r *runner) Assign(_ context.Context, epoch uint64, ts []registry.Task) {
	r.mu.Lock()
	r.tasks, r.epoch = ts, epoch
	r.mu.Unlock()
}

func (r *runner) Syncs(_ context.Context, _ uint64, syncs []plan.Assignment) {
	r.mu.Lock()
	r.syncs = syncs
	r.mu.Unlock()
}

func (r *runner) ShardReports() []plan.ShardReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []plan.ShardReport
	for _, a := range r.syncs {
		out = append(out, plan.ShardReport{Sync: a.Sync, Shard: "db/1/0", Phase: "tailing"})
	}
	return out
}

func (r *runner) Reports() []registry.Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []registry.Report
	for _, tk := range r.tasks {
		out = append(out, registry.Report{TaskID: tk.ID, Generation: tk.Generation, Phase: registry.PhaseRunning})
	}
	return out
}

// syncs is a leader's sync manager that only serves the heartbeat.
type syncs struct {
	api.Syncs
	mu     sync.Mutex
	shards map[string][]plan.ShardReport
}

func (s *syncs) WorkerShards(id string, reps []plan.ShardReport, _ time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shards[id] = reps
}

func (s *syncs) Assignments() []plan.Assignment {
	return []plan.Assignment{{Sync: "a-to-b", Role: plan.RoleTarget, State: plan.StateRunning}}
}

func (s *syncs) reported(id string) []plan.ShardReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shards[id]
}

// TestRegisterHeartbeatAndDataDirLock: a worker registers with a (fake)
// leader, receives its task, reports it running; a second worker on the
// same data directory refuses to start.
func TestRegisterHeartbeatAndDataDirLock(t *testing.T) {
	reg, _ := registry.New(registry.Config{})
	reg.SetEpoch(3)
	_ = reg.PutTask(registry.Task{ID: "t1", Kind: registry.KindReceiveShard, Shard: "db/1/0"})
	sm := &syncs{shards: map[string][]plan.ShardReport{}}
	srv, err := api.NewServer(api.Config{Role: "master", ID: "m", Registry: reg, Leadership: lead{3}, Syncs: sm})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	dir := t.TempDir()
	r := &runner{}
	w, err := worker.New(worker.Config{ID: "w1", Listen: "127.0.0.1:0", DataDir: dir, Runner: r, HeartbeatInterval: 50 * time.Millisecond,
		Masters: api.ClientConfig{Endpoints: []string{hs.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	select {
	case <-w.Ready():
	case err := <-done:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("not registered")
	}
	reg.Schedule(time.Now())
	deadline := time.Now().Add(5 * time.Second)
	for {
		ts := reg.Tasks()
		if ts[0].Phase == registry.PhaseRunning && len(w.Status().Tasks) == 1 && w.Status().Epoch == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task not running: %+v, worker %+v", ts, w.Status())
		}
		time.Sleep(10 * time.Millisecond) // poll interval of a deadline loop
	}
	// The active syncs reach the Runner, its shard reports the leader.
	deadline = time.Now().Add(5 * time.Second)
	for {
		r.mu.Lock()
		n := len(r.syncs)
		r.mu.Unlock()
		reps := sm.reported("w1")
		if n == 1 && len(reps) == 1 && reps[0].Sync == "a-to-b" && len(w.Status().Syncs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("syncs not handed to the runner (%d) or shard reports not sent (%+v)", n, reps)
		}
		time.Sleep(10 * time.Millisecond) // poll interval of a deadline loop
	}
	// The leader forgets the worker (a new leader): it registers again.
	reg.Unregister("w1")
	deadline = time.Now().Add(5 * time.Second)
	for len(reg.Workers(time.Now())) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the worker did not register again")
		}
		time.Sleep(10 * time.Millisecond) // poll interval of a deadline loop
	}

	w2, err := worker.New(worker.Config{ID: "w2", Listen: "127.0.0.1:0", DataDir: dir, Masters: api.ClientConfig{Endpoints: []string{hs.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "--data-dir") {
		t.Fatalf("second worker on the same data dir: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.tasks) != 0 || len(r.syncs) != 0 || !r.closed || r.store == nil {
		t.Fatalf("on shutdown: tasks %+v, syncs %+v, closed %v, store handed over %v", r.tasks, r.syncs, r.closed, r.store != nil)
	}
}
