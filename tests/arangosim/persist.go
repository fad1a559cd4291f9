package arangosim

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// persister keeps the cluster in Pebble (Config.DataDir): the catalog as one JSON record
// rewritten at every catalog change, every replica's documents, every WAL marker and
// each WAL's bounds. Writes use NoSync batches (a process crash may lose the last
// writes; a clean Close flushes).
//
// Keys:
//
//	catalog                         JSON pCatalog
//	d/<server>/<shard>/<key>        document (rev, from, to, attrs)
//	w/<server>/<tick:8 bytes BE>    WAL marker (JSON pMarker)
//	m/<server>                      WAL bounds: last, pruned (16 bytes)
type persister struct {
	c      *Cluster
	db     *pebble.DB
	mu     sync.Mutex // serializes catalog writes
	closed bool
}

type pField struct {
	K string          `json:"k"`
	V json.RawMessage `json:"v"`
}

type pIndex struct {
	ID     uint64   `json:"id"`
	Type   string   `json:"type"`
	Name   string   `json:"name"`
	Fields []string `json:"fields"`
	Unique bool     `json:"unique"`
	Sparse bool     `json:"sparse"`
	Def    []pField `json:"def"`
}

type pShard struct {
	ID      uint64 `json:"id"`
	Name    string `json:"name"`
	Servers []int  `json:"servers"` // indexes into pCatalog.Servers
}

type pColl struct {
	ID       uint64          `json:"id"`
	Name     string          `json:"name"`
	Type     int             `json:"type"`
	IsSystem bool            `json:"isSystem"`
	Props    CollectionProps `json:"props"`
	KeySeq   uint64          `json:"keySeq"`
	Shards   []pShard        `json:"shards"`
	Indexes  []pIndex        `json:"indexes"`
}

type pView struct {
	ID   uint64   `json:"id"`
	Name string   `json:"name"`
	Type string   `json:"type"`
	Def  []pField `json:"def"`
}

type pDB struct {
	ID                uint64   `json:"id"`
	Name              string   `json:"name"`
	Sharding          string   `json:"sharding"`
	ReplicationFactor int      `json:"replicationFactor"`
	WriteConcern      int      `json:"writeConcern"`
	Colls             []pColl  `json:"colls"`
	Views             []pView  `json:"views"`
	Analyzers         []pView  `json:"analyzers"`
	Replicas          []string `json:"-"`
}

type pServer struct {
	ID        string `json:"id"`
	ShortName string `json:"shortName"`
	Role      int    `json:"role"`
	NumID     uint64 `json:"numId"`
	Port      int    `json:"port"`
	Replicas  []string
}

type pCatalog struct {
	ClusterID string    `json:"clusterId"`
	IDs       uint64    `json:"ids"`
	TIDs      uint64    `json:"tids"`
	ReadOnly  bool      `json:"readOnly"`
	Servers   []pServer `json:"servers"`
	DBs       []pDB     `json:"dbs"`
}

type pMarker struct {
	BatchStart uint64 `json:"bs"`
	BatchEnd   uint64 `json:"be"`
	Type       int    `json:"t"`
	DB         string `json:"db"`
	DBID       uint64 `json:"dbid"`
	Shard      string `json:"sh"`
	PlanID     uint64 `json:"pid"`
	System     bool   `json:"sys"`
	TID        uint64 `json:"tid"`
	JSON       string `json:"j"`
}

func toPFields(fs []field) []pField {
	out := make([]pField, len(fs))
	for i, f := range fs {
		out[i] = pField{K: f.Key, V: f.Val}
	}
	return out
}

func fromPFields(ps []pField) []field {
	out := make([]field, len(ps))
	for i, p := range ps {
		out[i] = field{Key: p.K, Val: []byte(p.V)}
	}
	return out
}

// openPersister opens (or creates) the store. ok reports that a cluster was restored.
func openPersister(c *Cluster, dir string) (*persister, bool, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		return nil, false, fmt.Errorf("arangosim: cannot open data dir %s: %w (is another arangosim using it?)", dir, err)
	}
	p := &persister{c: c, db: db}
	ok, err := p.load()
	if err != nil {
		_ = db.Close()
		return nil, false, err
	}
	return p, ok, nil
}

func (p *persister) serverIndex(s *Server) int {
	for i, x := range p.c.servers {
		if x == s {
			return i
		}
	}
	return -1
}

func docKey(si int, shard, key string) []byte {
	return []byte(fmt.Sprintf("d/%03d/%s/%s", si, shard, key))
}

func walKey(si int, tick uint64) []byte {
	k := []byte(fmt.Sprintf("w/%03d/", si))
	return binary.BigEndian.AppendUint64(k, tick)
}

func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	end[len(end)-1]++
	return end
}

func encodeDoc(d *Doc) []byte {
	b := binary.AppendUvarint(nil, d.Rev)
	b = binary.AppendUvarint(b, uint64(len(d.From)))
	b = append(b, d.From...)
	b = binary.AppendUvarint(b, uint64(len(d.To)))
	b = append(b, d.To...)
	return append(b, d.Attrs...)
}

func decodeDoc(key string, b []byte) (*Doc, error) {
	d := &Doc{Key: key}
	var n int
	d.Rev, n = binary.Uvarint(b)
	if n <= 0 {
		return nil, errors.New("bad rev")
	}
	b = b[n:]
	for _, dst := range []*string{&d.From, &d.To} {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return nil, errors.New("bad edge")
		}
		*dst = string(b[n : n+int(l)])
		b = b[n+int(l):]
	}
	d.Attrs = append([]byte(nil), b...)
	return d, nil
}

// attach installs the WAL hooks once the cluster is built or restored.
func (p *persister) attach() {
	for i, s := range p.c.servers {
		if s.wal == nil {
			continue
		}
		si := i
		s.wal.mu.Lock()
		s.wal.onAppend = func(ms []Marker) { p.saveMarkers(si, ms) }
		srv := s
		s.wal.onPrune = func(upTo uint64) { p.pruneWAL(srv, upTo) }
		s.wal.mu.Unlock()
	}
}

func (p *persister) saveMarkers(si int, ms []Marker) {
	b := p.db.NewBatch()
	defer func() { _ = b.Close() }() // only releases the batch: commit reports (logs) the write's error
	for _, m := range ms {
		v, _ := json.Marshal(pMarker{BatchStart: m.BatchStart, BatchEnd: m.BatchEnd, Type: m.Type, DB: m.DB, DBID: m.DBID,
			Shard: m.Shard, PlanID: m.PlanID, System: m.System, TID: m.TID, JSON: string(m.JSON())})
		_ = b.Set(walKey(si, m.Tick), v, nil)
	}
	last := ms[len(ms)-1].Tick
	s := p.c.servers[si]
	bounds := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, last), s.wal.Pruned())
	_ = b.Set([]byte(fmt.Sprintf("m/%03d", si)), bounds, nil)
	p.commit(b)
}

func (p *persister) commit(b *pebble.Batch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		p.c.log.Error("arangosim: persisting failed", "err", err)
	}
}

// saveChanges persists applied document changes of one server.
func (p *persister) saveChanges(s *Server, chs []change) {
	si := p.serverIndex(s)
	b := p.db.NewBatch()
	defer func() { _ = b.Close() }() // only releases the batch: commit reports (logs) the write's error
	for _, ch := range chs {
		k := docKey(si, ch.sh.Name, ch.key)
		if ch.doc == nil {
			_ = b.Delete(k, nil)
		} else {
			_ = b.Set(k, encodeDoc(ch.doc), nil)
		}
	}
	p.commit(b)
}

func (p *persister) truncateReplica(s *Server, sh *Shard) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	pre := docKey(p.serverIndex(s), sh.Name, "")
	_ = p.db.DeleteRange(pre, prefixEnd(pre), pebble.NoSync)
}

func (p *persister) pruneWAL(s *Server, upTo uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	si := p.serverIndex(s)
	_ = p.db.DeleteRange(walKey(si, 0), walKey(si, upTo+1), pebble.NoSync)
	bounds := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, s.wal.LastTick()), s.wal.Pruned())
	_ = p.db.Set([]byte(fmt.Sprintf("m/%03d", si)), bounds, pebble.NoSync)
}

func (p *persister) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	_ = p.db.Flush()
	_ = p.db.Close()
}

// persistCatalog writes the catalog (takes Cluster.mu for reading).
func (c *Cluster) persistCatalog() {
	if c.persist == nil {
		return
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	c.persistCatalogLocked()
}

// persistCatalogLocked writes the catalog; callers hold Cluster.mu.
func (c *Cluster) persistCatalogLocked() {
	p := c.persist
	if p == nil {
		return
	}
	idx := map[*Server]int{}
	cat := pCatalog{ClusterID: c.id, IDs: c.ids.Load(), TIDs: c.tids.Load(), ReadOnly: c.readOnly.Load()}
	for i, s := range c.servers {
		idx[s] = i
		s.lifeMu.Lock()
		port := s.port
		s.lifeMu.Unlock()
		cat.Servers = append(cat.Servers, pServer{ID: s.ID, ShortName: s.ShortName, Role: int(s.Role), NumID: s.numID, Port: port})
	}
	for _, db := range c.dbs {
		pd := pDB{ID: db.ID, Name: db.Name, Sharding: db.Sharding, ReplicationFactor: db.ReplicationFactor, WriteConcern: db.WriteConcern}
		for _, col := range db.colls {
			pc := pColl{ID: col.ID, Name: col.Name, Type: col.Type, IsSystem: col.IsSystem, Props: col.Props, KeySeq: col.keySeq.Load()}
			for _, sh := range col.Shards {
				ps := pShard{ID: sh.ID, Name: sh.Name}
				for _, s := range sh.servers {
					ps.Servers = append(ps.Servers, idx[s])
				}
				pc.Shards = append(pc.Shards, ps)
			}
			for _, ix := range col.Indexes {
				pc.Indexes = append(pc.Indexes, pIndex{ID: ix.ID, Type: ix.Type, Name: ix.Name, Fields: ix.Fields,
					Unique: ix.Unique, Sparse: ix.Sparse, Def: toPFields(ix.Def)})
			}
			pd.Colls = append(pd.Colls, pc)
		}
		for _, v := range db.views {
			pd.Views = append(pd.Views, pView{ID: v.ID, Name: v.Name, Type: v.Type, Def: toPFields(v.Def)})
		}
		for short, a := range db.analyzers {
			pd.Analyzers = append(pd.Analyzers, pView{Name: short, Type: a.Name, Def: toPFields(a.Def)})
		}
		cat.DBs = append(cat.DBs, pd)
	}
	b, err := json.Marshal(cat)
	if err != nil {
		c.log.Error("arangosim: catalog encoding failed", "err", err)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	_ = p.db.Set([]byte("catalog"), b, pebble.NoSync)
}

// load restores the cluster from the store. It reports false for an empty store.
func (p *persister) load() (bool, error) {
	c := p.c
	raw, closer, err := p.db.Get([]byte("catalog"))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var cat pCatalog
	err = json.Unmarshal(raw, &cat)
	_ = closer.Close() // read-only: releases the value
	if err != nil {
		return false, fmt.Errorf("arangosim: corrupt catalog in data dir: %w (remove the folder to start afresh)", err)
	}
	if len(cat.Servers) != len(c.servers) {
		return false, fmt.Errorf("arangosim: the data dir holds a cluster of %d servers but %d were asked for: use the same --coordinators/--dbservers or another --data-dir",
			len(cat.Servers), len(c.servers))
	}
	for i, ps := range cat.Servers {
		s := c.servers[i]
		if int(s.Role) != ps.Role {
			return false, errors.New("arangosim: the data dir holds servers of other roles: use the same --coordinators/--dbservers")
		}
		s.ID, s.ShortName, s.numID, s.port = ps.ID, ps.ShortName, ps.NumID, ps.Port
	}
	c.id = cat.ClusterID
	c.ids.Store(cat.IDs)
	c.tids.Store(cat.TIDs)
	c.readOnly.Store(cat.ReadOnly)
	shardsByName := map[string]*Shard{}
	for _, pd := range cat.DBs {
		db := &Database{c: c, ID: pd.ID, Name: pd.Name, Sharding: pd.Sharding, ReplicationFactor: pd.ReplicationFactor,
			WriteConcern: pd.WriteConcern, colls: map[string]*Collection{}, byID: map[uint64]*Collection{},
			views: map[string]*View{}, analyzers: map[string]*Analyzer{}}
		for _, pc := range pd.Colls {
			col := &Collection{DB: db, ID: pc.ID, Name: pc.Name, Type: pc.Type, IsSystem: pc.IsSystem, Props: pc.Props}
			col.keySeq.Store(pc.KeySeq)
			for _, ps := range pc.Shards {
				sh := &Shard{Coll: col, ID: ps.ID, Name: ps.Name, guid: shardGUID(col.ID, ps.Name)}
				for _, si := range ps.Servers {
					if si < 0 || si >= len(c.servers) {
						return false, errors.New("arangosim: corrupt shard placement in data dir")
					}
					sh.servers = append(sh.servers, c.servers[si])
				}
				col.Shards = append(col.Shards, sh)
				shardsByName[sh.Name] = sh
				for _, s := range sh.servers {
					s.replicas[sh.Name] = newReplica(sh, s)
				}
			}
			for _, pi := range pc.Indexes {
				col.Indexes = append(col.Indexes, &Index{ID: pi.ID, Type: pi.Type, Name: pi.Name, Fields: pi.Fields,
					Unique: pi.Unique, Sparse: pi.Sparse, Def: fromPFields(pi.Def)})
			}
			db.colls[col.Name] = col
			db.byID[col.ID] = col
		}
		for _, pv := range pd.Views {
			db.views[pv.Name] = &View{ID: pv.ID, Name: pv.Name, Type: pv.Type, Def: fromPFields(pv.Def)}
		}
		for _, pa := range pd.Analyzers {
			db.analyzers[pa.Name] = &Analyzer{Name: pa.Type, Def: fromPFields(pa.Def)}
		}
		c.dbs[db.Name] = db
		for _, s := range c.dbservers {
			s.dbs[db.Name] = db.ID
		}
	}
	// Documents.
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: []byte("d/"), UpperBound: []byte("d0")})
	if err != nil {
		return false, err
	}
	var maxRev, maxID uint64
	for it.First(); it.Valid(); it.Next() {
		parts := strings.SplitN(string(it.Key()), "/", 4)
		if len(parts) != 4 {
			continue
		}
		var si int
		_, _ = fmt.Sscanf(parts[1], "%d", &si) // docKey writes %03d; as before, a key that does not parse counts as server 0
		if si < 0 || si >= len(c.servers) {
			continue
		}
		rp, ok := c.servers[si].replicas[parts[2]]
		if !ok {
			continue
		}
		d, err := decodeDoc(parts[3], it.Value())
		if err != nil {
			_ = it.Close()
			return false, fmt.Errorf("arangosim: corrupt document %q in data dir: %w", it.Key(), err)
		}
		rp.docs[d.Key] = d
		maxRev = max(maxRev, d.Rev)
		// Generated keys come from the id sequence (traditional, padded) or the
		// collection's counter (autoincrement): never hand out a stored key again.
		col := rp.Shard.Coll
		switch col.Props.KeyType {
		case "padded":
			if v, err := strconv.ParseUint(d.Key, 16, 64); err == nil && len(d.Key) == 16 {
				maxID = max(maxID, v)
			}
		case "autoincrement":
			if v, err := strconv.ParseUint(d.Key, 10, 64); err == nil && v > col.keySeq.Load() {
				col.keySeq.Store(v)
			}
		default:
			if v, err := strconv.ParseUint(d.Key, 10, 64); err == nil {
				maxID = max(maxID, v)
			}
		}
	}
	if maxID >= c.ids.Load() {
		c.ids.Store(maxID + 1)
	}
	if err := it.Close(); err != nil {
		return false, err
	}
	c.clock.Observe(maxRev)
	// Unique indexes.
	for _, sh := range shardsByName {
		for _, ix := range sh.Coll.Indexes {
			if ix.Unique && ix.Type == "persistent" {
				for _, s := range sh.servers {
					_ = s.replicas[sh.Name].buildUnique(sh.Coll, ix)
				}
			}
		}
	}
	// WALs.
	for si, s := range c.servers {
		if s.wal == nil {
			continue
		}
		var last, pruned uint64
		if v, cl, err := p.db.Get([]byte(fmt.Sprintf("m/%03d", si))); err == nil {
			if len(v) == 16 {
				last, pruned = binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:])
			}
			_ = cl.Close() // read-only: releases the value
		}
		lo := walKey(si, 0)
		it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd([]byte(fmt.Sprintf("w/%03d/", si)))})
		if err != nil {
			return false, err
		}
		var ms []Marker
		for it.First(); it.Valid(); it.Next() {
			k := it.Key()
			tick := binary.BigEndian.Uint64(k[len(k)-8:])
			var pm pMarker
			if err := json.Unmarshal(it.Value(), &pm); err != nil {
				_ = it.Close()
				return false, fmt.Errorf("arangosim: corrupt WAL marker in data dir: %w", err)
			}
			if pm.TID >= c.tids.Load() {
				c.tids.Store(pm.TID + 1)
			}
			ms = append(ms, Marker{Tick: tick, BatchStart: pm.BatchStart, BatchEnd: pm.BatchEnd, Type: pm.Type, TID: pm.TID,
				markerSrc: &markerSrc{DB: pm.DB, DBID: pm.DBID, Shard: pm.Shard, PlanID: pm.PlanID, System: pm.System, head: []byte(pm.JSON)}})
			last = max(last, tick)
		}
		if err := it.Close(); err != nil {
			return false, err
		}
		s.wal.entries = nil
		s.wal.last = 0
		s.wal.restore(ms, last, pruned)
	}
	// Users.
	if sys, ok := c.dbs["_system"]; ok {
		if col, ok := sys.colls["_users"]; ok {
			for _, sh := range col.Shards {
				if len(sh.servers) == 0 {
					continue
				}
				for _, d := range sh.servers[0].replicas[sh.Name].docs {
					if u := userFromDoc(d); u != nil {
						c.users.put(u)
					}
				}
			}
		}
	}
	return true, nil
}

// userFromDoc rebuilds a user from its _users document.
func userFromDoc(d *Doc) *userRecord {
	var ud struct {
		User     string `json:"user"`
		AuthData struct {
			Active bool `json:"active"`
			Simple struct {
				Hash string `json:"hash"`
				Salt string `json:"salt"`
			} `json:"simple"`
		} `json:"authData"`
		Databases map[string]struct {
			Permissions *struct {
				Read  bool `json:"read"`
				Write bool `json:"write"`
			} `json:"permissions"`
			Collections map[string]struct {
				Permissions struct {
					Read  bool `json:"read"`
					Write bool `json:"write"`
				} `json:"permissions"`
			} `json:"collections"`
		} `json:"databases"`
		UserData json.RawMessage `json:"userData"`
	}
	if err := json.Unmarshal([]byte("{"+string(d.Attrs)+"}"), &ud); err != nil || ud.User == "" {
		return nil
	}
	level := func(r, w bool) string {
		switch {
		case w:
			return "rw"
		case r:
			return "ro"
		}
		return "none"
	}
	u := &userRecord{Key: d.Key, Name: ud.User, Active: ud.AuthData.Active, Salt: ud.AuthData.Simple.Salt,
		Hash: ud.AuthData.Simple.Hash, Extra: ud.UserData, DBs: map[string]string{}, Colls: map[string]map[string]string{}}
	for db, e := range ud.Databases {
		if e.Permissions != nil {
			u.DBs[db] = level(e.Permissions.Read, e.Permissions.Write)
		}
		for coll, ce := range e.Collections {
			if u.Colls[db] == nil {
				u.Colls[db] = map[string]string{}
			}
			u.Colls[db][coll] = level(ce.Permissions.Read, ce.Permissions.Write)
		}
	}
	return u
}

// quietLogger drops Pebble's informational logs (they would clutter stdout/stderr).
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)              {}
func (quietLogger) Errorf(format string, args ...any) {}
func (quietLogger) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
