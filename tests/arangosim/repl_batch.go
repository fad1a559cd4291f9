package arangosim

// Snapshot-side replication on DB-Servers (spec §2): batches, inventory,
// dump and the revision-tree protocol, plus the Coordinator "replTrampoline"
// that forwards batch/inventory/dump to the DB-Server named by ?DBserver=.
//
// A batch pins a Snapshot of one database on one DB-Server taken when the
// batch was created; every read through the batch sees exactly the changes
// with ticks <= its lastTick. Batches expire ttl seconds after creation or
// their last extension; expiry is checked on every access (there is no
// background goroutine), and an expired batch answers like an unknown one.
// Like arangod's in-memory replication contexts, batches do not survive a
// restart of their DB-Server.

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dc2dc/dc2dc/handlers/arango/revtree"
)

// replDefaultBatchTTL is replutils::BatchInfo::DefaultTimeout (spec §2.1).
const replDefaultBatchTTL = 7200 * time.Second

// replBatch is one replication context on one DB-Server.
type replBatch struct {
	id       uint64
	db       string
	reboot   int64 // the server's reboot counter when the batch was created
	snap     *Snapshot
	expires  time.Time
	serverID string
	syncerID string
	client   string

	mu      sync.Mutex
	cursors map[string]int             // dump position per shard (index into ByRev)
	trees   map[string]*revtree.Tree   // revision tree per shard, built on first use
	byRev   map[string]map[uint64]*Doc // revision → document per shard, built on first use
}

// replBatchRegistry holds the batches of one DB-Server.
type replBatchRegistry struct {
	s       *Server
	mu      sync.Mutex
	batches map[uint64]*replBatch
}

// replRegistries maps *Server → *replBatchRegistry. It lives beside the core's Server
// type so that this file needs no field in it.
var replRegistries sync.Map

func replBatchesOf(s *Server) *replBatchRegistry {
	if v, ok := replRegistries.Load(s); ok {
		return v.(*replBatchRegistry)
	}
	// A new server: forget the batches (and snapshots) of clusters that
	// have shut down, so that test processes starting many clusters do not
	// keep their data alive.
	replRegistries.Range(func(k, _ any) bool {
		select {
		case <-k.(*Server).c.Done():
			replRegistries.Delete(k)
		default:
		}
		return true
	})
	v, _ := replRegistries.LoadOrStore(s, &replBatchRegistry{s: s, batches: make(map[uint64]*replBatch)})
	return v.(*replBatchRegistry)
}

// replNow is the clock batch expiry uses.
func replNow() time.Time { return time.Now() }

// purgeLocked drops expired batches and those of an earlier life of the
// server (and with them their snapshots).
func (br *replBatchRegistry) purgeLocked(now time.Time) {
	reboot := br.s.rebootN.Load()
	for id, b := range br.batches {
		if !now.Before(b.expires) || b.reboot != reboot {
			delete(br.batches, id)
		}
	}
}

// get returns a live batch of database db.
func (br *replBatchRegistry) get(id uint64, db string) (*replBatch, bool) {
	br.mu.Lock()
	defer br.mu.Unlock()
	br.purgeLocked(replNow())
	b, ok := br.batches[id]
	if !ok || b.db != db {
		return nil, false
	}
	return b, true
}

// count returns the number of live batches (for tests).
func (br *replBatchRegistry) count() int {
	br.mu.Lock()
	defer br.mu.Unlock()
	br.purgeLocked(replNow())
	return len(br.batches)
}

// replTTL reads {"ttl": seconds} (number, fractional allowed). Zero or
// missing means the default.
func replTTL(body []byte) (time.Duration, *ArangoError) {
	if len(bytes.TrimSpace(body)) == 0 {
		return replDefaultBatchTTL, nil
	}
	var in map[string]json.RawMessage
	if err := json.Unmarshal(body, &in); err != nil {
		if jsonKind(bytes.TrimSpace(body)) != 'o' && json.Valid(body) {
			return 0, newErr(http.StatusBadRequest, errNumHTTPBadParameter, "invalid JSON: body must be an object")
		}
		return 0, newErr(http.StatusBadRequest, errNumCorruptedJSON, "invalid JSON object")
	}
	raw, ok := in["ttl"]
	if !ok || string(raw) == "null" {
		return replDefaultBatchTTL, nil
	}
	var ttl float64
	if err := json.Unmarshal(raw, &ttl); err != nil || ttl < 0 || math.IsInf(ttl, 0) || ttl > 1e9 {
		return 0, newErr(http.StatusBadRequest, errNumHTTPBadParameter, "invalid ttl value: use a number of seconds")
	}
	if ttl == 0 {
		return replDefaultBatchTTL, nil
	}
	return time.Duration(ttl * float64(time.Second)), nil
}

func replTimeString(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// replStateObject is the "state" object of a batch or inventory answer.
func replStateObject(tick uint64) []byte {
	t := strconv.FormatUint(tick, 10)
	return obj("running", true, "lastLogTick", t, "lastUncommittedLogTick", t, "totalEvents", tick,
		"time", replTimeString(replNow()))
}

// handleReplBatchCreate serves POST /_api/replication/batch on a DB-Server.
func handleReplBatchCreate(w http.ResponseWriter, r *Request) {
	body, err := r.Body()
	if err != nil {
		WriteError(w, http.StatusBadRequest, errNumHTTPBadParameter, "cannot read the request body")
		return
	}
	ttl, aerr := replTTL(body)
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	sn, err := r.Server.Snapshot(r.DBName)
	if err != nil {
		writeErr(w, err)
		return
	}
	b := &replBatch{
		id: r.Server.c.nextID(), db: r.DBName, reboot: r.Server.rebootN.Load(), snap: sn, expires: replNow().Add(ttl),
		serverID: r.Query("serverId"), syncerID: r.Query("syncerId"), client: r.Query("clientInfo"),
		cursors: make(map[string]int), trees: make(map[string]*revtree.Tree), byRev: make(map[string]map[uint64]*Doc),
	}
	br := replBatchesOf(r.Server)
	br.mu.Lock()
	br.purgeLocked(replNow())
	br.batches[b.id] = b
	br.mu.Unlock()
	kv := []any{"id", strconv.FormatUint(b.id, 10), "lastTick", strconv.FormatUint(sn.Tick, 10)}
	if r.QueryBool("state", false) {
		kv = append(kv, "state", rawJSON(replStateObject(sn.Tick)))
	}
	writeRaw(w, http.StatusOK, obj(kv...))
}

// replBatchIDFromPath parses the {id} of /_api/replication/batch/{id}.
func replBatchIDFromPath(r *Request) (uint64, bool) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	return id, err == nil
}

// handleReplBatchExtend serves PUT /_api/replication/batch/{id}: 204, or 404/1600.
func handleReplBatchExtend(w http.ResponseWriter, r *Request) {
	id, ok := replBatchIDFromPath(r)
	body, err := r.Body()
	if err != nil {
		WriteError(w, http.StatusBadRequest, errNumHTTPBadParameter, "cannot read the request body")
		return
	}
	ttl, aerr := replTTL(body)
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	br := replBatchesOf(r.Server)
	br.mu.Lock()
	br.purgeLocked(replNow())
	b, found := br.batches[id]
	if ok && found && b.db == r.DBName {
		b.expires = replNow().Add(ttl)
	}
	br.mu.Unlock()
	if !ok || !found || b.db != r.DBName {
		WriteError(w, http.StatusNotFound, errNumCursorNotFound, "cursor not found")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleReplBatchDelete serves DELETE /_api/replication/batch/{id}: 204, or 404/1600.
func handleReplBatchDelete(w http.ResponseWriter, r *Request) {
	id, ok := replBatchIDFromPath(r)
	br := replBatchesOf(r.Server)
	br.mu.Lock()
	br.purgeLocked(replNow())
	b, found := br.batches[id]
	if ok && found && b.db == r.DBName {
		delete(br.batches, id)
	}
	br.mu.Unlock()
	if !ok || !found || b.db != r.DBName {
		WriteError(w, http.StatusNotFound, errNumCursorNotFound, "cursor not found")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleReplBatchBadMethod answers any other method on the batch paths.
func handleReplBatchBadMethod(w http.ResponseWriter, r *Request) {
	WriteError(w, http.StatusMethodNotAllowed, errNumMethodNotAllowed, "method not supported")
}

// handleReplBatchMissingID answers PUT/DELETE /_api/replication/batch without an id.
func handleReplBatchMissingID(w http.ResponseWriter, r *Request) {
	WriteError(w, http.StatusBadRequest, errNumHTTPBadParameter, "expecting PUT or DELETE /_api/replication/batch/<id>")
}

// replTrampoline forwards a Coordinator request to the DB-Server named by
// ?DBserver= (arangod's handleUnforwardedTrampolineCoordinator), calling the
// DB-Server handler in process with the Coordinator's cluster-internal
// (superuser) identity.
func replTrampoline(h HandlerFunc, needAdmin bool) HandlerFunc {
	return func(w http.ResponseWriter, r *Request) {
		if needAdmin && !r.isAdmin() {
			WriteError(w, http.StatusForbidden, errNumForbidden, "forbidden")
			return
		}
		name := r.Query("DBserver")
		if name == "" {
			WriteError(w, http.StatusBadRequest, errNumHTTPBadParameter, `need "DBserver" parameter`)
			return
		}
		target, ok := r.Server.c.Server(name)
		if !ok || target.Role != RoleDBServer {
			WriteError(w, http.StatusBadRequest, errNumHTTPBadParameter, "unknown DBserver '"+name+"'")
			return
		}
		if !target.Up() {
			WriteError(w, http.StatusServiceUnavailable, errNumServiceUnavailable, "DBserver '"+name+"' is not available")
			return
		}
		if !target.HasDatabase(r.DBName) {
			WriteError(w, http.StatusNotFound, errNumDatabaseNotFound, "database not found")
			return
		}
		body, err := r.Body()
		if err != nil {
			WriteError(w, http.StatusBadRequest, errNumHTTPBadParameter, "cannot read the request body")
			return
		}
		hr := r.Clone(r.Context())
		hr.Body = io.NopCloser(bytes.NewReader(body))
		fr := &Request{Request: hr, Server: target, DBName: r.DBName, Path: r.Path, User: r.User, Superuser: true}
		h(w, fr)
	}
}

// replOnCoordinator answers the DB-Server-only replication paths on a
// Coordinator (isCoordinatorError in arangod).
func replOnCoordinator(w http.ResponseWriter, r *Request) {
	WriteError(w, http.StatusNotImplemented, errNumClusterUnsupported, "replication API is not supported on a coordinator")
}

func init() {
	routeSetups = append(routeSetups, func(s *Server) {
		switch s.Role {
		case RoleDBServer:
			s.Handle("POST /_api/replication/batch", AccessSuperuser, handleReplBatchCreate)
			s.Handle("PUT /_api/replication/batch/{id}", AccessSuperuser, handleReplBatchExtend)
			s.Handle("DELETE /_api/replication/batch/{id}", AccessSuperuser, handleReplBatchDelete)
			s.Handle("PUT /_api/replication/batch", AccessSuperuser, handleReplBatchMissingID)
			s.Handle("DELETE /_api/replication/batch", AccessSuperuser, handleReplBatchMissingID)
			s.Handle("/_api/replication/batch", AccessSuperuser, handleReplBatchBadMethod)
			s.Handle("/_api/replication/batch/{id}", AccessSuperuser, handleReplBatchBadMethod)
			s.Handle("GET /_api/replication/inventory", AccessSuperuser, handleReplInventory)
			s.Handle("GET /_api/replication/dump", AccessSuperuser, handleReplDump)
			s.Handle("GET /_api/replication/revisions/tree", AccessSuperuser, handleReplRevisionTree)
			s.Handle("POST /_api/replication/revisions/tree", AccessSuperuser, handleReplRevisionTreeRebuild)
			s.Handle("PUT /_api/replication/revisions/ranges", AccessSuperuser, handleReplRevisionRanges)
			s.Handle("PUT /_api/replication/revisions/documents", AccessSuperuser, handleReplRevisionDocuments)
		case RoleCoordinator:
			s.Handle("POST /_api/replication/batch", AccessUser, replTrampoline(handleReplBatchCreate, true))
			s.Handle("PUT /_api/replication/batch/{id}", AccessUser, replTrampoline(handleReplBatchExtend, true))
			s.Handle("DELETE /_api/replication/batch/{id}", AccessUser, replTrampoline(handleReplBatchDelete, true))
			s.Handle("GET /_api/replication/inventory", AccessUser, replTrampoline(handleReplInventory, false))
			s.Handle("GET /_api/replication/dump", AccessUser, replTrampoline(handleReplDump, false))
			s.Handle("/_api/replication/revisions/", AccessUser, replOnCoordinator)
		}
	})
}

// shardSnapshotFor finds a shard of the batch by shard name (on a DB-Server
// the collection parameter names the shard).
func (b *replBatch) shardSnapshotFor(name string) (*ShardSnapshot, bool) {
	return b.snap.Shard(name)
}

// docsByRev returns revision → document for one shard of the batch.
func (b *replBatch) docsByRev(ss *ShardSnapshot) map[uint64]*Doc {
	b.mu.Lock()
	defer b.mu.Unlock()
	m, ok := b.byRev[ss.Shard]
	if !ok {
		m = make(map[uint64]*Doc, ss.Len())
		for _, d := range ss.ByRev() {
			m[d.Rev] = d
		}
		b.byRev[ss.Shard] = m
	}
	return m
}

// revisionTree returns the shard's revision tree at the batch's tick.
func (b *replBatch) revisionTree(ss *ShardSnapshot) (*revtree.Tree, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t, ok := b.trees[ss.Shard]; ok {
		return t, nil
	}
	t, err := revtree.New(revtree.DefaultDepth, revtree.LowerBound)
	if err != nil {
		return nil, err
	}
	docs := ss.ByRev()
	revs := make([]uint64, len(docs))
	for i, d := range docs {
		revs[i] = d.Rev
	}
	if err := t.Insert(revs...); err != nil {
		return nil, err
	}
	b.trees[ss.Shard] = t
	return t, nil
}

// replIsDigits reports whether s is a non-empty run of ASCII digits.
func replIsDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}
