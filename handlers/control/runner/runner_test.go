package runner

import (
	"fmt"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/handlers/control/registry"
	"github.com/dc2dc/dc2dc/handlers/task/send"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
	"github.com/dc2dc/dc2dc/pipeline/middleware"
)

func reportOf(r *Runner, taskID string) (registry.Report, bool) {
	for _, rep := range r.Reports() {
		if rep.TaskID == taskID {
			return rep, true
		}
	}
	return registry.Report{}, false
}

// allRunning: every task is reported running (tailing) under gen with a
// Kafka-acknowledged position in its stream epoch.
func allRunning(r *Runner, ts []registry.Task, gen uint64) (bool, string) {
	for _, tk := range ts {
		rep, ok := reportOf(r, tk.ID)
		if !ok || rep.Generation != gen || rep.Phase != registry.PhaseRunning || rep.StreamEpoch == 0 || rep.Acked.Epoch != rep.StreamEpoch {
			return false, fmt.Sprintf("%s: %+v", tk.ID, rep)
		}
	}
	return true, ""
}

// sendGone: no run of the shard is left in the runner (its goroutine ended).
func sendGone(r *Runner, tk registry.Task) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, running := r.lastRun[tk.Sync+"/"+tk.Shard]
	return !running
}

// TestRunnersReplicate: a runner in A runs the send-shard tasks it is
// assigned, a runner in B the receive side of the sync it is given; what
// is written to A arrives in B. A task reassigned under a new generation
// restarts without loss, a task moved to another worker continues in a
// higher epoch, and removed assignments stop.
func TestRunnersReplicate(t *testing.T) {
	if testing.Short() {
		t.Skip("in-process clusters and brokers")
	}
	w := newWorld(t)
	id, shards := w.collection("orders", `{"name":"orders","numberOfShards":3,"replicationFactor":2}`)
	wr := w.writer("orders")
	wr.start()
	defer func() {
		if wr.stopc != nil {
			select {
			case <-wr.stopc:
			default:
				wr.stop()
			}
		}
	}()
	wr.progress(100) // data before the initial sync

	readerA, readerB := sdkmetric.NewManualReader(), sdkmetric.NewManualReader()
	ra := w.newRunner("worker-a1", w.kA, w.simA.Endpoint(), sdkmetric.NewMeterProvider(sdkmetric.WithReader(readerA)))
	rb := w.newRunner("worker-b1", w.kB, w.simB.Endpoint(), sdkmetric.NewMeterProvider(sdkmetric.WithReader(readerB)))
	rb.Syncs(w.ctx, 1, []plan.Assignment{{Sync: syncID, Role: plan.RoleTarget, State: plan.StateRunning}})
	ra.Syncs(w.ctx, 1, []plan.Assignment{{Sync: syncID, Role: plan.RoleSource, State: plan.StateRunning}})
	gen1 := tasks("orders", id, shards, 1)
	ra.Assign(w.ctx, 1, gen1)

	// A's topics do not exist yet: the tasks wait and say so.
	w.eventually("the tasks to report the missing topics", 20*time.Second, func() (bool, string) {
		rep, ok := reportOf(ra, gen1[0].ID)
		return ok && rep.Phase == registry.PhasePending && strings.Contains(rep.Error, "waiting for the Kafka topics"), fmt.Sprintf("%+v", rep)
	})
	must(t, kafka.EnsureTopics(w.ctx, w.kA, w.specs))

	w.eventually("every task running", 60*time.Second, func() (bool, string) { return allRunning(ra, gen1, 1) })
	wr.progress(100)
	wr.stop()
	w.eventually("A and B identical", 60*time.Second, func() (bool, string) { return w.identical("orders", 3) })
	w.eventually("the receive side's shard reports", 10*time.Second, func() (bool, string) {
		reps := rb.ShardReports()
		if len(reps) != 3 {
			return false, fmt.Sprintf("%+v", reps)
		}
		for _, s := range reps {
			if s.Sync != syncID || s.Phase != "tailing" || s.Applied.Epoch == 0 || s.LastApplied.IsZero() {
				return false, fmt.Sprintf("%+v", s)
			}
		}
		return true, ""
	})
	// The worker's metrics: the WAL tail and publish hops in A, apply and
	// per-shard lag in B.
	for reader, names := range map[*sdkmetric.ManualReader][]string{
		readerA: {send.MetricTailRecords, send.MetricTicksBehind, middleware.MetricPublished},
		readerB: {middleware.MetricMessages, middleware.MetricLagSeconds, middleware.MetricLagTicks},
	} {
		got := metricNames(t, reader)
		for _, n := range names {
			if !got[n] {
				t.Errorf("metric %s missing (have %v)", n, got)
			}
		}
	}
	for _, tk := range gen1 {
		rep, _ := reportOf(ra, tk.ID)
		t.Logf("%s: phase %s epoch %d acked %s leader tick %d", tk.Shard, rep.Phase, rep.StreamEpoch, rep.Acked, rep.LeaderTick)
	}

	// Shard 0 reassigned to this worker under generation 2: the old run
	// stops, the new one resumes from the checkpoint; nothing is lost.
	before, _ := reportOf(ra, gen1[0].ID)
	gen2 := append([]registry.Task(nil), gen1...)
	gen2[0].Generation = 2
	wr.start()
	ra.Assign(w.ctx, 1, gen2)
	w.eventually("shard 0 running under generation 2", 30*time.Second, func() (bool, string) {
		return allRunning(ra, gen2[:1], 2)
	})
	if after, _ := reportOf(ra, gen1[0].ID); after.StreamEpoch < before.StreamEpoch {
		t.Errorf("shard 0 went from epoch %d back to %d", before.StreamEpoch, after.StreamEpoch)
	}
	wr.progress(100)

	// Shard 2 flaps through three generations at once: only the last
	// runs, after the earlier runs ended.
	for g := uint64(4); g <= 6; g++ {
		gen2[2].Generation = g
		ra.Assign(w.ctx, 1, gen2)
	}
	w.eventually("shard 2 running under generation 6", 30*time.Second, func() (bool, string) {
		return allRunning(ra, gen2[2:], 6)
	})
	wr.progress(50)

	// Shard 1 moves to another worker in A: it has no checkpoint, so it
	// starts a new epoch, above every epoch used before (the counter in
	// A's _dc2dc).
	ra2 := w.newRunner("worker-a2", w.kA, w.simA.Endpoint(), nil)
	ra2.Syncs(w.ctx, 1, []plan.Assignment{{Sync: syncID, Role: plan.RoleSource, State: plan.StateRunning}})
	moved := gen2[1]
	moved.Generation = 3
	old, _ := reportOf(ra, moved.ID)
	ra.Assign(w.ctx, 1, []registry.Task{gen2[0], gen2[2]})
	w.eventually("the old run of shard 1 gone", 10*time.Second, func() (bool, string) { return sendGone(ra, moved), "" })
	if _, ok := reportOf(ra, moved.ID); ok {
		t.Errorf("the moved task is still reported by its old worker")
	}
	ra2.Assign(w.ctx, 1, []registry.Task{moved})
	w.eventually("shard 1 running on the second worker", 60*time.Second, func() (bool, string) {
		return allRunning(ra2, []registry.Task{moved}, 3)
	})
	if rep, _ := reportOf(ra2, moved.ID); rep.StreamEpoch <= old.StreamEpoch {
		t.Errorf("the moved task runs in epoch %d, not above %d", rep.StreamEpoch, old.StreamEpoch)
	}
	wr.progress(100)
	wr.stop()
	w.eventually("A and B identical after the reassignments", 60*time.Second, func() (bool, string) { return w.identical("orders", 3) })

	// Removing the assignments stops the tasks and the receive side.
	ra.Assign(w.ctx, 2, nil)
	ra2.Assign(w.ctx, 2, nil)
	rb.Syncs(w.ctx, 2, []plan.Assignment{{Sync: syncID, Role: plan.RoleTarget, State: plan.StateStopped}})
	w.eventually("every task stopped", 10*time.Second, func() (bool, string) {
		for _, tk := range gen2 {
			if !sendGone(ra, tk) || !sendGone(ra2, tk) {
				return false, tk.ID
			}
		}
		return len(ra.Reports()) == 0 && len(ra2.Reports()) == 0, ""
	})
	w.eventually("the receive side stopped", 10*time.Second, func() (bool, string) {
		rb.mu.Lock()
		defer rb.mu.Unlock()
		return len(rb.recvs) == 0 && len(rb.lastRecv) == 0, ""
	})
	if reps := rb.ShardReports(); len(reps) != 0 {
		t.Errorf("shard reports after the sync stopped: %+v", reps)
	}
	ra.mu.Lock()
	sources := len(ra.sources)
	ra.mu.Unlock()
	if sources != 0 {
		t.Errorf("%d source sides still running without tasks", sources)
	}

	// Written while nothing runs, replicated once the sync runs again.
	wr.start()
	wr.progress(50)
	wr.stop()
	rb.Syncs(w.ctx, 3, []plan.Assignment{{Sync: syncID, Role: plan.RoleTarget, State: plan.StateRunning}})
	gen7 := tasks("orders", id, shards, 7)
	// A task record without the shard's names: looked up in the shard map.
	gen7[0].Collection, gen7[0].ShardName, gen7[0].ShardLeader = "", "", ""
	ra.Assign(w.ctx, 3, gen7)
	w.eventually("every task running again", 60*time.Second, func() (bool, string) { return allRunning(ra, gen7, 7) })
	// Shard 1 came back to the first worker, whose checkpoint is of an
	// epoch the second worker superseded: it must not resume it (B skips
	// every batch of a lower epoch) but start a new one.
	back, _ := reportOf(ra, gen7[1].ID)
	t.Logf("shard 1 back on the first worker in epoch %d (its checkpoint: epoch %d)", back.StreamEpoch, old.StreamEpoch)
	if back.StreamEpoch <= old.StreamEpoch+1 {
		t.Errorf("shard 1 back on the first worker runs in epoch %d: not above the second worker's epoch %d", back.StreamEpoch, old.StreamEpoch+1)
	}
	w.eventually("A and B identical after the restart", 60*time.Second, func() (bool, string) { return w.identical("orders", 3) })
	w.eventually("the restarted receive side reports every shard tailing", 20*time.Second, func() (bool, string) {
		reps := rb.ShardReports()
		if len(reps) != 3 {
			return false, fmt.Sprintf("%+v", reps)
		}
		for _, s := range reps {
			if s.Phase != "tailing" {
				return false, fmt.Sprintf("%+v", s)
			}
		}
		return true, ""
	})

	// The message timeout (set message timeout reaches the running receive
	// side): shard 2's send task is gone for longer than it, comes back on
	// the same worker and resumes its epoch; B asks for a resync and the
	// shard goes on in a new epoch, nothing lost.
	rb.Syncs(w.ctx, 4, []plan.Assignment{{Sync: syncID, Role: plan.RoleTarget, State: plan.StateRunning, MessageTimeoutMillis: 3000}})
	silent, _ := reportOf(ra, gen7[2].ID)
	ra.Assign(w.ctx, 4, gen7[:2])
	stopped := time.Now()
	// The stimulus is time itself: the stream must stay silent longer than
	// the timeout.
	w.eventually("shard 2 silent longer than the message timeout", 20*time.Second, func() (bool, string) {
		return time.Since(stopped) > 4*time.Second, ""
	})
	gen8 := append(append([]registry.Task(nil), gen7[:2]...), gen7[2])
	gen8[2].Generation = 8
	ra.Assign(w.ctx, 4, gen8)
	wr.start()
	wr.progress(30)
	wr.stop()
	w.eventually("shard 2 resynchronised in a new epoch after the silence", 60*time.Second, func() (bool, string) {
		rep, _ := reportOf(ra, gen8[2].ID)
		return rep.Generation == 8 && rep.Phase == registry.PhaseRunning && rep.StreamEpoch > silent.StreamEpoch, fmt.Sprintf("%+v (before: epoch %d)", rep, silent.StreamEpoch)
	})
	w.eventually("A and B identical after the message timeout", 60*time.Second, func() (bool, string) { return w.identical("orders", 3) })
}
