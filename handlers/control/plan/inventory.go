package plan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/dc2dc/dc2dc/handlers/arango/client"
)

// inventory builds A's structure for the inventory message from the
// watched topology, plus each database's properties, analyzers (its own,
// not the built-in ones) and views, read through a Coordinator at most
// every InventoryInterval.
func (r *sourceRun) inventory(ctx context.Context, topo *client.Topology) ([]InvDatabase, error) {
	search, err := r.searchObjects(ctx, topo)
	if err != nil {
		return nil, err
	}
	var out []InvDatabase
	for _, name := range topo.DatabaseNames() {
		if name == "_system" {
			continue
		}
		d := InvDatabase{Name: name, Collections: []InvCollection{}}
		for _, c := range topo.Databases[name].Collections {
			if !replicated(c) {
				continue
			}
			ic := InvCollection{ID: c.ID, Name: c.Name, Parameters: c.Parameters, Indexes: c.Indexes}
			for _, sh := range c.Shards {
				ic.Shards = append(ic.Shards, InvShard{Index: sh.Index, Name: sh.Name, Leader: sh.Leader})
			}
			d.Collections = append(d.Collections, ic)
		}
		if so, ok := search[name]; ok {
			_ = json.Unmarshal(so.analyzers, &d.Analyzers)
			_ = json.Unmarshal(so.views, &d.Views)
			d.Options = so.options
		}
		out = append(out, d)
	}
	if out == nil {
		out = []InvDatabase{}
	}
	return out, nil
}

// usersOf returns _system/_users of the topology (nil when absent).
func usersOf(topo *client.Topology) *InvCollection {
	d, ok := topo.Databases["_system"]
	if !ok {
		return nil
	}
	c, ok := d.Collection("_users")
	if !ok || len(c.Shards) == 0 {
		return nil
	}
	ic := &InvCollection{ID: c.ID, Name: c.Name, Parameters: c.Parameters}
	for _, sh := range c.Shards {
		ic.Shards = append(ic.Shards, InvShard{Index: sh.Index, Name: sh.Name, Leader: sh.Leader})
	}
	return ic
}

// hashOf is the structure's fingerprint (shard leaders excluded: a
// failover is not a structure change).
func hashOf(dbs []InvDatabase) string {
	type coll struct {
		ID, Name            string
		Parameters, Indexes json.RawMessage
		Shards              int
	}
	type db struct {
		Name             string
		Options          *InvDatabaseOptions
		Collections      []coll
		Analyzers, Views []json.RawMessage
	}
	var in []db
	for _, d := range dbs {
		x := db{Name: d.Name, Options: d.Options, Analyzers: d.Analyzers, Views: d.Views}
		for _, c := range d.Collections {
			x.Collections = append(x.Collections, coll{c.ID, c.Name, c.Parameters, c.Indexes, len(c.Shards)})
		}
		in = append(in, x)
	}
	b, _ := json.Marshal(in)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

func (r *sourceRun) searchObjects(ctx context.Context, topo *client.Topology) (map[string]searchObjects, error) {
	r.mu.Lock()
	cached, at := r.search, r.searchAt
	r.mu.Unlock()
	if cached != nil && time.Since(at) < r.s.m.cfg.InventoryInterval && knowsAll(cached, topo) {
		return cached, nil
	}
	coord := r.s.deps.Cluster.Coordinator()
	out := map[string]searchObjects{}
	for _, db := range topo.DatabaseNames() {
		if db == "_system" {
			continue
		}
		var analyzers struct {
			Result []json.RawMessage `json:"result"`
		}
		if err := coord.GetJSON(ctx, client.DBPath(db, "_api/analyzer"), nil, &analyzers); err != nil {
			if client.IsErrorNum(err, client.ErrNumDatabaseNotFound) {
				continue
			}
			return nil, err
		}
		own := []json.RawMessage{}
		for _, def := range analyzers.Result {
			var a struct {
				Name string `json:"name"`
			}
			if json.Unmarshal(def, &a) == nil && strings.HasPrefix(a.Name, db+"::") {
				own = append(own, def)
			}
		}
		var views struct {
			Result []struct {
				Name string `json:"name"`
			} `json:"result"`
		}
		if err := coord.GetJSON(ctx, client.DBPath(db, "_api/view"), nil, &views); err != nil {
			if client.IsErrorNum(err, client.ErrNumDatabaseNotFound) {
				continue
			}
			return nil, err
		}
		defs := []json.RawMessage{}
		for _, v := range views.Result {
			var def json.RawMessage
			if err := coord.GetJSON(ctx, client.DBPath(db, "_api/view", url.PathEscape(v.Name), "properties"), nil, &def); err != nil {
				return nil, err
			}
			defs = append(defs, def)
		}
		opts, err := databaseOptions(ctx, coord, db)
		if err != nil {
			if client.IsErrorNum(err, client.ErrNumDatabaseNotFound) {
				continue
			}
			return nil, err
		}
		a, _ := json.Marshal(own)
		v, _ := json.Marshal(defs)
		out[db] = searchObjects{analyzers: a, views: v, options: opts}
	}
	r.mu.Lock()
	r.search, r.searchAt = out, time.Now()
	r.mu.Unlock()
	return out, nil
}

// databaseOptions reads a database's properties (GET
// /_api/database/current). replicationFactor "satellite" (Enterprise
// only) is left to B's default.
func databaseOptions(ctx context.Context, coord *client.Conn, db string) (*InvDatabaseOptions, error) {
	var cur struct {
		Result struct {
			Sharding          string          `json:"sharding"`
			ReplicationFactor json.RawMessage `json:"replicationFactor"`
			WriteConcern      int             `json:"writeConcern"`
		} `json:"result"`
	}
	if err := coord.GetJSON(ctx, client.DBPath(db, "_api/database/current"), nil, &cur); err != nil {
		return nil, err
	}
	o := &InvDatabaseOptions{Sharding: cur.Result.Sharding, WriteConcern: cur.Result.WriteConcern}
	_ = json.Unmarshal(cur.Result.ReplicationFactor, &o.ReplicationFactor) // a number, or "satellite"
	return o, nil
}

// knowsAll reports whether the cached search objects cover every database
// of the topology: a new database is read at once, so B creates it with
// A's properties (a database is never altered once created).
func knowsAll(cached map[string]searchObjects, topo *client.Topology) bool {
	for _, db := range topo.DatabaseNames() {
		if _, ok := cached[db]; !ok && db != "_system" {
			return false
		}
	}
	return true
}
