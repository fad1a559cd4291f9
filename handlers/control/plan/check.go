package plan

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/verify"
	"github.com/dc2dc/dc2dc/handlers/target"
	"github.com/dc2dc/dc2dc/handlers/task/ctl"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
)

// checker answers B's check requests (A side), one at a time; a repeated
// request is answered from the cache.
func (r *sourceRun) checker(ctx context.Context, topics kafka.Topics) {
	for {
		var req CheckRequest
		select {
		case <-ctx.Done():
			return
		case req = <-r.checks:
		}
		res := r.checkResult(req.ID)
		if res == nil {
			res = r.computeCheck(ctx, req.ID)
			r.mu.Lock()
			if len(r.results) > 64 {
				clear(r.results)
			}
			r.results[req.ID] = res
			r.mu.Unlock()
		}
		if err := r.s.publish(topics.CtlUp, Message{Type: TypeCheckResult, Sync: r.id, CheckResult: res}); err != nil && ctx.Err() == nil {
			r.log().Warn("cannot publish a check result", "err", err)
		}
	}
}

// computeCheck reads count and root hash of every shard of the
// collections B reported ready (whether or not the sync still runs) at a
// snapshot on its leader, then where its send task stands, if it has one
// (read after the snapshot, so B waits for at least everything in it that
// was sent).
func (r *sourceRun) computeCheck(ctx context.Context, id string) *CheckResult {
	res := &CheckResult{ID: id, Shards: []SourceCheck{}}
	r.mu.Lock()
	st := r.st
	r.mu.Unlock()
	w := r.s.watcher()
	if st == nil || w == nil {
		res.Error = "the source has not heard the target's state yet: retry"
		return res
	}
	topo := w.Current()
	if topo == nil {
		res.Error = "the source has not read its cluster's shards yet: retry"
		return res
	}
	ready := map[string]bool{}
	for _, k := range st.Ready {
		ready[k] = true
	}
	cl := verify.FromConn(r.s.conn)
	for _, db := range topo.DatabaseNames() {
		for _, c := range topo.Databases[db].Collections {
			if !ready[db+"/"+c.ID] || !replicated(c) || db == "_system" { // users are not compared: B may have its own
				continue
			}
			for _, sh := range c.Shards {
				ref := events.ShardRef{Database: db, CollectionID: c.ID, Index: sh.Index}
				sc := SourceCheck{Shard: ref.String(), Collection: db + "/" + c.Name}
				sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				vs, err := verify.Open(sctx, cl, db, c.Name, sh.Index, verify.Config{})
				if err != nil {
					sc.Error = "source: " + err.Error()
				} else {
					sc.Count, sc.Hash = vs.Count(), vs.Checksum()
					vs.Close(ctx)
				}
				cancel()
				for _, t := range r.syncTasks() {
					if t.Shard == sc.Shard {
						sc.Acked, sc.LeaderTick = t.Acked, t.LeaderTick
					}
				}
				res.Shards = append(res.Shards, sc)
			}
		}
	}
	return res
}

// Check compares source and target per shard (target side): A answers a
// check-request with its counts and hashes and where each send task
// stood; B waits (bounded by CheckTimeout) until it applied that far, then
// reads its own.
func (m *Manager) Check(ctx context.Context, sync string) (CheckReport, error) {
	s, err := m.session()
	if err != nil {
		return CheckReport{}, err
	}
	sy, err := s.pick(sync, RoleTarget)
	if err != nil {
		return CheckReport{}, err
	}
	s.mu.Lock()
	t := s.targets[sy.ID]
	s.mu.Unlock()
	if t == nil {
		return CheckReport{}, notLeading()
	}
	topics, err := sy.Topics()
	if err != nil {
		return CheckReport{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.CheckTimeout)
	defer cancel()
	id := ctl.NewID()
	ch, done := t.expect(id)
	defer done()
	var res *CheckResult
	tick := time.NewTicker(m.cfg.StateInterval)
	defer tick.Stop()
	for res == nil {
		if err := s.publish(topics.CtlDown, Message{Type: TypeCheckRequest, Sync: sy.ID, CheckRequest: &CheckRequest{ID: id}}); err != nil {
			return CheckReport{}, err
		}
		select {
		case <-ctx.Done():
			return CheckReport{}, fmt.Errorf("check sync %s: the source datacenter's leader did not answer within %v (is it running, and the mirror?): %w",
				sy.ID, m.cfg.CheckTimeout, ctx.Err())
		case res = <-ch:
		case <-tick.C:
		}
	}
	if res.Error != "" {
		return CheckReport{}, fmt.Errorf("check sync %s: the source failed: %s", sy.ID, res.Error)
	}
	rep := CheckReport{Sync: sy.ID, InSync: true, Shards: []ShardCheck{}}
	pos := target.NewPositions(s.conn, time.Now)
	cl := verify.FromConn(s.conn)
	for _, sc := range res.Shards {
		c := ShardCheck{Shard: sc.Shard, Collection: sc.Collection, SourceCount: sc.Count, SourceHash: sc.Hash, Error: sc.Error}
		if c.Error == "" {
			c.TargetCount, c.TargetHash, c.Error = m.checkTarget(ctx, pos, cl, sy.ID, sc)
		}
		c.Equal = c.Error == "" && c.SourceCount == c.TargetCount && c.SourceHash == c.TargetHash
		rep.InSync = rep.InSync && c.Equal
		rep.Shards = append(rep.Shards, c)
	}
	sort.Slice(rep.Shards, func(i, j int) bool {
		return rep.Shards[i].Collection+"\x00"+rep.Shards[i].Shard < rep.Shards[j].Collection+"\x00"+rep.Shards[j].Shard
	})
	return rep, nil
}

// checkTarget waits until B applied the shard up to the source's acked
// position, then reads B's count and hash of the partner shard.
func (m *Manager) checkTarget(ctx context.Context, pos *target.Positions, cl verify.Cluster, sync string, sc SourceCheck) (uint64, uint64, string) {
	ref, err := events.ParseShardRef(sc.Shard)
	if err != nil {
		return 0, 0, err.Error()
	}
	db, name, _ := strings.Cut(sc.Collection, "/")
	for {
		rec, _, err := pos.Load(ctx, sync, ref)
		if err == nil && reached(rec.Pos, sc.Acked) {
			break
		}
		if !sleep(ctx, 200*time.Millisecond) {
			return 0, 0, fmt.Sprintf("target: did not apply the source's position %v within the check's time (applied %v)", sc.Acked, rec.Pos)
		}
	}
	sh, err := verify.Open(ctx, cl, db, name, ref.Index, verify.Config{})
	if err != nil {
		return 0, 0, "target: " + err.Error()
	}
	defer sh.Close(ctx)
	return sh.Count(), sh.Checksum(), ""
}
