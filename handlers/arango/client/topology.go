package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// Server is one server of the cluster as /_admin/cluster/health reports it.
type Server struct {
	ID         string // PRMR-…, CRDN-…, AGNT-…
	ShortName  string // DBServer0001, …
	Role       string // "DBServer", "Coordinator", "Agent"
	Endpoint   string // as reported: tcp://host:port or ssl://host:port
	Status     string // GOOD, BAD, FAILED
	SyncStatus string // SERVING, SHUTDOWN, …
}

// Failed reports whether the server is not in good health.
func (s Server) Failed() bool { return s.Status != "" && s.Status != "GOOD" }

// Health server roles.
const (
	RoleDBServer    = "DBServer"
	RoleCoordinator = "Coordinator"
	RoleAgent       = "Agent"
)

// Shard is one shard of a collection with its placement.
type Shard struct {
	Name      string   // s<id>
	ID        uint64   // the numeric id
	Index     int      // position in ascending id order: the hash slot
	Leader    string   // server id; "" when the shard has no servers
	Followers []string // server ids
}

// Collection is a cluster collection with what is needed to recreate it.
type Collection struct {
	Database             string
	ID                   string // plan id
	Name                 string
	GUID                 string // globallyUniqueId
	Type                 int    // 2 document, 3 edge
	IsSystem             bool
	NumberOfShards       int
	ShardKeys            []string
	ShardingStrategy     string
	ReplicationFactor    int  // 0 with Satellite
	Satellite            bool // replicationFactor "satellite"
	WriteConcern         int
	DistributeShardsLike string // prototype collection name
	KeyOptions           json.RawMessage
	Schema               json.RawMessage // null when unset
	ComputedValues       json.RawMessage // null when unset
	Parameters           json.RawMessage // the inventory's parameters, verbatim
	Indexes              json.RawMessage // the inventory's indexes, verbatim
	Shards               []Shard         // index order
}

// ShardByName returns the shard with the given name.
func (c *Collection) ShardByName(name string) (Shard, bool) {
	for _, s := range c.Shards {
		if s.Name == name {
			return s, true
		}
	}
	return Shard{}, false
}

// Database is one database and its collections (sorted by plan id).
type Database struct {
	Name        string
	Collections []*Collection
	Views       json.RawMessage
}

// Collection returns the collection with the given plan id or name.
func (d *Database) Collection(idOrName string) (*Collection, bool) {
	for _, c := range d.Collections {
		if c.ID == idOrName || c.Name == idOrName {
			return c, true
		}
	}
	return nil, false
}

// Topology is a snapshot of the cluster: servers, databases, collections,
// shards. It is never modified once built.
type Topology struct {
	Servers   map[string]Server
	Databases map[string]*Database
}

// ShardLeader returns the planned leader of a shard of a database.
func (t *Topology) ShardLeader(db, shard string) (string, bool) {
	if t == nil {
		return "", false
	}
	d, ok := t.Databases[db]
	if !ok {
		return "", false
	}
	for _, c := range d.Collections {
		if s, ok := c.ShardByName(shard); ok {
			return s.Leader, s.Leader != ""
		}
	}
	return "", false
}

// DatabaseNames returns the database names, sorted.
func (t *Topology) DatabaseNames() []string {
	out := make([]string, 0, len(t.Databases))
	for n := range t.Databases {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Health reads /_admin/cluster/health.
func (c *Client) Health(ctx context.Context) (map[string]Server, error) {
	var body struct {
		Health map[string]struct {
			Endpoint   string `json:"Endpoint"`
			Role       string `json:"Role"`
			ShortName  string `json:"ShortName"`
			Status     string `json:"Status"`
			SyncStatus string `json:"SyncStatus"`
		} `json:"Health"`
	}
	if err := c.coord.GetJSON(ctx, "_admin/cluster/health", nil, &body); err != nil {
		return nil, err
	}
	out := make(map[string]Server, len(body.Health))
	for id, h := range body.Health {
		out[id] = Server{ID: id, ShortName: h.ShortName, Role: h.Role, Endpoint: h.Endpoint, Status: h.Status, SyncStatus: h.SyncStatus}
	}
	return out, nil
}

// Databases lists the cluster's databases (GET /_api/database on _system).
func (c *Client) Databases(ctx context.Context) ([]string, error) {
	var body struct {
		Result []string `json:"result"`
	}
	if err := c.coord.GetJSON(ctx, "_api/database", nil, &body); err != nil {
		return nil, err
	}
	slices.Sort(body.Result)
	return body.Result, nil
}

type inventoryParams struct {
	ID                   string              `json:"id"`
	PlanID               string              `json:"planId"`
	Name                 string              `json:"name"`
	GUID                 string              `json:"globallyUniqueId"`
	Type                 int                 `json:"type"`
	IsSystem             bool                `json:"isSystem"`
	NumberOfShards       int                 `json:"numberOfShards"`
	ShardKeys            []string            `json:"shardKeys"`
	ShardingStrategy     string              `json:"shardingStrategy"`
	ReplicationFactor    json.RawMessage     `json:"replicationFactor"`
	WriteConcern         *int                `json:"writeConcern"`
	MinReplicationFactor *int                `json:"minReplicationFactor"`
	DistributeShardsLike string              `json:"distributeShardsLike"`
	KeyOptions           json.RawMessage     `json:"keyOptions"`
	Schema               json.RawMessage     `json:"schema"`
	ComputedValues       json.RawMessage     `json:"computedValues"`
	Shards               map[string][]string `json:"shards"`
}

// Inventory reads one database's cluster inventory
// (GET /_db/<db>/_api/replication/clusterInventory).
func (c *Client) Inventory(ctx context.Context, db string, includeSystem bool) (*Database, error) {
	path := DBPath(db, "_api/replication/clusterInventory")
	resp, err := c.coord.Do(ctx, Request{Method: "GET", Path: path,
		Query: url.Values{"includeSystem": {strconv.FormatBool(includeSystem)}}, What: "database " + strconv.Quote(db)}, 200)
	if err != nil {
		return nil, err
	}
	d, err := ParseInventory(db, resp.Body)
	if err != nil {
		return nil, failure.Permanent(fmt.Errorf("GET %s on %s: %w", path, c.coord.endpoint, err))
	}
	return d, nil
}

// ParseInventory parses a clusterInventory answer.
func ParseInventory(db string, body []byte) (*Database, error) {
	var inv struct {
		Collections []struct {
			Parameters json.RawMessage `json:"parameters"`
			Indexes    json.RawMessage `json:"indexes"`
		} `json:"collections"`
		Views json.RawMessage `json:"views"`
	}
	if err := json.Unmarshal(body, &inv); err != nil {
		return nil, fmt.Errorf("clusterInventory of %q: %w", db, err)
	}
	d := &Database{Name: db, Views: inv.Views}
	for _, ic := range inv.Collections {
		var p inventoryParams
		if err := json.Unmarshal(ic.Parameters, &p); err != nil {
			return nil, fmt.Errorf("clusterInventory of %q: collection parameters: %w", db, err)
		}
		col, err := collectionFrom(db, p, ic.Parameters, ic.Indexes)
		if err != nil {
			return nil, fmt.Errorf("clusterInventory of %q: %w", db, err)
		}
		d.Collections = append(d.Collections, col)
	}
	slices.SortFunc(d.Collections, func(a, b *Collection) int { return cmpID(a.ID, b.ID) })
	return d, nil
}

func collectionFrom(db string, p inventoryParams, params, indexes json.RawMessage) (*Collection, error) {
	id := p.PlanID
	if id == "" {
		id = p.ID
	}
	if id == "" || p.Name == "" {
		return nil, fmt.Errorf("collection without id or name")
	}
	col := &Collection{
		Database: db, ID: id, Name: p.Name, GUID: p.GUID, Type: p.Type, IsSystem: p.IsSystem,
		NumberOfShards: p.NumberOfShards, ShardKeys: p.ShardKeys, ShardingStrategy: p.ShardingStrategy,
		DistributeShardsLike: p.DistributeShardsLike, KeyOptions: p.KeyOptions, Schema: orNull(p.Schema),
		ComputedValues: orNull(p.ComputedValues), Parameters: params, Indexes: indexes,
	}
	if len(p.ReplicationFactor) > 0 {
		if string(p.ReplicationFactor) == `"satellite"` {
			col.Satellite = true
		} else if err := json.Unmarshal(p.ReplicationFactor, &col.ReplicationFactor); err != nil {
			return nil, fmt.Errorf("collection %q: replicationFactor %s: %w", p.Name, p.ReplicationFactor, err)
		}
	}
	switch {
	case p.WriteConcern != nil:
		col.WriteConcern = *p.WriteConcern
	case p.MinReplicationFactor != nil:
		col.WriteConcern = *p.MinReplicationFactor
	}
	shards, err := ShardsInOrder(p.Shards)
	if err != nil {
		return nil, fmt.Errorf("collection %q: %w", p.Name, err)
	}
	col.Shards = shards
	if col.NumberOfShards == 0 {
		col.NumberOfShards = len(shards)
	}
	return col, nil
}

func orNull(r json.RawMessage) json.RawMessage {
	if len(r) == 0 {
		return json.RawMessage("null")
	}
	return r
}

// ShardsInOrder turns a shard map (name → servers, leader first) into the
// shards in index order: ascending numeric shard id.
func ShardsInOrder(m map[string][]string) ([]Shard, error) {
	out := make([]Shard, 0, len(m))
	for name, servers := range m {
		id, err := ShardID(name)
		if err != nil {
			return nil, err
		}
		s := Shard{Name: name, ID: id}
		if len(servers) > 0 {
			s.Leader = servers[0]
			s.Followers = append([]string(nil), servers[1:]...)
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Shard) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	for i := range out {
		out[i].Index = i
	}
	return out, nil
}

// ShardID parses "s<id>".
func ShardID(name string) (uint64, error) {
	if !strings.HasPrefix(name, "s") {
		return 0, fmt.Errorf("shard name %q does not start with 's'", name)
	}
	id, err := strconv.ParseUint(name[1:], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("shard name %q: %w", name, err)
	}
	return id, nil
}

func cmpID(a, b string) int {
	ai, errA := strconv.ParseUint(a, 10, 64)
	bi, errB := strconv.ParseUint(b, 10, 64)
	if errA == nil && errB == nil {
		switch {
		case ai < bi:
			return -1
		case ai > bi:
			return 1
		}
		return 0
	}
	return strings.Compare(a, b)
}

// Shards reads a collection's shards with their servers
// (GET /_db/<db>/_api/collection/<name>/shards?details=true).
func (c *Client) Shards(ctx context.Context, db, collection string) ([]Shard, error) {
	path := DBPath(db, "_api/collection", url.PathEscape(collection), "shards")
	resp, err := c.coord.Do(ctx, Request{Method: "GET", Path: path, Query: url.Values{"details": {"true"}},
		What: fmt.Sprintf("collection %q of database %q", collection, db)}, 200)
	if err != nil {
		return nil, err
	}
	var body struct {
		Shards map[string][]string `json:"shards"`
	}
	if err := json.Unmarshal(resp.Body, &body); err != nil {
		return nil, failure.Permanent(fmt.Errorf("GET %s: %w", path, err))
	}
	return ShardsInOrder(body.Shards)
}

// Topology reads the whole cluster: health, databases and every database's
// inventory. A database dropped between the listing and its inventory is
// left out.
func (c *Client) Topology(ctx context.Context, includeSystem bool) (*Topology, error) {
	servers, err := c.Health(ctx)
	if err != nil {
		return nil, err
	}
	names, err := c.Databases(ctx)
	if err != nil {
		return nil, err
	}
	t := &Topology{Servers: servers, Databases: make(map[string]*Database, len(names))}
	for _, n := range names {
		d, err := c.Inventory(ctx, n, includeSystem)
		if err != nil {
			if IsErrorNum(err, ErrNumDatabaseNotFound) {
				continue
			}
			return nil, err
		}
		t.Databases[n] = d
	}
	c.mu.Lock()
	for id, s := range servers {
		if s.Endpoint != "" {
			c.endpoints[id] = HTTPEndpoint(s.Endpoint)
		}
	}
	c.mu.Unlock()
	return t, nil
}
