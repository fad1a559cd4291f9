package master_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/control/api"
	"github.com/dc2dc/dc2dc/handlers/control/election"
	"github.com/dc2dc/dc2dc/handlers/control/master"
	"github.com/dc2dc/dc2dc/handlers/control/registry"
	"github.com/dc2dc/dc2dc/handlers/control/state"
	"github.com/dc2dc/dc2dc/handlers/control/worker"
	"github.com/dc2dc/dc2dc/tests/arangosim"
)

const secret = "master-test-secret"

type proc struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// stop cancels the run and waits for it (at most 15 s).
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.once.Do(func() {
		p.cancel()
		select {
		case p.err = <-p.done:
		case <-time.After(15 * time.Second):
			p.err = errors.New("Run did not return within 15 s of cancellation")
		}
	})
	if p.err != nil {
		t.Errorf("Run: %v", p.err)
	}
}

func start(t *testing.T, run func(context.Context) error) *proc {
	ctx, cancel := context.WithCancel(context.Background())
	p := &proc{cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- run(ctx) }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %s", what, within, msg)
		}
		time.Sleep(20 * time.Millisecond) // poll interval of a deadline loop
	}
}

func TestMastersWorkersTasks(t *testing.T) {
	if testing.Short() {
		t.Skip("about 15 s")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim, err := arangosim.Start(ctx, arangosim.Config{DBServers: 2, JWTSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sim.Close() }()
	cluster := client.Config{Endpoints: []string{sim.Endpoint()}, JWTSecret: secret}
	auth := api.AuthConfig{Token: "tok"}
	fast := election.Config{LeaseDuration: 2 * time.Second, RenewInterval: 300 * time.Millisecond}

	var masters []*master.Master
	var mprocs []*proc
	for i := 0; i < 2; i++ {
		m, err := master.New(master.Config{ID: fmt.Sprintf("m%d", i), Listen: "127.0.0.1:0", Cluster: cluster, Auth: auth, Election: fast})
		if err != nil {
			t.Fatal(err)
		}
		masters = append(masters, m)
		mprocs = append(mprocs, start(t, m.Run))
		select {
		case <-m.Ready():
		case err := <-mprocs[i].done:
			t.Fatalf("master %d: %v", i, err)
		case <-time.After(20 * time.Second):
			t.Fatal("master not ready")
		}
	}
	eps := []string{masters[0].Endpoint(), masters[1].Endpoint()}
	leaderIdx := func() int {
		for i, m := range masters {
			if _, ok := m.Elector().Leader(); ok {
				return i
			}
		}
		return -1
	}
	waitFor(t, 10*time.Second, "a leader", func() (bool, string) { return leaderIdx() >= 0, "none" })
	lead := leaderIdx()

	var workers []*worker.Worker
	var wprocs []*proc
	for i := 0; i < 2; i++ {
		w, err := worker.New(worker.Config{ID: fmt.Sprintf("w%d", i), Listen: "127.0.0.1:0", DataDir: t.TempDir(),
			DBServer: sim.DBServers()[i].ID, Masters: api.ClientConfig{Endpoints: eps, Token: "tok"}})
		if err != nil {
			t.Fatal(err)
		}
		workers = append(workers, w)
		wprocs = append(wprocs, start(t, w.Run))
	}
	for i, w := range workers {
		select {
		case <-w.Ready():
		case err := <-wprocs[i].done:
			t.Fatalf("worker %d: %v", i, err)
		case <-time.After(20 * time.Second):
			t.Fatal("worker not registered")
		}
	}
	// Four send-shard tasks, two led by each DB-Server.
	reg := masters[lead].Registry()
	for i := 0; i < 4; i++ {
		if err := reg.PutTask(registry.Task{ID: fmt.Sprintf("t%d", i), Kind: registry.KindSendShard, Shard: fmt.Sprintf("shop/100/%d", i),
			ShardLeader: sim.DBServers()[i%2].ID}); err != nil {
			t.Fatal(err)
		}
	}
	assigned := func(w *worker.Worker) string {
		var ids []string
		for _, tk := range w.Status().Tasks {
			ids = append(ids, fmt.Sprintf("%s@%d", tk.ID, tk.Generation))
		}
		return strings.Join(ids, ",")
	}
	waitFor(t, 10*time.Second, "tasks with affinity", func() (bool, string) {
		a, b := assigned(workers[0]), assigned(workers[1])
		return a == "t0@1,t2@1" && b == "t1@1,t3@1", a + " / " + b
	})

	// The leader keeps the worker list and the task table in _dc2dc.
	acl, err := client.New(cluster)
	if err != nil {
		t.Fatal(err)
	}
	defer acl.Close()
	st := state.NewStore(state.NewDocs(acl.Coordinator()))
	waitFor(t, 5*time.Second, "worker and task records stored", func() (bool, string) {
		var ws []master.WorkerRecord
		var ts []registry.Task
		_, okw, errw := st.Load(ctx, state.WorkersKey, &ws)
		_, okt, errt := st.Load(ctx, state.TasksKey, &ts)
		return okw && okt && len(ws) == 2 && len(ts) == 4 && ts[0].Worker != "", fmt.Sprintf("%v %v %v %v %+v %+v", okw, okt, errw, errt, ws, ts)
	})

	cl, _ := api.NewClient(api.ClientConfig{Endpoints: []string{eps[1-lead]}, Token: "tok"}) // through the follower
	defer cl.Close()
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	ms, err := cl.Masters(rctx)
	if err != nil {
		t.Fatal(err)
	}
	if ms.Leader != masters[lead].ID() || ms.Epoch == 0 {
		t.Fatalf("masters %+v", ms)
	}
	waitFor(t, 5*time.Second, "both masters listed", func() (bool, string) {
		ms, err := cl.Masters(rctx)
		return err == nil && len(ms.Masters) == 2 && ms.Masters[0].Alive && ms.Masters[1].Alive, fmt.Sprintf("%+v %v", ms, err)
	})

	// The leader steps down cleanly: the other master adopts the stored task
	// records, the workers re-register and keep their tasks.
	oldEpoch := ms.Epoch
	mprocs[lead].stop(t)
	other := 1 - lead
	waitFor(t, 10*time.Second, "takeover", func() (bool, string) {
		ep, ok := masters[other].Elector().Leader()
		return ok && ep > oldEpoch, fmt.Sprint(ep, ok)
	})
	cl2, _ := api.NewClient(api.ClientConfig{Endpoints: []string{eps[other]}, Token: "tok"})
	defer cl2.Close()
	waitFor(t, 10*time.Second, "workers registered with the new leader, tasks kept", func() (bool, string) {
		ws, err := cl2.Workers(rctx)
		if err != nil || len(ws.Workers) != 2 {
			return false, fmt.Sprintf("%+v %v", ws, err)
		}
		a, b := assigned(workers[0]), assigned(workers[1])
		return a == "t0@1,t2@1" && b == "t1@1,t3@1" && workers[0].Status().Epoch > oldEpoch, a + " / " + b
	})

	// Worker 1 dies: its tasks move to worker 0 with a new generation within 5 s.
	killed := time.Now()
	wprocs[1].stop(t)
	waitFor(t, 6*time.Second, "tasks of the dead worker moved", func() (bool, string) {
		a := assigned(workers[0])
		return a == "t0@1,t1@2,t2@1,t3@2", a
	})
	t.Logf("tasks moved %v after the worker stopped", time.Since(killed))
	ws, err := cl2.Workers(rctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws.Workers {
		if w.ID == "w1" && w.Alive {
			t.Fatalf("w1 still alive: %+v", ws)
		}
	}
	ts, err := cl2.Tasks(rctx)
	if err != nil || len(ts.Tasks) != 4 {
		t.Fatalf("tasks %+v %v", ts, err)
	}
	wprocs[0].stop(t)
	mprocs[other].stop(t)
}

func TestStartupErrors(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim, err := arangosim.Start(ctx, arangosim.Config{DBServers: 1, JWTSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sim.Close() }()
	cases := []struct {
		name    string
		cluster client.Config
		want    string
	}{
		{"wrong JWT secret", client.Config{Endpoints: []string{sim.Endpoint()}, JWTSecret: "wrong"}, "--cluster.jwt-secret"},
		{"unreachable", client.Config{Endpoints: []string{"http://127.0.0.1:1"}, JWTSecret: secret}, "--cluster.endpoint"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := master.New(master.Config{Listen: "127.0.0.1:0", Cluster: tc.cluster})
			if err != nil {
				t.Fatal(err)
			}
			rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
			defer rcancel()
			err = m.Run(rctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "unreachable") {
				t.Fatalf("Run: %v, want an error naming %s", err, tc.want)
			}
		})
	}
	_, err = master.New(master.Config{Listen: "nonsense", Cluster: client.Config{Endpoints: []string{"ftp://x"}},
		Election: election.Config{LeaseDuration: time.Second, RenewInterval: time.Second}})
	if err == nil || !strings.Contains(err.Error(), "listen address") || !strings.Contains(err.Error(), "scheme") || !strings.Contains(err.Error(), "renew interval") {
		t.Fatalf("New: %v", err)
	}
}
