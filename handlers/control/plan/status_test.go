package plan_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
)

func TestTargetStatusDerivation(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	sy := plan.Sync{ID: "a-to-b", Role: plan.RoleTarget, State: plan.StateRunning}
	params := json.RawMessage(`{"name":"c"}`)
	inv := &plan.Inventory{Databases: []plan.InvDatabase{{Name: "db", Collections: []plan.InvCollection{{ID: "7", Name: "c", Parameters: params,
		Shards: []plan.InvShard{{Index: 0, Name: "s1"}, {Index: 1, Name: "s2"}, {Index: 2, Name: "s3"}, {Index: 3, Name: "s4"}, {Index: 4, Name: "s5"}}}}}},
		Sources: []plan.SourceReport{
			{Shard: "db/7/0", SourceShard: plan.SourceShard{Phase: "running", StreamEpoch: 2, LeaderTick: 100, Acked: events.Position{Epoch: 2, Tick: 100}}},
			{Shard: "db/7/1", SourceShard: plan.SourceShard{Phase: "initial-sync", StreamEpoch: 1}},
			{Shard: "db/7/2", SourceShard: plan.SourceShard{Phase: "failed", Error: "boom"}},
			{Shard: "db/7/3", SourceShard: plan.SourceShard{Phase: "running", StreamEpoch: 3, LeaderTick: 50}},
		}}
	applied := now.Add(-time.Minute)
	reports := map[string]plan.ShardReport{
		"db/7/0": {Shard: "db/7/0", Phase: "tailing", Applied: events.Position{Epoch: 2, Tick: 90}, LagSeconds: 1.5, LastApplied: applied},
		"db/7/1": {Shard: "db/7/1", Phase: "snapshot"},
		"db/7/3": {Shard: "db/7/3", Phase: "tailing", Applied: events.Position{Epoch: 3, Tick: 50}},
	}
	st := plan.TargetStatus(sy, inv, reports, now.Add(-3*time.Second), now, 10*time.Second)
	if !st.PeerAlive || len(st.Shards) != 5 {
		t.Fatalf("status %+v", st)
	}
	want := map[string]struct {
		phase string
		lag   uint64
	}{
		"db/7/0": {plan.ShardRunning, 10}, "db/7/1": {plan.ShardInitialSync, 0}, "db/7/2": {plan.ShardFailed, 0},
		"db/7/3": {plan.ShardRunning, 0}, "db/7/4": {plan.ShardPending, 0},
	}
	for _, sh := range st.Shards {
		w := want[sh.Shard]
		if sh.Phase != w.phase || sh.LagTicks != w.lag || sh.Collection != "db/c" {
			t.Errorf("shard %s: phase %s lag %d collection %s, want %s %d", sh.Shard, sh.Phase, sh.LagTicks, sh.Collection, w.phase, w.lag)
		}
	}
	if st.Shards[0].LastDataChange != applied || st.MaxLagSeconds != 1.5 || st.Shards[2].Error != "source: boom" {
		t.Errorf("details %+v", st)
	}
	if st.InSync || st.Phases[plan.ShardRunning] != 2 || st.Phases[plan.ShardPending] != 1 {
		t.Errorf("summary: in sync %v phases %v", st.InSync, st.Phases)
	}
	// A silent peer is not alive; an inactive sync's shards are stopped.
	sy.State = plan.StateStopped
	st = plan.TargetStatus(sy, inv, reports, now.Add(-11*time.Second), now, 10*time.Second)
	if st.PeerAlive || st.Phases[plan.ShardStopped] != 5 {
		t.Errorf("stopped: %+v", st)
	}
	// Every shard tailing without lag (the leader's tick ahead of what the
	// idle shard's tail reached does not count): in sync.
	inv.Sources[0].LeaderTick = 150
	one := &plan.Inventory{Databases: []plan.InvDatabase{{Name: "db", Collections: []plan.InvCollection{{ID: "7", Name: "c", Parameters: params,
		Shards: []plan.InvShard{{Index: 0, Name: "s1"}}}}}}, Sources: inv.Sources[:1]}
	sy.State = plan.StateRunning
	st = plan.TargetStatus(sy, one, map[string]plan.ShardReport{"db/7/0": {Phase: "tailing", Applied: events.Position{Epoch: 2, Tick: 100}}}, time.Time{}, now, 10*time.Second)
	if !st.InSync || st.PeerAlive {
		t.Errorf("in sync: %+v", st)
	}
	// B refuses the shard's writes (the resyncs it asks for start a new
	// snapshot each time): failed, with the target's error.
	st = plan.TargetStatus(sy, one, map[string]plan.ShardReport{"db/7/0": {Phase: "snapshot", Applied: events.Position{Epoch: 2},
		Error: "rejected by B: schema", ErrorCode: "DC2DC-E2006"}}, time.Time{}, now, 10*time.Second)
	if st.Shards[0].Phase != plan.ShardFailed || st.Shards[0].Error != "target: rejected by B: schema" {
		t.Errorf("rejected by B: %+v", st.Shards[0])
	}
	// No inventory yet: no shards, not in sync.
	if st := plan.TargetStatus(sy, nil, nil, time.Time{}, now, time.Second); st.InSync || len(st.Shards) != 0 || st.Shards == nil {
		t.Errorf("no inventory: %+v", st)
	}
}

func TestNotLeading(t *testing.T) {
	m, err := plan.New(plan.Config{Kafka: kafkaConfig()})
	must(t, err)
	now := time.Now()
	m.WorkerShards("w1", []plan.ShardReport{{Sync: "s", Shard: "d/1/0", Applied: events.Position{Epoch: 1, Tick: 10}}}, now)
	m.WorkerShards("w2", []plan.ShardReport{{Sync: "s", Shard: "d/1/0", Applied: events.Position{Epoch: 1, Tick: 5}}}, now)
	m.WorkerShards("w1", []plan.ShardReport{{Sync: "", Shard: "x"}}, now) // ignored
	if as := m.Assignments(); as != nil {
		t.Errorf("assignments without leadership: %+v", as)
	}
	if _, err := m.Status(t.Context()); err == nil {
		t.Error("status without leadership answered")
	}
}
