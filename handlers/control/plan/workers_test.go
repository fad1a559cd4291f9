package plan_test

import (
	"context"
	"hash/fnv"
	"sync"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/handlers/control/registry"
	"github.com/dc2dc/dc2dc/handlers/source"
	"github.com/dc2dc/dc2dc/handlers/target"
	"github.com/dc2dc/dc2dc/handlers/task/ctl"
	"github.com/dc2dc/dc2dc/handlers/task/receive"
	"github.com/dc2dc/dc2dc/handlers/task/send"
	"github.com/dc2dc/dc2dc/pipeline/batcher"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
	"github.com/dc2dc/dc2dc/pipeline/middleware"
	"github.com/dc2dc/dc2dc/store"
)

// runWorkers stands in for one worker per datacenter (the real ones are
// package runner's): in A it takes the registry's send tasks assigned to it
// and reports their progress; in B it runs the receive side and reports
// its shards to B's manager.
func (w *world) runWorkers(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(w.ctx)
	var wg sync.WaitGroup
	var cleanups []func()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	})
	topics, err := kafka.TopicsFor("", syncID)
	must(t, err)
	log := logger()

	// B: the receive side.
	connB, err := target.Dial(target.ConnConfig{Endpoints: []string{w.b.sim.Endpoint()}, JWTSecret: secret})
	must(t, err)
	cleanups = append(cleanups, connB.Close)
	storeB, err := store.Open(store.Config{Dir: t.TempDir(), NoSync: true})
	must(t, err)
	cleanups = append(cleanups, func() { _ = storeB.Close() })
	pubB, err := kafka.NewPublisher(w.b.kc)
	must(t, err)
	cleanups = append(cleanups, func() { _ = pubB.Close() })
	kB := w.b.kc
	kB.Consumer.Group = "dc2dc." + syncID + ".apply"
	rc, err := receive.New(receive.Config{Sync: syncID, Kafka: kB, Topics: topics, Logger: log.With("worker", "B"),
		Retry: middleware.RetryConfig{InitialInterval: 10 * time.Millisecond, MaxInterval: 200 * time.Millisecond}},
		receive.Deps{Conn: connB, Store: storeB, Publisher: pubB})
	must(t, err)
	wg.Add(2)
	go func() { defer wg.Done(); _ = rc.Run(ctx) }()
	go func() {
		defer wg.Done()
		for sleepCtx(ctx, 200*time.Millisecond) {
			var reps []plan.ShardReport
			for _, s := range rc.Status() {
				reps = append(reps, plan.ShardReport{Sync: syncID, Shard: s.Shard, Phase: s.Phase, Applied: s.Applied,
					LagSeconds: s.LagSeconds, LagTicks: s.LagTicks, LastApplied: s.LastBatchAt, Error: s.LastError})
			}
			w.b.mgr.WorkerShards("worker-b", reps, time.Now())
		}
	}()

	// A: the send tasks.
	storeA, err := store.Open(store.Config{Dir: t.TempDir(), NoSync: true})
	must(t, err)
	cleanups = append(cleanups, func() { _ = storeA.Close() })
	pubA, err := kafka.NewPublisher(w.a.kc)
	must(t, err)
	cleanups = append(cleanups, func() { _ = pubA.Close() })
	watch, err := client.NewWatcher(w.a.cl, client.WatcherConfig{Interval: 100 * time.Millisecond, MaxBackoff: time.Second}, nil, nil)
	must(t, err)
	must(t, watch.Poll(ctx))
	lk := w.a.kc
	lk.Consumer.Group = "dc2dc." + syncID + ".ctl.worker-a"
	listen, err := ctl.NewListener(ctl.ListenerConfig{Kafka: lk, Topic: topics.CtlDown, Logger: log})
	must(t, err)
	wg.Add(3)
	go func() { defer wg.Done(); _ = watch.Run(ctx) }()
	go func() { // ctl.down exists in A once the mirror forwarded B's first message
		defer wg.Done()
		for ctx.Err() == nil {
			if err := listen.Run(ctx); err == nil {
				return
			}
			sleepCtx(ctx, 200*time.Millisecond)
		}
	}()
	deps := send.Deps{Store: storeA, Epochs: &send.StoreEpochs{Store: storeA, Sync: syncID}, Publisher: pubA, Dialer: w.a.cl,
		Leaders: watch, Listener: listen}
	go func() {
		defer wg.Done()
		type run struct {
			task   *send.Task
			gen    uint64
			cancel context.CancelFunc
			done   chan struct{}
		}
		running := map[string]*run{}
		defer func() {
			for _, r := range running {
				r.cancel()
				<-r.done
			}
		}()
		for sleepCtx(ctx, 200*time.Millisecond) {
			now := time.Now()
			_ = w.a.reg.Register(registry.WorkerInfo{ID: "worker-a"}, now)
			w.a.reg.Schedule(now)
			mine := map[string]registry.Task{}
			for _, t := range w.a.reg.TasksOf("worker-a") {
				mine[t.ID] = t
			}
			for id, r := range running {
				if t, ok := mine[id]; !ok || t.Generation != r.gen {
					r.cancel()
					<-r.done
					delete(running, id)
				}
			}
			var reps []registry.Report
			for id, t := range mine {
				r, ok := running[id]
				if !ok {
					task, err := newSend(t, deps)
					if err != nil {
						continue
					}
					rctx, rcancel := context.WithCancel(ctx)
					r = &run{task: task, gen: t.Generation, cancel: rcancel, done: make(chan struct{})}
					running[id] = r
					go func() { defer close(r.done); _ = task.Run(rctx) }()
				}
				st := r.task.Status()
				reps = append(reps, registry.Report{TaskID: id, Generation: r.gen, Phase: sendPhase(st.Phase), StreamEpoch: st.Epoch,
					Acked: st.AckedPos, LeaderTick: st.LeaderTick, Error: st.LastError})
			}
			w.a.reg.Report("worker-a", reps, now)
		}
	}()
}

func newSend(t registry.Task, deps send.Deps) (*send.Task, error) {
	ref, err := events.ParseShardRef(t.Shard)
	if err != nil {
		return nil, err
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(t.ID))
	return send.New(send.Config{
		Sync:  t.Sync,
		Shard: source.Shard{Ref: ref, Collection: t.Collection, Name: t.ShardName, Leader: t.ShardLeader},
		Topic: kafka.DefaultTopicPrefix + "." + t.Sync + ".data",
		Source: source.Config{PollInterval: 5 * time.Millisecond, RetryBackoff: 10 * time.Millisecond, MaxRetryBackoff: 200 * time.Millisecond,
			BatchTTL: 30 * time.Second, SyncerID: 1 + h.Sum64()%(1<<40), ServerID: 4711},
		Batch:             batcher.Config{Linger: 2 * time.Millisecond},
		HeartbeatInterval: 200 * time.Millisecond,
		TreeTimeout:       30 * time.Second,
		RevisionsTimeout:  30 * time.Second,
		RetryBackoff:      20 * time.Millisecond,
		MaxRetryBackoff:   500 * time.Millisecond,
	}, deps)
}

func sendPhase(p string) registry.Phase {
	switch p {
	case "snapshot":
		return registry.PhaseInitialSync
	case "tailing":
		return registry.PhaseRunning
	case "failed":
		return registry.PhaseFailed
	case "done":
		return registry.PhaseStopped
	}
	return registry.PhasePending
}

// sleepCtx waits d; false when ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
