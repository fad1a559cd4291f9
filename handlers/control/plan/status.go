package plan

import (
	"slices"
	"strings"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// TargetStatus derives a target sync's status: one ShardStatus per shard of
// A's last inventory, with the source view from the inventory and the
// target view from the freshest worker report. It is a pure function.
func TargetStatus(sy Sync, inv *Inventory, reports map[string]ShardReport, peerSeen, now time.Time, aliveAfter time.Duration) SyncStatus {
	out := SyncStatus{Sync: sy, Shards: []ShardStatus{}, PeerLastSeen: peerSeen}
	out.PeerAlive = !peerSeen.IsZero() && now.Sub(peerSeen) < aliveAfter
	if inv == nil {
		return summarize(out)
	}
	if sy.State.Active() && inv.State == StateAborted && out.Error == "" {
		out.Error = "the source datacenter aborted its side of this sync (abort outgoing sync): abort it here and configure it again to restart it"
	}
	src := map[string]SourceShard{}
	for _, s := range inv.Sources {
		src[s.Shard] = s.SourceShard
	}
	for _, d := range inv.Databases {
		for _, c := range d.Collections {
			for _, sh := range c.Shards {
				ref := events.ShardRef{Database: d.Name, CollectionID: c.ID, Index: sh.Index}.String()
				out.Shards = append(out.Shards, shardStatus(sy, ref, d.Name+"/"+c.Name, sh.Name, src[ref], reports[ref]))
			}
		}
	}
	if u := inv.Users; u != nil {
		for _, sh := range u.Shards {
			ref := events.ShardRef{Database: "_system", CollectionID: u.ID, Index: sh.Index}.String()
			out.Shards = append(out.Shards, shardStatus(sy, ref, "_system/"+u.Name, sh.Name, src[ref], reports[ref]))
		}
	}
	slices.SortFunc(out.Shards, func(a, b ShardStatus) int {
		return strings.Compare(a.Collection+"\x00"+a.Shard, b.Collection+"\x00"+b.Shard)
	})
	return summarize(out)
}

// shardStatus derives one shard's phase, lag and error.
func shardStatus(sy Sync, ref, coll, name string, src SourceShard, tgt ShardReport) ShardStatus {
	ss := ShardStatus{Shard: ref, Collection: coll, ShardName: name, Source: src, Target: tgt,
		LagSeconds: tgt.LagSeconds, LastDataChange: tgt.LastApplied}
	// Lag in ticks: what A's send task had Kafka acknowledge and B has not
	// applied yet, in the same epoch. Not the leader's latest tick: a
	// DB-Server's tick moves with every other collection's writes (dc2dc's
	// own records included), which a shard's tail never reaches, so an idle
	// shard would never show 0. (The source's own distance to its leader
	// is in Source: LeaderTick and Acked.)
	switch {
	case src.Acked.Epoch != 0 && tgt.Applied.Epoch == src.Acked.Epoch:
		if src.Acked.Tick > tgt.Applied.Tick {
			ss.LagTicks = src.Acked.Tick - tgt.Applied.Tick
		}
	default:
		ss.LagTicks = tgt.LagTicks
	}
	switch {
	case src.Error != "":
		ss.Error = "source: " + src.Error
	case tgt.Error != "":
		ss.Error = "target: " + tgt.Error
	}
	switch {
	case !sy.State.Active():
		ss.Phase = ShardStopped
	case src.Phase == ShardFailed || tgt.ErrorCode != "" && tgt.Phase == "",
		tgt.ErrorCode == string(failure.CodeApplyRejected) || tgt.ErrorCode == string(failure.CodeHandlerPanic):
		// B refuses the shard's writes (or the handler panics on them): the
		// resyncs it asks for fail the same way until the cause is fixed,
		// then `reset failed shard` (or the next resync) brings it back.
		ss.Phase = ShardFailed
	case src.Phase == ShardInitialSync || tgt.Phase == "snapshot":
		ss.Phase = ShardInitialSync
	case tgt.Phase == "tailing" || tgt.Phase == "resync-requested":
		ss.Phase = ShardRunning
	case tgt.Phase == "ended":
		ss.Phase = ShardStopped
	default:
		ss.Phase = ShardPending
	}
	return ss
}

// summarize counts phases, the largest lag and whether all is in sync.
func summarize(s SyncStatus) SyncStatus {
	s.Phases = map[string]int{}
	s.InSync = len(s.Shards) > 0
	s.MaxLagSeconds = 0
	for _, sh := range s.Shards {
		s.Phases[sh.Phase]++
		s.MaxLagSeconds = max(s.MaxLagSeconds, sh.LagSeconds)
		if sh.Phase != ShardRunning || sh.LagTicks != 0 {
			s.InSync = false
		}
	}
	if s.Shards == nil {
		s.Shards = []ShardStatus{}
	}
	return s
}
