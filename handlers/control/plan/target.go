package plan

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/verify"
	"github.com/dc2dc/dc2dc/handlers/control/state"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
)

// TargetKeyPrefix + sync id is the fenced record of a target sync's
// structure in the local _dc2dc (targetRecord).
const TargetKeyPrefix = "plan-target:"

// targetRecord is what B's leader created for a sync.
type targetRecord struct {
	// Databases and Collections (db/planId → name in B) dc2dc created: only
	// these are ever dropped.
	Databases   map[string]bool   `json:"databases"`
	Collections map[string]string `json:"collections"`
	// Views ("db/name") dc2dc created.
	Views map[string]bool `json:"views,omitempty"`
	// Analyzers ("db/name", name without the "db::" prefix) dc2dc created.
	Analyzers map[string]bool `json:"analyzers,omitempty"`
	// Ready: collections whose structure (collection and indexes) exists.
	Ready []string `json:"ready"`
	// Applied is the stamp of the last inventory applied with a change: an
	// older one (a replay) never drops anything.
	Applied Stamp `json:"applied"`
}

// targetRun is B's side of one sync.
type targetRun struct {
	s  *session
	id string

	mu        sync.Mutex
	inv       *Inventory
	invStamp  Stamp
	peerEpoch uint64
	peerSeen  time.Time
	seq       uint64
	rec       targetRecord
	recRev    string
	loaded    bool
	applied   string // hash of the structure applied in this session
	structErr string
	waiters   map[string]chan *CheckResult
	resets    []ShardReset
	usersSig  string // applied positions of the users shards at the last reload
	stopWait  string // why the stop in progress waits, as last logged
}

func newTargetRun(s *session, id string) *targetRun {
	return &targetRun{s: s, id: id, waiters: map[string]chan *CheckResult{}}
}

func (t *targetRun) log() *slogger { return &slogger{t.s.m, "sync", t.id, "role", RoleTarget} }

func (t *targetRun) run(ctx context.Context) {
	topics, err := t.ensureTopics(ctx)
	if err != nil {
		return
	}
	for attempt := 1; !t.load(ctx); attempt++ {
		if !sleep(ctx, time.Duration(min(attempt, 10))*time.Second) {
			return
		}
	}
	t.s.go_(func(ctx context.Context) { t.s.consume(ctx, topics.CtlUp, t.onMessage) })
	tick := time.NewTicker(t.s.m.cfg.StateInterval)
	defer tick.Stop()
	for {
		t.step(ctx, topics)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// ensureTopics creates the sync's four topics in this (B's) Kafka,
// retrying until it works or ctx ends.
func (t *targetRun) ensureTopics(ctx context.Context) (kafka.Topics, error) {
	for attempt := 1; ; attempt++ {
		sy, ok := t.s.sync(t.id)
		if !ok {
			return kafka.Topics{}, errNoSync(t.id)
		}
		topics, err := sy.Topics()
		if err != nil {
			t.log().Error("sync has invalid topic names", "err", err)
			return kafka.Topics{}, err
		}
		err = kafka.EnsureTopics(ctx, t.s.m.cfg.Kafka, []kafka.TopicSpec{{Name: topics.Data, Partitions: int32(sy.Partitions())},
			{Name: topics.CtlUp, Partitions: 1}, {Name: topics.CtlDown, Partitions: 1}, {Name: topics.Poison, Partitions: 1}})
		if err == nil {
			return topics, nil
		}
		if ctx.Err() != nil {
			return kafka.Topics{}, ctx.Err()
		}
		t.log().Warn("cannot create the sync's topics in this datacenter's Kafka; retrying", "err", err)
		t.setErr(fmt.Sprintf("topics in Kafka: %v", err))
		if !sleep(ctx, time.Duration(min(attempt, 10))*time.Second) {
			return kafka.Topics{}, ctx.Err()
		}
	}
}

func (t *targetRun) load(ctx context.Context) bool {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var rec targetRecord
	ver, _, err := t.s.deps.Store.Load(lctx, TargetKeyPrefix+t.id, &rec)
	if err != nil {
		t.log().Warn("cannot load the sync's structure record; retrying", "err", err)
		return false
	}
	if rec.Databases == nil {
		rec.Databases = map[string]bool{}
	}
	if rec.Collections == nil {
		rec.Collections = map[string]string{}
	}
	if rec.Views == nil {
		rec.Views = map[string]bool{}
	}
	if rec.Analyzers == nil {
		rec.Analyzers = map[string]bool{}
	}
	t.mu.Lock()
	t.rec, t.recRev, t.loaded = rec, ver.Rev, true
	t.mu.Unlock()
	return true
}

func (t *targetRun) setErr(s string) {
	t.mu.Lock()
	t.structErr = s
	t.mu.Unlock()
}

// onMessage takes A's messages (ctl.up).
func (t *targetRun) onMessage(m Message) {
	if m.Sync != t.id {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if m.Epoch < t.peerEpoch {
		return // from a deposed leader of A
	}
	t.peerEpoch, t.peerSeen = m.Epoch, time.Now()
	switch {
	case m.Inventory != nil:
		st := Stamp{m.Epoch, m.Inventory.Seq}
		if t.invStamp.Less(st) {
			t.inv, t.invStamp = m.Inventory, st
		}
	case m.CheckResult != nil:
		if ch, ok := t.waiters[m.CheckResult.ID]; ok {
			select {
			case ch <- m.CheckResult:
			default:
			}
		}
	}
}

func (t *targetRun) step(ctx context.Context, topics kafka.Topics) {
	sy, ok := t.s.sync(t.id)
	if !ok {
		return
	}
	t.mu.Lock()
	inv, stamp, applied := t.inv, t.invStamp, t.applied
	t.mu.Unlock()
	if sy.State.Active() && inv != nil && structureKey(inv) != applied {
		t.applyStructure(ctx, inv, stamp)
	}
	if inv != nil && inv.Users != nil {
		t.reloadUsers(ctx, inv.Users)
	}
	if sy.State == StateStopping {
		t.stopStep(ctx, sy, inv)
		sy, _ = t.s.sync(t.id)
	}
	if !sy.State.Active() && time.Since(sy.UpdatedAt) > t.s.m.cfg.InactiveStateFor {
		return
	}
	if err := t.publishState(sy, topics); err != nil && ctx.Err() == nil {
		t.log().Warn("cannot publish the sync state", "err", err)
	}
}

func (t *targetRun) publishState(sy Sync, topics kafka.Topics) error {
	t.mu.Lock()
	t.seq++
	st := &SyncState{Seq: t.seq, SourceDC: sy.Peer, TargetDC: t.s.m.cfg.DC, Incarnation: sy.Incarnation, State: sy.State,
		DataPartitions: sy.Partitions(), MessageTimeoutMillis: sy.MessageTimeoutMillis, EnsureInSync: sy.EnsureInSync,
		StopDeadline: sy.StopDeadline, Ready: slices.Clone(t.rec.Ready)}
	if st.Ready == nil {
		st.Ready = []string{}
	}
	var keep []ShardReset
	for _, r := range t.resets {
		if time.Since(r.At) < time.Minute {
			keep = append(keep, r)
		}
	}
	t.resets = keep
	st.Resets = slices.Clone(keep)
	t.mu.Unlock()
	reps := t.s.m.shardReports(t.id)
	for _, k := range slices.Sorted(maps.Keys(reps)) {
		st.Shards = append(st.Shards, reps[k])
	}
	return t.s.publish(topics.CtlDown, Message{Type: TypeSyncState, Sync: t.id, SyncState: st})
}

// save stores rec (fenced) and keeps it as the current record.
func (t *targetRun) save(ctx context.Context, rec targetRecord) error {
	t.mu.Lock()
	rev := t.recRev
	t.mu.Unlock()
	ver, err := t.s.deps.Store.Save(ctx, t.s.epoch, TargetKeyPrefix+t.id, rev, rec)
	if errors.Is(err, state.ErrConflict) {
		if v, _, lerr := t.s.deps.Store.Load(ctx, TargetKeyPrefix+t.id, nil); lerr == nil {
			ver, err = t.s.deps.Store.Save(ctx, t.s.epoch, TargetKeyPrefix+t.id, v.Rev, rec)
		}
	}
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.rec, t.recRev = rec, ver.Rev
	t.mu.Unlock()
	return nil
}

// stopStep drives a stop in progress: without ensure-in-sync the sync
// stops at once; with it, once A is drained and B applied every shard's
// final position; past the deadline the sync runs again with an error (A
// becomes writable again when it sees that).
func (t *targetRun) stopStep(ctx context.Context, sy Sync, inv *Inventory) {
	switch {
	case !sy.EnsureInSync:
		t.finishStop(ctx, StateStopped, "")
		return
	case !sy.StopDeadline.IsZero() && time.Now().After(sy.StopDeadline):
		msg := "stop sync timed out before every shard was in sync: the sync runs on and the source is writable again"
		if inv != nil && inv.Stop != nil && inv.Stop.Error != "" {
			msg += " (source: " + inv.Stop.Error + ")"
		}
		t.finishStop(ctx, StateRunning, msg)
		return
	}
	if inv == nil || inv.Stop == nil || !inv.Stop.Drained {
		t.waitingFor("the source's drained stop barrier")
		return
	}
	cl := verify.FromConn(t.s.conn)
	for _, sc := range inv.Stop.Shards {
		ref, err := events.ParseShardRef(sc.Shard)
		if err != nil {
			continue
		}
		db, name, _ := strings.Cut(sc.Collection, "/")
		sh, err := verify.Open(ctx, cl, db, name, ref.Index, verify.Config{})
		if err != nil {
			t.waitingFor(fmt.Sprintf("shard %s (%s): cannot read it here: %v", sc.Shard, sc.Collection, err))
			return
		}
		count, sum := sh.Count(), sh.Checksum()
		sh.Close(ctx)
		if count != sc.Count || sum != sc.Hash {
			t.waitingFor(fmt.Sprintf("shard %s (%s): %d documents here, %d at the source (hash equal: %v)", sc.Shard, sc.Collection, count, sc.Count, sum == sc.Hash))
			return
		}
	}
	t.finishStop(ctx, StateStopped, "")
}

// waitingFor logs why a stop in progress waits, when that changes (the
// stop loop runs every state interval).
func (t *targetRun) waitingFor(why string) {
	t.mu.Lock()
	changed := t.stopWait != why
	t.stopWait = why
	t.mu.Unlock()
	if changed {
		t.log().Info("stop sync waits", "for", why)
	}
}

// reached reports whether applied is at or past want.
func reached(applied, want events.Position) bool {
	return want.Epoch == 0 || !applied.Less(want)
}

func (t *targetRun) finishStop(ctx context.Context, to State, msg string) {
	err := t.s.changeSync(ctx, t.id, func(sy *Sync) error {
		if sy.State != StateStopping {
			return nil
		}
		sy.State, sy.Error = to, msg
		sy.StopDeadline, sy.EnsureInSync = time.Time{}, false
		return nil
	})
	if err != nil {
		t.log().Warn("cannot record the end of the stop; retrying", "err", err)
		return
	}
	t.log().Info("stop ended", "state", to, "error", msg)
}

// expect registers a waiter for a check result.
func (t *targetRun) expect(id string) (<-chan *CheckResult, func()) {
	ch := make(chan *CheckResult, 1)
	t.mu.Lock()
	t.waiters[id] = ch
	t.mu.Unlock()
	return ch, func() {
		t.mu.Lock()
		delete(t.waiters, id)
		t.mu.Unlock()
	}
}

// view is what status needs of the run.
type targetView struct {
	inv       *Inventory
	peerSeen  time.Time
	structErr string
	ready     []string
}

func (t *targetRun) view() targetView {
	t.mu.Lock()
	defer t.mu.Unlock()
	return targetView{inv: t.inv, peerSeen: t.peerSeen, structErr: t.structErr, ready: slices.Clone(t.rec.Ready)}
}
