package plan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/verify"
	"github.com/dc2dc/dc2dc/handlers/control/state"
	"github.com/dc2dc/dc2dc/handlers/target"
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

// applyStructure makes B's structure follow A's inventory: databases,
// collections (A's parameters: identical sharding), indexes, analyzers and
// views are created; renamed collections renamed; collections and
// databases dc2dc created and A no longer has are dropped. Users are not
// replicated.
func (t *targetRun) applyStructure(ctx context.Context, inv *Inventory, stamp Stamp) {
	t.mu.Lock()
	rec := targetRecord{Databases: maps.Clone(t.rec.Databases), Collections: maps.Clone(t.rec.Collections),
		Views: maps.Clone(t.rec.Views), Ready: slices.Clone(t.rec.Ready), Applied: t.rec.Applied}
	t.mu.Unlock()
	if stamp.Less(rec.Applied) {
		return // a replayed older inventory
	}
	st := target.NewStructure(t.s.conn, t.s.conn.Client())
	ready := map[string]bool{}
	for _, r := range rec.Ready {
		ready[r] = true
	}
	var errs []error
	wantDB := map[string]bool{}
	wantColl := map[string]bool{}
	for _, d := range inv.Databases {
		wantDB[d.Name] = true
		for _, c := range d.Collections {
			wantColl[d.Name+"/"+c.ID] = true
		}
	}
	// Drops first (a collection dropped and re-created under the same name
	// in A has a new id).
	for _, key := range slices.Sorted(maps.Keys(rec.Collections)) {
		if wantColl[key] {
			continue
		}
		db, _, _ := strings.Cut(key, "/")
		if err := st.DropCollection(ctx, db, rec.Collections[key]); err != nil {
			errs = append(errs, fmt.Errorf("drop %s/%s in B: %w", db, rec.Collections[key], err))
			continue
		}
		t.log().Info("collection dropped in B (gone in A)", "collection", db+"/"+rec.Collections[key])
		delete(rec.Collections, key)
		delete(ready, key)
	}
	for _, db := range slices.Sorted(maps.Keys(rec.Databases)) {
		if wantDB[db] {
			continue
		}
		if err := st.DropDatabase(ctx, db); err != nil {
			errs = append(errs, fmt.Errorf("drop database %s in B: %w", db, err))
			continue
		}
		t.log().Info("database dropped in B (gone in A)", "database", db)
		delete(rec.Databases, db)
		for key := range rec.Collections {
			if strings.HasPrefix(key, db+"/") {
				delete(rec.Collections, key)
				delete(ready, key)
			}
		}
	}
	for _, d := range inv.Databases {
		if err := st.CreateDatabase(ctx, d.Name, target.DatabaseOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("database %s in B: %w", d.Name, err))
			continue
		}
		rec.Databases[d.Name] = true
		for _, a := range d.Analyzers {
			if err := st.EnsureAnalyzer(ctx, d.Name, a); err != nil {
				errs = append(errs, fmt.Errorf("analyzer in %s in B: %w", d.Name, err))
			}
		}
		for _, c := range prototypesFirst(d.Collections) {
			key := d.Name + "/" + c.ID
			if old, ok := rec.Collections[key]; ok && old != c.Name {
				if err := st.RenameCollection(ctx, d.Name, old, c.Name); err != nil {
					errs = append(errs, fmt.Errorf("rename %s/%s to %s in B: %w", d.Name, old, c.Name, err))
					continue
				}
				rec.Collections[key] = c.Name
			}
			if err := createCollection(ctx, st, d.Name, c); err != nil {
				errs = append(errs, fmt.Errorf("collection %s/%s in B: %w", d.Name, c.Name, err))
				continue
			}
			if err := t.dropIndexes(ctx, st, d.Name, c); err != nil {
				errs = append(errs, fmt.Errorf("indexes of %s/%s in B: %w", d.Name, c.Name, err))
				continue
			}
			rec.Collections[key] = c.Name
			if !ready[key] {
				t.log().Info("collection ready in B", "collection", d.Name+"/"+c.Name, "id", c.ID)
			}
			ready[key] = true
		}
		views := map[string]bool{}
		for _, v := range d.Views {
			name := nameOf(v)
			views[name] = true
			if err := st.EnsureView(ctx, d.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("view %s in %s in B: %w", name, d.Name, err))
				continue
			}
			rec.Views[d.Name+"/"+name] = true
		}
		for _, key := range slices.Sorted(maps.Keys(rec.Views)) {
			db, name, _ := strings.Cut(key, "/")
			if db != d.Name || views[name] {
				continue
			}
			if err := st.DropView(ctx, db, name); err != nil {
				errs = append(errs, fmt.Errorf("drop view %s in %s in B: %w", name, db, err))
				continue
			}
			t.log().Info("view dropped in B (gone in A)", "view", key)
			delete(rec.Views, key)
		}
	}
	for key := range rec.Views {
		if db, _, _ := strings.Cut(key, "/"); !wantDB[db] {
			delete(rec.Views, key)
		}
	}
	// _system/_users exists in B: ready at once when A sends it.
	for key := range ready {
		if strings.HasPrefix(key, "_system/") && (inv.Users == nil || key != "_system/"+inv.Users.ID) {
			delete(ready, key)
		}
	}
	if inv.Users != nil {
		ready["_system/"+inv.Users.ID] = true
	}
	rec.Ready = slices.Sorted(maps.Keys(ready))
	rec.Applied = stamp
	if err := t.save(ctx, rec); err != nil {
		errs = append(errs, fmt.Errorf("record of the structure: %w", err))
	}
	err := errors.Join(errs...)
	t.mu.Lock()
	if err == nil {
		t.applied, t.structErr = structureKey(inv), ""
	} else {
		t.structErr = err.Error()
	}
	t.mu.Unlock()
	if err != nil && ctx.Err() == nil {
		t.log().Warn("structure in B incomplete; retrying", "err", err)
	}
}

// reloadUsers makes B reload its users after the receive side applied
// something new to _system/_users (per the workers' reports).
func (t *targetRun) reloadUsers(ctx context.Context, users *InvCollection) {
	reps := t.s.m.shardReports(t.id)
	var sig strings.Builder
	for _, sh := range users.Shards {
		ref := events.ShardRef{Database: "_system", CollectionID: users.ID, Index: sh.Index}.String()
		fmt.Fprintf(&sig, "%s=%v;", ref, reps[ref].Applied)
	}
	t.mu.Lock()
	same := sig.String() == t.usersSig
	t.mu.Unlock()
	if same {
		return
	}
	st := target.NewStructure(t.s.conn, t.s.conn.Client())
	if err := st.ReloadUsers(ctx); err != nil {
		t.log().Warn("cannot make B reload its users; retrying", "err", err)
		return
	}
	t.mu.Lock()
	t.usersSig = sig.String()
	t.mu.Unlock()
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

// structureKey names what B applied of an inventory: its structure hash and
// whether it sends users.
func structureKey(inv *Inventory) string {
	if inv.Users != nil {
		return inv.Hash + "+users:" + inv.Users.ID
	}
	return inv.Hash
}

// nameOf returns the "name" of a JSON definition.
func nameOf(def json.RawMessage) string {
	var v struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(def, &v)
	return v.Name
}

// dropIndexes drops the indexes of B's collection that A's definition no
// longer has (by name; primary and edge indexes stay).
func (t *targetRun) dropIndexes(ctx context.Context, st *target.Structure, db string, c InvCollection) error {
	want := map[string]bool{}
	var defs []json.RawMessage
	if len(c.Indexes) > 0 && string(c.Indexes) != "null" {
		if err := json.Unmarshal(c.Indexes, &defs); err != nil {
			return fmt.Errorf("indexes: %w", err)
		}
	}
	for _, d := range defs {
		name := nameOf(d)
		if name == "" {
			return nil // unnamed indexes in A's definition: nothing can be matched, nothing is dropped
		}
		want[name] = true
	}
	req := target.Request{Method: http.MethodGet, Path: target.DBPath(db, "/_api/index"), Query: url.Values{"collection": {c.Name}}}
	resp, err := t.s.conn.Do(ctx, req)
	if err != nil {
		return err
	}
	if err := resp.Check(req, http.StatusOK); err != nil {
		return err
	}
	var have struct {
		Indexes []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"indexes"`
	}
	if err := json.Unmarshal(resp.Body, &have); err != nil {
		return fmt.Errorf("%s: %w", req.Path, err)
	}
	for _, ix := range have.Indexes {
		if ix.Type == "primary" || ix.Type == "edge" || ix.Name == "" || want[ix.Name] {
			continue
		}
		if err := st.DropIndex(ctx, db, c.Name, ix.Name); err != nil {
			return err
		}
		t.log().Info("index dropped in B (gone in A)", "collection", db+"/"+c.Name, "index", ix.Name)
	}
	return nil
}

// prototypesFirst orders collections so that a distributeShardsLike
// prototype is created before the collections that follow it.
func prototypesFirst(cs []InvCollection) []InvCollection {
	out := slices.Clone(cs)
	follows := func(c InvCollection) bool {
		var p struct {
			DistributeShardsLike string `json:"distributeShardsLike"`
		}
		_ = json.Unmarshal(c.Parameters, &p)
		return p.DistributeShardsLike != "" && p.DistributeShardsLike != c.Name
	}
	sort.SliceStable(out, func(i, j int) bool { return !follows(out[i]) && follows(out[j]) })
	return out
}

func createCollection(ctx context.Context, st *target.Structure, db string, c InvCollection) error {
	if err := st.CreateCollection(ctx, db, c.Parameters); err != nil {
		return err
	}
	var indexes []json.RawMessage
	if len(c.Indexes) > 0 && string(c.Indexes) != "null" {
		if err := json.Unmarshal(c.Indexes, &indexes); err != nil {
			return fmt.Errorf("indexes: %w", err)
		}
	}
	for _, idx := range indexes {
		if err := st.EnsureIndex(ctx, db, c.Name, idx); err != nil {
			return err
		}
	}
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
			return
		}
		equal := sh.Count() == sc.Count && sh.Checksum() == sc.Hash
		sh.Close(ctx)
		if !equal {
			return
		}
	}
	t.finishStop(ctx, StateStopped, "")
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
