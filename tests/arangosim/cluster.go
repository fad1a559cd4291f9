package arangosim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Role is a server's role in the cluster.
type Role int

// Server roles.
const (
	RoleCoordinator Role = iota + 1
	RoleDBServer
)

// String returns the role as /_admin/server/role names it.
func (r Role) String() string {
	if r == RoleDBServer {
		return "PRIMARY"
	}
	return "COORDINATOR"
}

// healthRole returns the role as /_admin/cluster/health names it.
func (r Role) healthRole() string {
	if r == RoleDBServer {
		return "DBServer"
	}
	return "Coordinator"
}

// Cluster is a running simulated cluster.
//
// Locking order (never the reverse): Shard.mu (one shard's writes, all replicas) →
// Cluster.mu (catalog) → Server.commitMu (read side for writes, write side for
// snapshots) → Server.mu (brief, never held while taking another lock but Replica.mu)
// → Replica.mu → WAL.mu → persister.mu. Nothing takes Cluster.mu while holding
// commitMu or a replica lock. No lock is held across network I/O.
type Cluster struct {
	cfg   Config
	log   *slog.Logger
	id    string
	clock hlc
	ids   atomic.Uint64 // cluster-wide id sequence (databases, collections, shards, indexes, keys)
	tids  atomic.Uint64 // transaction ids

	mu           sync.RWMutex // guards the catalog: dbs and everything reachable from it
	dbs          map[string]*Database
	servers      []*Server // coordinators first, then DB-Servers
	coordinators []*Server
	dbservers    []*Server

	readOnly atomic.Bool
	trx      *trxManager
	users    *userCache
	tokens   tokenCache
	persist  *persister

	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup
}

// Server is one simulated arangod process.
type Server struct {
	c         *Cluster
	Role      Role
	ID        string // PRMR-<uuid> / CRDN-<uuid>
	ShortName string // DBServer0001 / Coordinator0001
	index     int    // 0-based within its role

	mux    *http.ServeMux
	faults faultSet

	lifeMu  sync.Mutex // guards ln, srv, port, up transitions
	ln      net.Listener
	srv     *http.Server
	port    int
	up      atomic.Bool
	rebootN atomic.Int64

	// DB-Server state.
	commitMu sync.RWMutex        // writers hold it shared while applying + logging; snapshots exclusively
	mu       sync.RWMutex        // guards replicas and dbs
	replicas map[string]*Replica // by shard name
	dbs      map[string]uint64   // databases present on this server: name → id
	wal      *WAL
	numID    uint64 // numeric server id shown as serverId in replication answers
	tailers  tailerRegistry
}

// Database is one database of the cluster catalog.
type Database struct {
	c                 *Cluster
	ID                uint64
	Name              string
	Sharding          string // "" (flexible) or "single"
	ReplicationFactor int
	WriteConcern      int

	colls     map[string]*Collection
	byID      map[uint64]*Collection
	views     map[string]*View
	analyzers map[string]*Analyzer
	dropped   bool
}

// Collection is a cluster collection (the Plan entry).
type Collection struct {
	DB       *Database
	ID       uint64 // plan id
	Name     string
	Type     int // 2 document, 3 edge
	IsSystem bool
	Props    CollectionProps
	Shards   []*Shard // ordered by shard id; hash slot i → Shards[i]
	Indexes  []*Index
	keySeq   atomic.Uint64 // autoincrement/padded key generator state
	dropped  atomic.Bool
}

// CollectionProps are the stored properties of a collection.
type CollectionProps struct {
	WaitForSync          bool
	Schema               []byte // raw JSON or nil (null)
	ComputedValues       []byte // raw JSON or nil (null)
	CacheEnabled         bool
	KeyType              string // traditional | autoincrement | uuid | padded
	AllowUserKeys        bool
	KeyIncrement         uint64
	KeyOffset            uint64
	NumberOfShards       int
	ShardKeys            []string
	ReplicationFactor    int // 0 = satellite
	WriteConcern         int
	DistributeShardsLike string
	ShardingStrategy     string
}

// Shard is one shard of a collection and its placement.
type Shard struct {
	Coll *Collection
	ID   uint64
	Name string     // "s<id>"
	guid string     // GUID(), set when the shard is made ("" = compute)
	mu   sync.Mutex // serializes writes to this shard across its replicas
	// servers is the placement, leader first. Guarded by Cluster.mu.
	servers []*Server
}

// Index is a stored index definition.
type Index struct {
	ID     uint64
	Type   string
	Name   string
	Fields []string
	Unique bool
	Sparse bool
	Def    []field // the definition as listed (without id/name), in order
}

// View is a stored view definition.
type View struct {
	ID   uint64
	Name string
	Type string  // arangosearch | search-alias
	Def  []field // properties as listed (without id/name/type/globallyUniqueId)
}

// Analyzer is a stored analyzer definition.
type Analyzer struct {
	Name string // fully qualified: db::name or a built-in name
	Def  []field
}

// Start creates the cluster, binds every server and serves until Close or until ctx ends.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Cluster{
		cfg:    cfg,
		log:    cfg.Logger,
		id:     newUUID(),
		dbs:    make(map[string]*Database),
		closed: make(chan struct{}),
	}
	c.ids.Store(10000)
	c.tids.Store(1)
	c.trx = newTrxManager(c)
	c.users = newUserCache()
	for i := 0; i < cfg.Coordinators; i++ {
		c.coordinators = append(c.coordinators, c.newServer(RoleCoordinator, i))
	}
	for i := 0; i < cfg.DBServers; i++ {
		c.dbservers = append(c.dbservers, c.newServer(RoleDBServer, i))
	}
	c.servers = append(append([]*Server{}, c.coordinators...), c.dbservers...)

	restored := false
	if cfg.DataDir != "" {
		p, ok, err := openPersister(c, cfg.DataDir)
		if err != nil {
			return nil, err
		}
		c.persist = p
		restored = ok
		p.attach()
	}
	if !restored {
		if err := c.bootstrap(); err != nil {
			c.closePersist()
			return nil, err
		}
	}
	for i, s := range c.servers {
		port := 0
		if cfg.Port > 0 {
			port = cfg.Port + i
		}
		if err := s.listen(port); err != nil {
			return nil, errors.Join(err, c.Close())
		}
	}
	c.persistCatalog() // the ports are known now
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		select {
		case <-ctx.Done():
			c.shutdownAll()
		case <-c.closed:
		}
	}()
	return c, nil
}

// bootstrap creates _system with its system collections and the root user.
func (c *Cluster) bootstrap() error {
	if _, err := c.CreateDatabase("_system", DatabaseOptions{}); err != nil {
		return err
	}
	return c.ensureRootUser()
}

// Close stops every server. It is idempotent.
func (c *Cluster) Close() error {
	c.shutdownAll()
	c.wg.Wait()
	return nil
}

// shutdownAll stops every server once, without waiting for the serving goroutines.
func (c *Cluster) shutdownAll() {
	c.closeOnce.Do(func() {
		close(c.closed)
		for _, s := range c.servers {
			s.shutdown()
		}
		c.closePersist()
	})
}

// Done is closed once the cluster shuts down (Close, or the Start context ended).
func (c *Cluster) Done() <-chan struct{} { return c.closed }

func (c *Cluster) closePersist() {
	if c.persist != nil {
		c.persist.close()
	}
}

// ID returns the cluster id (health "ClusterId").
func (c *Cluster) ID() string { return c.id }

// Servers returns every server, Coordinators first.
func (c *Cluster) Servers() []*Server { return slices.Clone(c.servers) }

// Coordinators returns the Coordinators.
func (c *Cluster) Coordinators() []*Server { return slices.Clone(c.coordinators) }

// DBServers returns the DB-Servers.
func (c *Cluster) DBServers() []*Server { return slices.Clone(c.dbservers) }

// Endpoint returns the first Coordinator's endpoint (http://127.0.0.1:port).
func (c *Cluster) Endpoint() string { return c.coordinators[0].Endpoint() }

// Server returns a server by id or short name.
func (c *Cluster) Server(idOrName string) (*Server, bool) {
	for _, s := range c.servers {
		if s.ID == idOrName || s.ShortName == idOrName {
			return s, true
		}
	}
	return nil, false
}

func (c *Cluster) nextID() uint64 { return c.ids.Add(1) }

func (c *Cluster) newServer(role Role, i int) *Server {
	s := &Server{c: c, Role: role, index: i}
	if role == RoleDBServer {
		s.ID = "PRMR-" + newUUID()
		s.ShortName = fmt.Sprintf("DBServer%04d", i+1)
		s.replicas = make(map[string]*Replica)
		s.dbs = make(map[string]uint64)
		// Each server has its own tick sequence, far apart so that ticks never coincide.
		s.wal = newWAL(uint64(i+1)*100_000_000 + uint64(randUint32()%1000))
		s.wal.max = c.cfg.MaxWALMarkers
	} else {
		s.ID = "CRDN-" + newUUID()
		s.ShortName = fmt.Sprintf("Coordinator%04d", i+1)
	}
	s.numID = uint64(randUint32())<<16 | uint64(i)
	s.rebootN.Store(1)
	s.mux = http.NewServeMux()
	s.setupRoutes()
	return s
}

// Endpoint returns http://host:port.
func (s *Server) Endpoint() string {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	return "http://" + net.JoinHostPort(s.c.cfg.Host, strconv.Itoa(s.port))
}

// tcpEndpoint returns tcp://host:port as the cluster APIs print endpoints.
func (s *Server) tcpEndpoint() string {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	return "tcp://" + net.JoinHostPort(s.c.cfg.Host, strconv.Itoa(s.port))
}

// Up reports whether the server is serving.
func (s *Server) Up() bool { return s.up.Load() }

// WAL returns the DB-Server's write-ahead log (nil on Coordinators).
func (s *Server) WAL() *WAL { return s.wal }

// NumericID is the server id replication answers show as "serverId".
func (s *Server) NumericID() uint64 { return s.numID }

// Cluster returns the cluster the server belongs to.
func (s *Server) Cluster() *Cluster { return s.c }

func (s *Server) listen(port int) error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if port == 0 && s.port != 0 {
		port = s.port
	}
	// What net.Listen does: listen has no context (Start and RestartServer call it) and
	// a context would only bound the address resolution, not the listener.
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", net.JoinHostPort(s.c.cfg.Host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("arangosim: %s cannot listen on port %d: %w (choose another --port or 0)", s.ShortName, port, err)
	}
	s.ln = ln
	s.port = ln.Addr().(*net.TCPAddr).Port
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second}
	s.srv = srv
	s.up.Store(true)
	s.c.wg.Add(1)
	go func() {
		defer s.c.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.c.log.Warn("arangosim server stopped", "server", s.ShortName, "err", err)
		}
	}()
	return nil
}

// shutdown closes the listener and every connection.
func (s *Server) shutdown() {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	s.up.Store(false)
	if s.srv != nil {
		_ = s.srv.Close()
		s.srv = nil
		s.ln = nil
	}
}

// replica returns this DB-Server's replica of a shard.
func (s *Server) replica(shard string) (*Replica, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.replicas[shard]
	return r, ok
}

// Replicas returns the replicas of one database on this DB-Server, sorted by shard name.
func (s *Server) Replicas(db string) []*Replica {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*Replica
	for _, r := range s.replicas {
		if r.Shard.Coll.DB.Name == db {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *Replica) int { return cmpUint(a.Shard.ID, b.Shard.ID) })
	return out
}

// Replica returns this DB-Server's replica of a shard of database db.
func (s *Server) Replica(db, shard string) (*Replica, bool) {
	r, ok := s.replica(shard)
	if !ok || r.Shard.Coll.DB.Name != db {
		return nil, false
	}
	return r, true
}

// HasDatabase reports whether the database exists on this DB-Server.
func (s *Server) HasDatabase(db string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.dbs[db]
	return ok
}

// Snapshot takes a consistent view of every shard of db on this DB-Server at the current
// tick: no write is half applied (writers hold commitMu shared while applying and logging).
func (s *Server) Snapshot(db string) (*Snapshot, error) {
	if s.Role != RoleDBServer {
		return nil, errors.New("arangosim: snapshots exist on DB-Servers only")
	}
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	sn := &Snapshot{Server: s, DB: db, Tick: s.wal.LastTick(), shards: make(map[string]*ShardSnapshot)}
	for _, r := range s.Replicas(db) {
		r.mu.Lock()
		docs := r.freeze()
		r.mu.Unlock()
		sn.shards[r.Shard.Name] = &ShardSnapshot{
			Shard: r.Shard.Name, CollectionName: r.Shard.Coll.Name, PlanID: r.Shard.Coll.ID, docs: docs,
		}
	}
	return sn, nil
}

// Servers returns the shard's placement, leader first.
func (sh *Shard) Servers() []*Server {
	c := sh.Coll.DB.c
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(sh.servers)
}

// Leader returns the shard's leader.
func (sh *Shard) Leader() *Server {
	sv := sh.Servers()
	if len(sv) == 0 {
		return nil
	}
	return sv[0]
}

// GUID is the shard's globallyUniqueId on a DB-Server: c<planId>/<shard>.
func (sh *Shard) GUID() string {
	if sh.guid != "" {
		return sh.guid
	}
	return shardGUID(sh.Coll.ID, sh.Name)
}

func shardGUID(planID uint64, name string) string {
	return "c" + strconv.FormatUint(planID, 10) + "/" + name
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func randUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
