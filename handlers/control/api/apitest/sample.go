package apitest

import (
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
)

// SampleStatus is a datacenter B following A with five shards in every
// phase (one failed), as of now.
func SampleStatus(now time.Time) plan.Status {
	sh := func(coll, id, name, phase string, lagTicks uint64, lag float64, ago time.Duration, errText string) plan.ShardStatus {
		return plan.ShardStatus{
			Shard: id, Collection: coll, ShardName: name, Phase: phase,
			Source:   plan.SourceShard{Worker: "a-worker-1", Phase: "tailing", StreamEpoch: 2, Acked: events.Position{Epoch: 2, Tick: 1000}, LeaderTick: 1000 + lagTicks},
			Target:   plan.ShardReport{Sync: "a-to-b", Shard: id, Collection: coll, Phase: "tailing", Worker: "b-worker-2", LagTicks: lagTicks, LagSeconds: lag},
			LagTicks: lagTicks, LagSeconds: lag, LastDataChange: now.Add(-ago), Error: errText,
		}
	}
	shards := []plan.ShardStatus{
		sh("shop/customers", "shop/1001/0", "s1001", plan.ShardRunning, 0, 0, 3*time.Second, ""),
		sh("shop/customers", "shop/1001/1", "s1002", plan.ShardRunning, 4, 0.4, 1*time.Second, ""),
		sh("shop/orders", "shop/1010/0", "s1011", plan.ShardInitialSync, 5200, 12.5, 200*time.Millisecond, ""),
		sh("shop/orders", "shop/1010/1", "s1012", plan.ShardPending, 0, 0, 0, ""),
		sh("shop/payments", "shop/1020/0", "s1021", plan.ShardFailed, 17, 95, 2*time.Minute,
			"DC2DC-E2006 apply-rejected: document shop/payments/p-42 violates the collection's schema"),
	}
	return plan.Status{DC: "B", Leader: "m1", Epoch: 3, Syncs: []plan.SyncStatus{{
		Sync:      plan.Sync{ID: "a-to-b", Role: plan.RoleTarget, Peer: "A", State: plan.StateRunning, CreatedAt: now.Add(-time.Hour)},
		PeerAlive: true, PeerLastSeen: now.Add(-time.Second), Shards: shards,
		Phases:        map[string]int{plan.ShardRunning: 2, plan.ShardInitialSync: 1, plan.ShardPending: 1, plan.ShardFailed: 1},
		MaxLagSeconds: 95,
	}}}
}
