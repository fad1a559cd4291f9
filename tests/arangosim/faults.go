package arangosim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault is an injected misbehaviour of one server for requests whose path starts with
// PathPrefix (matched against the full path and the path without /_db/{db}).
type Fault struct {
	PathPrefix string        `json:"pathPrefix"`
	Latency    time.Duration `json:"-"`
	// Status, when non-zero, is answered instead of serving (503 → errorNum 503).
	Status int `json:"status"`
	// Count limits the fault to that many requests (0 = unlimited).
	Count int `json:"count"`
	// Duration limits the fault in time from its injection (0 = until cleared).
	Duration time.Duration `json:"-"`
}

type activeFault struct {
	Fault
	left  int
	until time.Time
}

type faultSet struct {
	mu     sync.Mutex
	faults []*activeFault
}

func (f *faultSet) add(ft Fault) {
	af := &activeFault{Fault: ft, left: ft.Count}
	if ft.Duration > 0 {
		af.until = time.Now().Add(ft.Duration)
	}
	f.mu.Lock()
	f.faults = append(f.faults, af)
	f.mu.Unlock()
}

func (f *faultSet) clear() {
	f.mu.Lock()
	f.faults = nil
	f.mu.Unlock()
}

// apply runs the first matching fault. It reports true when the request was answered.
func (f *faultSet) apply(ctx context.Context, w http.ResponseWriter, path string) bool {
	f.mu.Lock()
	if len(f.faults) == 0 {
		f.mu.Unlock()
		return false
	}
	stripped := path
	if strings.HasPrefix(path, "/_db/") {
		if i := strings.IndexByte(path[len("/_db/"):], '/'); i >= 0 {
			stripped = path[len("/_db/")+i:]
		}
	}
	now := time.Now()
	var hit *activeFault
	kept := f.faults[:0]
	for _, af := range f.faults {
		if !af.until.IsZero() && now.After(af.until) {
			continue
		}
		if hit == nil && (strings.HasPrefix(path, af.PathPrefix) || strings.HasPrefix(stripped, af.PathPrefix)) {
			hit = af
			if af.Count > 0 {
				af.left--
				if af.left <= 0 {
					continue
				}
			}
		}
		kept = append(kept, af)
	}
	f.faults = kept
	f.mu.Unlock()
	if hit == nil {
		return false
	}
	if hit.Latency > 0 {
		t := time.NewTimer(hit.Latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return true
		}
	}
	if hit.Status != 0 {
		num := hit.Status
		msg := http.StatusText(hit.Status)
		if hit.Status == http.StatusServiceUnavailable {
			num, msg = errNumServiceUnavailable, "service unavailable"
		}
		WriteError(w, hit.Status, num, msg)
		return true
	}
	return false
}

// InjectFault adds a fault to a server.
func (c *Cluster) InjectFault(server string, f Fault) error {
	s, ok := c.Server(server)
	if !ok {
		return errUnknownServer(server)
	}
	s.faults.add(f)
	return nil
}

// ClearFaults removes every fault of a server.
func (c *Cluster) ClearFaults(server string) error {
	s, ok := c.Server(server)
	if !ok {
		return errUnknownServer(server)
	}
	s.faults.clear()
	return nil
}

func errUnknownServer(id string) error {
	return newErr(http.StatusNotFound, errNumBadParameter, "unknown server '"+id+"'")
}

// StopServer stops a DB-Server (or Coordinator): its port refuses connections, health
// shows it FAILED and every shard it leads fails over to the first follower that is up.
func (c *Cluster) StopServer(id string) error {
	s, ok := c.Server(id)
	if !ok {
		return errUnknownServer(id)
	}
	if !s.Up() {
		return nil
	}
	s.shutdown()
	if s.Role != RoleDBServer {
		return nil
	}
	c.mu.Lock()
	for _, db := range c.dbs {
		for _, col := range db.colls {
			for _, sh := range col.Shards {
				if len(sh.servers) < 2 || sh.servers[0] != s {
					continue
				}
				for i := 1; i < len(sh.servers); i++ {
					if sh.servers[i].Up() {
						ns := []*Server{sh.servers[i]}
						for j, o := range sh.servers {
							if j != i && o != s {
								ns = append(ns, o)
							}
						}
						ns = append(ns, s)
						sh.servers = ns
						break
					}
				}
			}
		}
	}
	c.persistCatalogLocked()
	c.mu.Unlock()
	return nil
}

// RestartServer brings a stopped server back on its port. A DB-Server first catches up
// every shard it holds from the shard's leader (logging the differences in its own WAL).
func (c *Cluster) RestartServer(id string) error {
	s, ok := c.Server(id)
	if !ok {
		return errUnknownServer(id)
	}
	if s.Up() {
		return nil
	}
	if s.Role == RoleDBServer {
		for _, rp := range s.allReplicas() {
			sh := rp.Shard
			sh.mu.Lock()
			if lr := sh.leaderReplica(); lr != nil && lr != rp {
				s.resyncFrom(rp, lr)
			}
			sh.mu.Unlock()
		}
	}
	s.rebootN.Add(1)
	return s.listen(0)
}

func (s *Server) allReplicas() []*Replica {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Replica, 0, len(s.replicas))
	for _, r := range s.replicas {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *Replica) int { return cmpUint(a.Shard.ID, b.Shard.ID) })
	return out
}

// resyncFrom makes rp equal to the leader replica lr. Callers hold the shard's lock.
func (s *Server) resyncFrom(rp, lr *Replica) {
	lr.mu.RLock()
	src := make(map[string]*Doc, len(lr.docs))
	for k, v := range lr.docs {
		src[k] = v
	}
	lr.mu.RUnlock()
	rp.mu.RLock()
	var chs []change
	for k, d := range rp.docs {
		if _, ok := src[k]; !ok {
			chs = append(chs, change{sh: rp.Shard, key: k, old: d})
		}
	}
	for k, d := range src {
		if old, ok := rp.docs[k]; !ok || old.Rev != d.Rev {
			chs = append(chs, change{sh: rp.Shard, key: k, doc: d, old: old})
		}
	}
	rp.mu.RUnlock()
	if len(chs) > 0 {
		s.applyChanges(chs, false)
	}
}

// MoveShard moves a shard's replica from one DB-Server to another (leader or follower),
// like POST /_admin/cluster/moveShard. Moving the leader onto an in-sync follower swaps
// their roles; otherwise the target receives a full copy first.
func (c *Cluster) MoveShard(db, coll, shard, from, to string) error {
	d, ok := c.Database(db)
	if !ok {
		return newErr(http.StatusNotFound, errNumDatabaseNotFound, "database not found")
	}
	col, ok := d.Collection(coll)
	if !ok {
		return newErr(http.StatusNotFound, errNumDataSourceNotFound, "collection or view not found: "+coll)
	}
	var sh *Shard
	for _, x := range col.Shards {
		if x.Name == shard {
			sh = x
		}
	}
	if sh == nil {
		return newErr(http.StatusBadRequest, errNumBadParameter, "shard "+shard+" not found in collection "+coll)
	}
	fs, ok1 := c.Server(from)
	ts, ok2 := c.Server(to)
	if !ok1 || !ok2 || fs.Role != RoleDBServer || ts.Role != RoleDBServer {
		return newErr(http.StatusBadRequest, errNumBadParameter, "fromServer and toServer must be DB-Servers")
	}
	if !ts.Up() {
		return newErr(http.StatusBadRequest, errNumBadParameter, "toServer "+to+" is not healthy")
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	c.mu.Lock()
	cur := slices.Clone(sh.servers)
	fi := slices.Index(cur, fs)
	ti := slices.Index(cur, ts)
	if fi < 0 {
		c.mu.Unlock()
		return newErr(http.StatusBadRequest, errNumBadParameter, "fromServer "+from+" does not hold shard "+shard)
	}
	if fs == ts {
		c.mu.Unlock()
		return nil
	}
	if ti >= 0 {
		// Both hold the shard: swap roles.
		cur[fi], cur[ti] = cur[ti], cur[fi]
		sh.servers = cur
		c.persistCatalogLocked()
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	// Copy to the new server, then switch the placement and drop the old replica.
	lr := sh.leaderReplica()
	nr := ts.addReplica(sh)
	if lr != nil {
		ts.resyncFrom(nr, lr)
	}
	c.mu.Lock()
	cur[fi] = ts
	sh.servers = cur
	c.persistCatalogLocked()
	c.mu.Unlock()
	fs.dropReplica(sh)
	return nil
}

// PruneWAL removes a DB-Server's WAL markers up to tick (inclusive).
func (c *Cluster) PruneWAL(server string, upTo uint64) (int, error) {
	s, ok := c.Server(server)
	if !ok || s.Role != RoleDBServer {
		return 0, errUnknownServer(server)
	}
	n := s.wal.Prune(upTo)
	if c.persist != nil {
		c.persist.pruneWAL(s, upTo)
	}
	return n, nil
}

// ServerInfo describes a server in the startup line and GET /_arangosim/cluster.
type ServerInfo struct {
	Role      string `json:"role"`
	ID        string `json:"id"`
	ShortName string `json:"shortName"`
	Endpoint  string `json:"endpoint"`
	Up        bool   `json:"up"`
}

// Describe lists every server.
func (c *Cluster) Describe() []ServerInfo {
	out := make([]ServerInfo, 0, len(c.servers))
	for _, s := range c.servers {
		role := "coordinator"
		if s.Role == RoleDBServer {
			role = "dbserver"
		}
		out = append(out, ServerInfo{Role: role, ID: s.ID, ShortName: s.ShortName, Endpoint: s.Endpoint(), Up: s.Up()})
	}
	return out
}

// serveControl is the /_arangosim/ control API (see doc.go).
func (s *Server) serveControl(w http.ResponseWriter, hr *http.Request) {
	c := s.c
	if c.cfg.authEnabled() {
		r := &Request{Server: s}
		if err := s.authenticate(r, hr); err != nil || !r.Superuser {
			WriteError(w, http.StatusUnauthorized, errNumForbidden, unauthorizedMsg)
			return
		}
	}
	parts := strings.Split(strings.Trim(strings.TrimPrefix(hr.URL.Path, "/_arangosim/"), "/"), "/")
	body := struct {
		Database   string          `json:"database"`
		Collection string          `json:"collection"`
		Shard      string          `json:"shard"`
		FromServer string          `json:"fromServer"`
		ToServer   string          `json:"toServer"`
		UpTo       json.Number     `json:"upTo"`
		PathPrefix string          `json:"pathPrefix"`
		LatencyMs  int             `json:"latencyMs"`
		Status     int             `json:"status"`
		Count      int             `json:"count"`
		DurationMs int             `json:"durationMs"`
		Mode       json.RawMessage `json:"mode"`
	}{}
	if hr.Body != nil && hr.Method != http.MethodGet {
		dec := json.NewDecoder(hr.Body)
		dec.UseNumber()
		_ = dec.Decode(&body)
	}
	var err error
	var out any = map[string]any{"error": false, "code": 200}
	switch {
	case hr.Method == http.MethodGet && len(parts) == 1 && parts[0] == "cluster":
		out = map[string]any{"clusterId": c.id, "servers": c.Describe()}
	case hr.Method == http.MethodPost && len(parts) == 1 && parts[0] == "moveShard":
		err = c.MoveShard(body.Database, body.Collection, body.Shard, body.FromServer, body.ToServer)
	case len(parts) >= 3 && parts[0] == "servers":
		id := parts[1]
		switch {
		case hr.Method == http.MethodPost && parts[2] == "stop":
			err = c.StopServer(id)
		case hr.Method == http.MethodPost && parts[2] == "restart":
			err = c.RestartServer(id)
		case hr.Method == http.MethodPost && parts[2] == "wal" && len(parts) == 4 && parts[3] == "prune":
			upTo, perr := strconv.ParseUint(body.UpTo.String(), 10, 64)
			if perr != nil {
				err = newErr(http.StatusBadRequest, errNumBadParameter, "upTo must be a tick")
				break
			}
			var n int
			n, err = c.PruneWAL(id, upTo)
			out = map[string]any{"error": false, "code": 200, "removed": n}
		case hr.Method == http.MethodPost && parts[2] == "faults":
			err = c.InjectFault(id, Fault{PathPrefix: body.PathPrefix, Latency: time.Duration(body.LatencyMs) * time.Millisecond,
				Status: body.Status, Count: body.Count, Duration: time.Duration(body.DurationMs) * time.Millisecond})
		case hr.Method == http.MethodDelete && parts[2] == "faults":
			err = c.ClearFaults(id)
		default:
			err = newErr(http.StatusNotFound, errNumHTTPNotFound, "unknown path '"+hr.URL.Path+"'")
		}
	default:
		err = newErr(http.StatusNotFound, errNumHTTPNotFound, "unknown path '"+hr.URL.Path+"'")
	}
	if err != nil {
		var ae *ArangoError
		if !errors.As(err, &ae) {
			ae = newErr(http.StatusInternalServerError, 4, err.Error())
		}
		writeErr(w, ae)
		return
	}
	WriteJSON(w, http.StatusOK, out)
}

// shardsOf lists (database, collection, shard, placement) for every shard a server holds.
func (c *Cluster) shardsOf(s *Server) []*Shard {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []*Shard
	for _, db := range c.dbs {
		for _, col := range db.colls {
			for _, sh := range col.Shards {
				if slices.Contains(sh.servers, s) {
					out = append(out, sh)
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b *Shard) int { return cmpUint(a.ID, b.ID) })
	return out
}

// ResignLeadership hands every shard a DB-Server leads to an in-sync follower that is up
// (POST /_admin/cluster/resignLeadership).
func (c *Cluster) ResignLeadership(server string) error {
	s, ok := c.Server(server)
	if !ok || s.Role != RoleDBServer {
		return newErr(http.StatusBadRequest, errNumBadParameter, "server "+server+" is not a DB-Server")
	}
	for _, sh := range c.shardsOf(s) {
		servers := sh.Servers()
		if servers[0] != s {
			continue
		}
		for _, f := range servers[1:] {
			if f.Up() {
				if err := c.MoveShard(sh.Coll.DB.Name, sh.Coll.CurrentName(), sh.Name, s.ID, f.ID); err != nil {
					return err
				}
				break
			}
		}
	}
	return nil
}

// CleanOutServer moves every replica off a DB-Server onto other DB-Servers that are up
// (POST /_admin/cluster/cleanOutServer).
func (c *Cluster) CleanOutServer(server string) error {
	s, ok := c.Server(server)
	if !ok || s.Role != RoleDBServer {
		return newErr(http.StatusBadRequest, errNumBadParameter, "server "+server+" is not a DB-Server")
	}
	for _, sh := range c.shardsOf(s) {
		servers := sh.Servers()
		var target *Server
		for _, cand := range c.dbservers {
			if cand != s && cand.Up() && !slices.Contains(servers, cand) {
				target = cand
				break
			}
		}
		if target == nil {
			return newErr(http.StatusServiceUnavailable, errNumInsufficientDBSrv,
				"no DB-Server left to take shard "+sh.Name+": "+server+" cannot be cleaned out")
		}
		if err := c.MoveShard(sh.Coll.DB.Name, sh.Coll.CurrentName(), sh.Name, s.ID, target.ID); err != nil {
			return err
		}
	}
	return nil
}

func handleServerJob(op func(c *Cluster, server string) error) HandlerFunc {
	return func(w http.ResponseWriter, r *Request) {
		if !r.isAdmin() {
			WriteError(w, http.StatusForbidden, errNumForbidden, "forbidden")
			return
		}
		body, _ := r.Body()
		var req struct {
			Server string `json:"server"`
		}
		if err := json.Unmarshal(body, &req); err != nil || req.Server == "" {
			WriteError(w, http.StatusBadRequest, errNumBadParameter, "required parameter 'server' is missing")
			return
		}
		c := r.Server.c
		if err := op(c, req.Server); err != nil {
			writeErr(w, err)
			return
		}
		writeRaw(w, http.StatusAccepted, obj("error", false, "code", 202, "id", strconv.FormatUint(c.nextID(), 10)))
	}
}
