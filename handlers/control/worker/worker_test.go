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
	mu    sync.Mutex
	tasks []registry.Task
	syncs []plan.Assignment
	epoch uint64
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

// TestRegisterHeartbeatAndDataDirLock: a worker registers with a (fake)
// leader, receives its task, reports it running; a second worker on the
// same data directory refuses to start.
func TestRegisterHeartbeatAndDataDirLock(t *testing.T) {
	reg, _ := registry.New(registry.Config{})
	reg.SetEpoch(3)
	_ = reg.PutTask(registry.Task{ID: "t1", Kind: registry.KindReceiveShard, Shard: "db/1/0"})
	srv, err := api.NewServer(api.Config{Role: "master", ID: "m", Registry: reg, Leadership: lead{3}})
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
	if len(r.tasks) != 0 {
		t.Fatalf("tasks not stopped on shutdown: %+v", r.tasks)
	}
}
