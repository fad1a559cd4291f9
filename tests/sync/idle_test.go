package sync_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/tests/harness"
)

// TestSyncStatusAfterReceiveFailoverWhileIdle: with A quiet, kill -9 of a
// worker in B hands its partitions to the other worker, and kill -9 of B's
// leader master drops the reports it kept; the status must still show
// every shard running, reported by a running worker (the send tasks'
// heartbeats keep flowing through the shard streams), not pending.
func TestSyncStatusAfterReceiveFailoverWhileIdle(t *testing.T) {
	if testing.Short() {
		t.Skip("two datacenters of processes")
	}
	e := newEnv(t, harness.TopologyConfig{MasterArgs: fastMasters}, small())
	B := e.top.B
	e.loadFor(time.Second)
	e.configureSync()
	e.waitRunning(90*time.Second, e.expectedShards(), 10)
	e.converge(60*time.Second, e.verifyOpts())

	// The worker of B that reports the most shards.
	s, err := e.status(B)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, sh := range s.Shards {
		count[sh.Target.Worker]++
	}
	victim := B.Workers[0]
	for _, w := range B.Workers {
		if count[w.ID] > count[victim.ID] {
			victim = w
		}
	}
	t.Logf("kill -9 of %s (reports %d of %d shards) with A quiet", victim.ID, count[victim.ID], len(s.Shards))
	victim.Kill9AndRestart(t)
	// And B's leader master, which forgets the reports it kept: the
	// status must come from what the workers report now.
	old, epoch := B.WaitLeader(t, 10*time.Second)
	old.Kill9()
	nl, _ := B.WaitNewLeader(t, old, epoch, 20*time.Second)
	t.Logf("then kill -9 of B's leader %s: %s leads", old.ID, nl.ID)
	old.RestartReady(t)

	// Let the consumer group settle, then every shard must be running
	// again and stay so, each reported by a worker that runs.
	var stable int
	harness.Eventually(t, 60*time.Second, 500*time.Millisecond, func() (bool, string) {
		s, err := e.status(B)
		if err != nil {
			stable = 0
			return false, err.Error()
		}
		running := s.Phases[plan.ShardRunning] == len(s.Shards) && len(s.Shards) >= e.expectedShards()
		for _, sh := range s.Shards {
			if w := e.memberOrNil(B, sh.Target.Worker); w == nil || !w.Running() {
				running = false
			}
		}
		if running {
			stable++
		} else {
			stable = 0
		}
		return stable >= 10, fmt.Sprintf("%d consecutive all-running looks: %s", stable, summary(s))
	})
}

func (e *env) memberOrNil(dc *harness.DC, id string) *harness.Member {
	for _, w := range dc.Workers {
		if w.ID == id {
			return w
		}
	}
	return nil
}
