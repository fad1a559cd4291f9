package arangosim

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// DatabaseOptions are the options of POST /_api/database.
type DatabaseOptions struct {
	Sharding          string
	ReplicationFactor int
	WriteConcern      int
}

// systemCollections are created in every database; _system gets the extra ones.
var (
	systemCollections      = []string{"_analyzers", "_appbundles", "_apps", "_aqlfunctions", "_frontend", "_graphs", "_jobs", "_queues"}
	systemOnlyCollections  = []string{"_users", "_statistics", "_statistics15", "_statisticsRaw"}
	systemReplicationLimit = 2
)

func validDatabaseName(name string) bool {
	if name == "" || len(name) > 128 || strings.ContainsAny(name, "/:") {
		return false
	}
	if name[0] >= '0' && name[0] <= '9' || name[0] == ' ' || name[len(name)-1] == ' ' {
		return false
	}
	if name[0] == '_' && name != "_system" {
		return false
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

func validCollectionName(name string, system bool) bool {
	if name == "" || len(name) > 256 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	if name[0] == '_' {
		return system
	}
	return name[0] >= 'a' && name[0] <= 'z' || name[0] >= 'A' && name[0] <= 'Z'
}

// Database returns a database of the catalog.
func (c *Cluster) Database(name string) (*Database, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	d, ok := c.dbs[name]
	return d, ok
}

// CreateDatabase creates a database with its system collections.
func (c *Cluster) CreateDatabase(name string, opts DatabaseOptions) (*Database, error) {
	if !validDatabaseName(name) {
		return nil, newErr(http.StatusBadRequest, errNumDatabaseNameInvalid, "database name invalid")
	}
	c.mu.Lock()
	if _, ok := c.dbs[name]; ok {
		c.mu.Unlock()
		return nil, newErr(http.StatusConflict, errNumDuplicateName, "duplicate database name '"+name+"'")
	}
	if opts.ReplicationFactor <= 0 {
		opts.ReplicationFactor = 1
	}
	if opts.WriteConcern <= 0 {
		opts.WriteConcern = 1
	}
	db := &Database{
		c: c, ID: c.nextID(), Name: name, Sharding: opts.Sharding,
		ReplicationFactor: opts.ReplicationFactor, WriteConcern: opts.WriteConcern,
		colls: make(map[string]*Collection), byID: make(map[uint64]*Collection),
		views: make(map[string]*View), analyzers: make(map[string]*Analyzer),
	}
	c.dbs[name] = db
	c.mu.Unlock()
	for _, s := range c.dbservers {
		s.mu.Lock()
		s.dbs[name] = db.ID
		s.mu.Unlock()
		s.logCatalog(databaseMarker(MarkerDatabaseCreate, db))
	}
	names := slices.Clone(systemCollections)
	if name == "_system" {
		names = append(names, systemOnlyCollections...)
	}
	rf := min(systemReplicationLimit, len(c.dbservers))
	for _, n := range names {
		if _, err := c.CreateCollection(db, CollectionSpec{Name: n, IsSystem: true, ReplicationFactor: rf}); err != nil {
			return nil, err
		}
	}
	c.persistCatalog()
	return db, nil
}

// DropDatabase removes a database and every shard of it.
func (c *Cluster) DropDatabase(name string) error {
	if name == "_system" {
		return newErr(http.StatusForbidden, errNumUseSystemDatabase, "operation only allowed in system database")
	}
	c.mu.Lock()
	db, ok := c.dbs[name]
	if !ok {
		c.mu.Unlock()
		return newErr(http.StatusNotFound, errNumDatabaseNotFound, "database not found")
	}
	delete(c.dbs, name)
	db.dropped = true
	var shards []*Shard
	for _, col := range db.colls {
		col.dropped.Store(true)
		shards = append(shards, col.Shards...)
	}
	c.mu.Unlock()
	for _, s := range c.dbservers {
		s.mu.Lock()
		var dropped []*Shard
		for _, sh := range shards {
			if _, ok := s.replicas[sh.Name]; ok {
				dropped = append(dropped, sh)
			}
			delete(s.replicas, sh.Name)
		}
		delete(s.dbs, name)
		s.mu.Unlock()
		if c.persist != nil {
			for _, sh := range dropped {
				c.persist.truncateReplica(s, sh)
			}
		}
		s.logCatalog(databaseMarker(MarkerDatabaseDrop, db))
	}
	c.trx.dropDatabase(name)
	c.persistCatalog()
	return nil
}

// Databases returns the database names, sorted.
func (c *Cluster) Databases() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.dbs))
	for n := range c.dbs {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// CollectionSpec are the creation options of a collection.
type CollectionSpec struct {
	Name                 string
	Type                 int
	IsSystem             bool
	WaitForSync          bool
	Schema               []byte
	ComputedValues       []byte
	CacheEnabled         bool
	KeyType              string
	AllowUserKeys        *bool
	KeyIncrement         uint64
	KeyOffset            uint64
	NumberOfShards       int
	ShardKeys            []string
	ReplicationFactor    int // 0 = database default; -1 = satellite
	WriteConcern         int
	DistributeShardsLike string
	ShardingStrategy     string
	// NoEnforceReplicationFactor (enforceReplicationFactor=false) creates the collection
	// even when fewer DB-Servers than replicationFactor are up; shards get fewer replicas.
	NoEnforceReplicationFactor bool
}

// Collection returns a collection of a database by name or by numeric id.
func (db *Database) Collection(nameOrID string) (*Collection, bool) {
	db.c.mu.RLock()
	defer db.c.mu.RUnlock()
	return db.collection(nameOrID)
}

// collection is Collection with Cluster.mu held.
func (db *Database) collection(nameOrID string) (*Collection, bool) {
	if col, ok := db.colls[nameOrID]; ok {
		return col, true
	}
	if id, err := strconv.ParseUint(nameOrID, 10, 64); err == nil {
		col, ok := db.byID[id]
		return col, ok
	}
	return nil, false
}

// Collections returns the collections sorted by name.
func (db *Database) Collections() []*Collection {
	db.c.mu.RLock()
	defer db.c.mu.RUnlock()
	out := make([]*Collection, 0, len(db.colls))
	for _, col := range db.colls {
		out = append(out, col)
	}
	slices.SortFunc(out, func(a, b *Collection) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// CreateCollection creates a collection, places its shards and logs the creation on
// every DB-Server holding a replica.
func (c *Cluster) CreateCollection(db *Database, spec CollectionSpec) (*Collection, error) {
	if !validCollectionName(spec.Name, spec.IsSystem || strings.HasPrefix(spec.Name, "_")) {
		return nil, newErr(http.StatusBadRequest, errNumIllegalName, "illegal name: collection name invalid")
	}
	if spec.Type == 0 {
		spec.Type = 2
	}
	if spec.Type != 2 && spec.Type != 3 {
		return nil, newErr(http.StatusBadRequest, errNumBadParameter, "invalid collection type")
	}
	p := CollectionProps{
		WaitForSync: spec.WaitForSync, Schema: spec.Schema, ComputedValues: spec.ComputedValues,
		CacheEnabled: spec.CacheEnabled, KeyType: spec.KeyType, AllowUserKeys: true,
		KeyIncrement: spec.KeyIncrement, KeyOffset: spec.KeyOffset,
		NumberOfShards: spec.NumberOfShards, ShardKeys: spec.ShardKeys,
		ReplicationFactor: spec.ReplicationFactor, WriteConcern: spec.WriteConcern,
		DistributeShardsLike: spec.DistributeShardsLike, ShardingStrategy: spec.ShardingStrategy,
	}
	if spec.AllowUserKeys != nil {
		p.AllowUserKeys = *spec.AllowUserKeys
	}
	if p.KeyType == "" {
		p.KeyType = "traditional"
	}
	switch p.KeyType {
	case "traditional", "autoincrement", "uuid", "padded":
	default:
		return nil, newErr(http.StatusBadRequest, errNumBadParameter, "invalid key generator type")
	}
	if p.KeyType == "autoincrement" {
		if p.KeyIncrement == 0 {
			p.KeyIncrement = 1
		}
	}
	if p.ShardingStrategy == "" {
		p.ShardingStrategy = "hash"
	}
	if len(p.ShardKeys) == 0 {
		p.ShardKeys = []string{"_key"}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if db.dropped {
		return nil, newErr(http.StatusNotFound, errNumDatabaseNotFound, "database not found")
	}
	if _, ok := db.colls[spec.Name]; ok {
		return nil, newErr(http.StatusConflict, errNumDuplicateName, "duplicate name")
	}
	if _, ok := db.views[spec.Name]; ok {
		return nil, newErr(http.StatusConflict, errNumDuplicateName, "duplicate name")
	}
	var proto *Collection
	if p.DistributeShardsLike != "" {
		pr, ok := db.colls[p.DistributeShardsLike]
		if !ok {
			return nil, newErr(http.StatusBadRequest, errNumUnknownDistShards,
				"Collection not found: "+p.DistributeShardsLike+" in database "+db.Name)
		}
		proto = pr
		p.NumberOfShards = pr.Props.NumberOfShards
		p.ReplicationFactor = pr.Props.ReplicationFactor
		p.WriteConcern = pr.Props.WriteConcern
		p.ShardingStrategy = pr.Props.ShardingStrategy
	} else if spec.IsSystem && spec.Name != "_graphs" && strings.HasPrefix(spec.Name, "_") {
		if g, ok := db.colls["_graphs"]; ok && g.IsSystem {
			proto = g
			p.DistributeShardsLike = "_graphs"
			p.NumberOfShards = g.Props.NumberOfShards
			p.ReplicationFactor = g.Props.ReplicationFactor
			p.WriteConcern = g.Props.WriteConcern
		}
	}
	if p.NumberOfShards <= 0 {
		p.NumberOfShards = 1
	}
	if db.Sharding == "single" && proto == nil && !spec.IsSystem {
		p.NumberOfShards = 1
	}
	if p.NumberOfShards > 1000 {
		return nil, newErr(http.StatusBadRequest, errNumBadParameter, "too many shards")
	}
	if p.ReplicationFactor == 0 {
		p.ReplicationFactor = db.ReplicationFactor
	}
	if p.ReplicationFactor < 0 { // satellite
		p.ReplicationFactor = 0
	}
	rf := p.ReplicationFactor
	if rf == 0 {
		rf = len(c.dbservers)
	}
	if p.WriteConcern <= 0 {
		p.WriteConcern = min(db.WriteConcern, max(rf, 1))
	}
	if p.WriteConcern > rf {
		return nil, newErr(http.StatusBadRequest, errNumBadParameter, "writeConcern must not be higher than replicationFactor")
	}
	if p.KeyType == "autoincrement" && p.NumberOfShards > 1 {
		return nil, newErr(http.StatusNotImplemented, errNumClusterUnsupported,
			"the specified key generator is not supported for collections with more than one shard")
	}
	up := c.upDBServersLocked()
	if rf > len(up) && proto == nil {
		if !spec.NoEnforceReplicationFactor || rf > len(c.dbservers) {
			return nil, newErr(http.StatusBadRequest, errNumInsufficientDBSrv,
				"replicationFactor is too large for the number of DBservers")
		}
		rf = len(up)
	}
	col := &Collection{DB: db, ID: c.nextID(), Name: spec.Name, Type: spec.Type, IsSystem: spec.IsSystem, Props: p}
	col.keySeq.Store(p.KeyOffset)
	for i := 0; i < p.NumberOfShards; i++ {
		sh := &Shard{Coll: col, ID: c.nextID()}
		sh.Name = "s" + strconv.FormatUint(sh.ID, 10)
		sh.guid = shardGUID(col.ID, sh.Name)
		if proto != nil && i < len(proto.Shards) {
			sh.servers = slices.Clone(proto.Shards[i].servers)
		} else {
			start := int(sh.ID) % len(up)
			for j := 0; j < rf; j++ {
				sh.servers = append(sh.servers, up[(start+j)%len(up)])
			}
		}
		col.Shards = append(col.Shards, sh)
	}
	col.Indexes = []*Index{primaryIndex()}
	if col.Type == 3 {
		col.Indexes = append(col.Indexes, edgeIndex(c.nextID()))
	}
	db.colls[col.Name] = col
	db.byID[col.ID] = col
	for _, sh := range col.Shards {
		for _, s := range sh.servers {
			s.addReplica(sh)
		}
	}
	c.persistCatalogLocked()
	return col, nil
}

// addReplica creates this server's replica of a shard and logs the creation.
func (s *Server) addReplica(sh *Shard) *Replica {
	s.mu.Lock()
	r, ok := s.replicas[sh.Name]
	if !ok {
		r = newReplica(sh, s)
		s.replicas[sh.Name] = r
	}
	s.mu.Unlock()
	if !ok {
		s.logCatalog(collectionMarker(MarkerCollectionCreate, sh, shardDefinition(sh)))
	}
	return r
}

// dropReplica removes this server's replica of a shard and logs the drop.
func (s *Server) dropReplica(sh *Shard) {
	s.mu.Lock()
	_, ok := s.replicas[sh.Name]
	delete(s.replicas, sh.Name)
	s.mu.Unlock()
	if ok {
		s.logCatalog(collectionMarker(MarkerCollectionDrop, sh, nil))
		if s.c.persist != nil {
			s.c.persist.truncateReplica(s, sh)
		}
	}
}

// logCatalog appends one catalog marker as its own write batch.
func (s *Server) logCatalog(m pendingMarker) {
	s.commitMu.RLock()
	s.wal.append([]pendingMarker{m})
	s.commitMu.RUnlock()
}

func (c *Cluster) upDBServersLocked() []*Server {
	var out []*Server
	for _, s := range c.dbservers {
		if s.up.Load() || !s.everStarted() {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return c.dbservers
	}
	return out
}

// everStarted is false during bootstrap, before the listeners exist.
func (s *Server) everStarted() bool {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	return s.port != 0
}

// DropCollection drops a collection and its shards.
func (c *Cluster) DropCollection(col *Collection) error {
	c.mu.Lock()
	db := col.DB
	if cur, ok := db.colls[col.Name]; !ok || cur != col {
		c.mu.Unlock()
		return newErr(http.StatusNotFound, errNumDataSourceNotFound, "collection or view not found")
	}
	for _, other := range db.colls {
		if other.Props.DistributeShardsLike == col.Name && other != col && !col.IsSystem {
			c.mu.Unlock()
			return newErr(http.StatusConflict, errNumBadParameter,
				"Collection '"+col.Name+"' must not be dropped while '"+other.Name+"' has distributeShardsLike set to '"+col.Name+"'.")
		}
	}
	delete(db.colls, col.Name)
	delete(db.byID, col.ID)
	col.dropped.Store(true)
	type rep struct {
		s  *Server
		sh *Shard
	}
	var reps []rep
	for _, sh := range col.Shards {
		for _, s := range sh.servers {
			reps = append(reps, rep{s, sh})
		}
	}
	c.persistCatalogLocked()
	c.mu.Unlock()
	for _, r := range reps {
		r.s.dropReplica(r.sh)
	}
	return nil
}

// RenameCollection renames a collection (single-server API; also allowed here).
func (c *Cluster) RenameCollection(col *Collection, newName string) error {
	if !validCollectionName(newName, col.IsSystem) {
		return newErr(http.StatusBadRequest, errNumIllegalName, "illegal name: collection name invalid")
	}
	// Writers render the name while holding their shard locks: hold them all.
	shardsByID := slices.Clone(col.Shards)
	slices.SortFunc(shardsByID, func(a, b *Shard) int { return cmpUint(a.ID, b.ID) })
	for _, sh := range shardsByID {
		sh.mu.Lock()
	}
	defer func() {
		for _, sh := range shardsByID {
			sh.mu.Unlock()
		}
	}()
	c.mu.Lock()
	db := col.DB
	if _, ok := db.colls[newName]; ok {
		c.mu.Unlock()
		return newErr(http.StatusConflict, errNumDuplicateName, "duplicate name")
	}
	if _, ok := db.views[newName]; ok {
		c.mu.Unlock()
		return newErr(http.StatusConflict, errNumDuplicateName, "duplicate name")
	}
	delete(db.colls, col.Name)
	col.Name = newName
	db.colls[newName] = col
	shards := c.shardPlacementLocked(col)
	c.persistCatalogLocked()
	c.mu.Unlock()
	for sh, servers := range shards {
		for _, s := range servers {
			s.logCatalog(collectionMarker(MarkerCollectionRename, sh, obj("name", sh.Name)))
		}
	}
	return nil
}

// ChangeCollection logs a properties change (2003) on every replica.
func (c *Cluster) ChangeCollection(col *Collection, change func(p *CollectionProps)) {
	c.mu.Lock()
	change(&col.Props)
	shards := c.shardPlacementLocked(col)
	defs := make(map[*Shard][]byte, len(shards))
	for sh := range shards {
		defs[sh] = shardDefinition(sh)
	}
	c.persistCatalogLocked()
	c.mu.Unlock()
	for sh, servers := range shards {
		for _, s := range servers {
			s.logCatalog(collectionMarker(MarkerCollectionChange, sh, defs[sh]))
		}
	}
}

func (c *Cluster) shardPlacementLocked(col *Collection) map[*Shard][]*Server {
	out := make(map[*Shard][]*Server, len(col.Shards))
	for _, sh := range col.Shards {
		out[sh] = slices.Clone(sh.servers)
	}
	return out
}

// props returns the collection properties in the order arangod prints them.
func (col *Collection) props(withShardKeys bool) []field {
	p := col.Props
	rf := any(p.ReplicationFactor)
	if p.ReplicationFactor == 0 {
		rf = "satellite"
	}
	ko := []field{{"allowUserKeys", boolJSON(p.AllowUserKeys)}, {"type", quoteJSON(p.KeyType)}}
	if p.KeyType == "autoincrement" {
		ko = append(ko, field{"offset", []byte(strconv.FormatUint(p.KeyOffset, 10))},
			field{"increment", []byte(strconv.FormatUint(p.KeyIncrement, 10))})
	}
	fs := []field{
		{"writeConcern", intJSON(p.WriteConcern)},
		{"waitForSync", boolJSON(p.WaitForSync)},
		{"usesRevisionsAsDocumentIds", boolJSON(true)},
		{"syncByRevision", boolJSON(true)},
		{"supportsRBAC", boolJSON(true)},
		{"shardingStrategy", quoteJSON(p.ShardingStrategy)},
		{"schema", rawOrNull(p.Schema)},
		{"numberOfShards", intJSON(p.NumberOfShards)},
		{"minReplicationFactor", intJSON(p.WriteConcern)},
		{"id", quoteJSON(strconv.FormatUint(col.ID, 10))},
		{"isSmartChild", boolJSON(false)},
		{"name", quoteJSON(col.Name)},
		{"statusString", quoteJSON("loaded")},
		{"isSmart", boolJSON(false)},
		{"replicationFactor", mustJSON(rf)},
		{"type", intJSON(col.Type)},
		{"status", intJSON(3)},
		{"cacheEnabled", boolJSON(p.CacheEnabled)},
		{"isSystem", boolJSON(col.IsSystem)},
		{"computedValues", rawOrNull(p.ComputedValues)},
		{"internalValidatorType", intJSON(0)},
		{"globallyUniqueId", quoteJSON(col.guid())},
	}
	if p.DistributeShardsLike != "" {
		fs = append(fs, field{"distributeShardsLike", quoteJSON(p.DistributeShardsLike)})
	}
	if withShardKeys {
		sk, _ := jsonMarshal(p.ShardKeys)
		fs = append(fs, field{"shardKeys", sk})
	}
	fs = append(fs, field{"isDisjoint", boolJSON(false)}, field{"keyOptions", fieldsToObject(ko)})
	return fs
}

// guid is the cluster-level globallyUniqueId (c<planId>/ on Coordinators), or the name
// for system collections.
func (col *Collection) guid() string {
	if col.IsSystem {
		return col.Name
	}
	return "c" + strconv.FormatUint(col.ID, 10) + "/"
}

// shardDefinition is the collection definition of a shard as a DB-Server logs it.
func shardDefinition(sh *Shard) []byte {
	col := sh.Coll
	fs := []field{
		{"cid", quoteJSON(strconv.FormatUint(sh.ID, 10))},
		{"id", quoteJSON(strconv.FormatUint(sh.ID, 10))},
		{"planId", quoteJSON(strconv.FormatUint(col.ID, 10))},
		{"name", quoteJSON(sh.Name)},
		{"type", intJSON(col.Type)},
		{"isSystem", boolJSON(col.IsSystem)},
		{"waitForSync", boolJSON(col.Props.WaitForSync)},
		{"globallyUniqueId", quoteJSON(sh.GUID())},
		{"keyOptions", obj("allowUserKeys", col.Props.AllowUserKeys, "type", col.Props.KeyType)},
		{"numberOfShards", intJSON(col.Props.NumberOfShards)},
		{"replicationFactor", intJSON(col.Props.ReplicationFactor)},
		{"writeConcern", intJSON(col.Props.WriteConcern)},
		{"schema", rawOrNull(col.Props.Schema)},
		{"computedValues", rawOrNull(col.Props.ComputedValues)},
		{"syncByRevision", boolJSON(true)},
		{"usesRevisionsAsDocumentIds", boolJSON(true)},
	}
	sk, _ := jsonMarshal(col.Props.ShardKeys)
	fs = append(fs, field{"shardKeys", sk})
	return fieldsToObject(fs)
}

func boolJSON(b bool) []byte {
	if b {
		return []byte("true")
	}
	return []byte("false")
}

func intJSON(i int) []byte      { return []byte(strconv.Itoa(i)) }
func quoteJSON(s string) []byte { return appendQuoted(nil, s) }
func mustJSON(v any) []byte     { b, _ := jsonMarshal(v); return b }
func rawOrNull(b []byte) []byte {
	if len(b) == 0 {
		return []byte("null")
	}
	return b
}

// CurrentName returns the collection's name under the catalog lock (it changes on rename).
func (col *Collection) CurrentName() string {
	col.DB.c.mu.RLock()
	defer col.DB.c.mu.RUnlock()
	return col.Name
}
