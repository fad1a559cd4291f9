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

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/target"
)

// applyStructure makes B's structure follow A's inventory: databases,
// collections (A's parameters: identical sharding), indexes, analyzers and
// views are created; renamed collections renamed; collections and
// databases dc2dc created and A no longer has are dropped. Users are not
// replicated.
func (t *targetRun) applyStructure(ctx context.Context, inv *Inventory, stamp Stamp) {
	t.mu.Lock()
	rec := targetRecord{Databases: maps.Clone(t.rec.Databases), Collections: maps.Clone(t.rec.Collections),
		Views: maps.Clone(t.rec.Views), Analyzers: maps.Clone(t.rec.Analyzers), Ready: slices.Clone(t.rec.Ready), Applied: t.rec.Applied}
	if rec.Analyzers == nil {
		rec.Analyzers = map[string]bool{}
	}
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
		if err := st.CreateDatabase(ctx, d.Name, d.Options.target()); err != nil {
			errs = append(errs, fmt.Errorf("database %s in B: %w", d.Name, err))
			continue
		}
		rec.Databases[d.Name] = true
		analyzers := map[string]bool{}
		for _, a := range d.Analyzers {
			name := shortName(nameOf(a))
			analyzers[name] = true
			if err := st.EnsureAnalyzer(ctx, d.Name, a); err != nil {
				errs = append(errs, fmt.Errorf("analyzer in %s in B: %w", d.Name, err))
				continue
			}
			rec.Analyzers[d.Name+"/"+name] = true
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
		errs = append(errs, t.dropGone(ctx, "view", d.Name, rec.Views, views, st.DropView)...)
		// Analyzers after views (a view may use one).
		errs = append(errs, t.dropGone(ctx, "analyzer", d.Name, rec.Analyzers, analyzers, st.DropAnalyzer)...)
	}
	for key := range rec.Analyzers {
		if db, _, _ := strings.Cut(key, "/"); !wantDB[db] {
			delete(rec.Analyzers, key)
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

// structureKey names what B applied of an inventory: its structure hash and
// whether it sends users.
func structureKey(inv *Inventory) string {
	if inv.Users != nil {
		return inv.Hash + "+users:" + inv.Users.ID
	}
	return inv.Hash
}

// dropGone drops from B the objects of database db that dc2dc created
// (created: "db/name" keys) and A no longer has (want: names), and forgets
// them in created.
func (t *targetRun) dropGone(ctx context.Context, kind, db string, created, want map[string]bool,
	drop func(ctx context.Context, db, name string) error) []error {
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(created)) {
		kdb, name, _ := strings.Cut(key, "/")
		if kdb != db || want[name] {
			continue
		}
		if err := drop(ctx, db, name); err != nil {
			errs = append(errs, fmt.Errorf("drop %s %s in %s in B: %w", kind, name, db, err))
			continue
		}
		t.log().Info(kind+" dropped in B (gone in A)", kind, key)
		delete(created, key)
	}
	return errs
}

// shortName is an analyzer's name without its "db::" prefix.
func shortName(name string) string {
	if i := strings.LastIndex(name, "::"); i >= 0 {
		return name[i+2:]
	}
	return name
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
