package arangosim

import (
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// tailerRegistry tracks WAL tailing clients for logger-state "clients".
type tailerRegistry struct {
	mu      sync.Mutex
	clients map[string]*tailClient
}

type tailClient struct {
	SyncerID   string
	ServerID   string
	ClientInfo string
	LastServed uint64
	Time       time.Time
}

func (tr *tailerRegistry) track(syncerID, serverID, info string, served uint64) {
	if syncerID == "" && serverID == "" {
		return
	}
	id := "s" + syncerID
	if syncerID == "" {
		id = "v" + serverID
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.clients == nil {
		tr.clients = make(map[string]*tailClient)
	}
	cl := tr.clients[id]
	if cl == nil {
		cl = &tailClient{SyncerID: syncerID, ServerID: serverID}
		tr.clients[id] = cl
	}
	cl.ClientInfo = info
	if served > cl.LastServed {
		cl.LastServed = served
	}
	cl.Time = time.Now().UTC()
}

func (tr *tailerRegistry) list() [][]byte {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	keys := make([]string, 0, len(tr.clients))
	for k := range tr.clients {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([][]byte, 0, len(keys))
	for _, k := range keys {
		cl := tr.clients[k]
		out = append(out, obj("syncerId", cl.SyncerID, "serverId", cl.ServerID, "clientInfo", cl.ClientInfo,
			"time", cl.Time.Format("2006-01-02T15:04:05Z"), "expires", cl.Time.Add(15*time.Minute).Format("2006-01-02T15:04:05Z"),
			"lastServedTick", strconv.FormatUint(cl.LastServed, 10)))
	}
	return out
}

func parseTick(s string) (uint64, bool) {
	if s == "" {
		return 0, true
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}

// handleWalTail serves GET|PUT /_api/wal/tail (spec §1.2/1.3).
func handleWalTail(w http.ResponseWriter, r *Request) {
	s := r.Server
	q := r.q()
	from, ok1 := parseTick(q.Get("from"))
	to := uint64(math.MaxUint64)
	ok2 := true
	if q.Has("to") {
		to, ok2 = parseTick(q.Get("to"))
	}
	lastScannedIn, _ := parseTick(q.Get("lastScanned"))
	if !ok1 || !ok2 || from > to || to == 0 {
		WriteError(w, http.StatusBadRequest, errNumHTTPBadParameter, "invalid from/to values")
		return
	}
	global := r.QueryBool("global", false)
	if global && r.DBName != "_system" {
		WriteError(w, http.StatusForbidden, errNumForbidden, "global tailing is only possible from within _system database")
		return
	}
	includeSystem := r.QueryBool("includeSystem", false)
	chunk := uint64(1024 * 1024)
	if v := q.Get("chunkSize"); v != "" {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			chunk = n
		}
	}
	chunk = max(min(chunk, 128*1024*1024), 16384)
	collFilter := ""
	if cn := q.Get("collection"); cn != "" && !global {
		rep, ok := s.Replica(r.DBName, cn)
		if !ok {
			// Also accept the numeric shard id.
			for _, rp := range s.Replicas(r.DBName) {
				if strconv.FormatUint(rp.Shard.ID, 10) == cn {
					rep, ok = rp, true
				}
			}
		}
		if !ok {
			WriteError(w, http.StatusNotFound, errNumDataSourceNotFound, "collection or view not found")
			return
		}
		collFilter = rep.Shard.Name
	}

	// The scan starts at safeBeginTick (RocksDBWalAccess::tail): lastScanned when
	// 0 < lastScanned < from, else from. RocksDB's GetUpdatesSince positions on the
	// write batch containing that tick, and a batch starting before it is skipped
	// whole; every other batch is parsed from its first marker, so a transaction's
	// state is known even when the answer starts inside its batch. Only markers with
	// a tick > from are printed (MyWALDumper::printMarker).
	since := from
	if lastScannedIn > 0 && lastScannedIn < from {
		since = lastScannedIn
	}
	ms, lastTick, pruned := s.wal.since(max(since, 1) - 1)
	for len(ms) > 0 && ms[0].BatchStart < since {
		ms = ms[1:]
	}
	// The first write batch still readable must start at or before from (spec §1.3):
	// once ticks <= pruned are gone, a from <= pruned is no longer covered.
	fromPresent := from == lastTick || pruned == 0 || from > pruned

	// The live catalog of this server is read under its lock while the markers are
	// chosen (no I/O meanwhile).
	s.mu.RLock()
	liveDBs, liveShards := s.dbs, s.replicas

	// The answer is collected as markers first and rendered once at its exact size.
	out := make([]*Marker, 0, 64)
	size := 0
	var lastIncluded uint64
	lastScanned := uint64(0)
	if from > 0 {
		lastScanned = from - 1
	}
	// Only with lastScanned > 0 may one write batch be split over answers (pre-3.4
	// clients cannot resume inside a batch).
	splitAllowed := lastScannedIn > 0
	emit := func(m *Marker) {
		if m.Tick <= from {
			return
		}
		out = append(out, m)
		size += m.Len() + 1
		lastIncluded = m.Tick
	}
	for i := 0; i < len(ms); {
		batchStart := ms[i].BatchStart
		if batchStart > to {
			break
		}
		j := i
		stopped, stopOnNext := false, false
		// Transaction state over the whole batch. A 2200 is printed (if its tick
		// is > from) just before the transaction's first visible marker, and its
		// 2201 (if its tick is > from) only if the transaction has a visible
		// marker, wherever in the batch the answer starts.
		var start *Marker
		trxVisible := false
		for j < len(ms) && ms[j].BatchStart == batchStart {
			if stopOnNext {
				// MyWALDumper::Continue: the size limit was passed inside a
				// transaction and one more marker has been processed.
				stopped = true
				break
			}
			if splitAllowed && start != nil && uint64(size) > chunk {
				stopOnNext = true
			}
			m := ms[j]
			j++
			if !markerVisible(m, r.DBName, global, includeSystem, collFilter, liveDBs, liveShards) {
				continue
			}
			switch m.Type {
			case MarkerTrxStart:
				start, trxVisible = m, false
			case MarkerTrxCommit:
				if start != nil && start.TID == m.TID && trxVisible {
					emit(m)
				}
				start, trxVisible = nil, false
			default:
				if start != nil && start.TID == m.TID && !trxVisible {
					trxVisible = true
					emit(start)
				}
				emit(m)
			}
		}
		if stopped {
			// Resume at the start of this batch (lastScanned < the next from).
			lastScanned = batchStart
			break
		}
		if uint64(size) >= chunk {
			// RocksDBWalAccess::tail breaks before recording the batch's end:
			// lastScanned is the start of the batch at which the limit hit.
			lastScanned = max(lastScanned, batchStart)
			break
		}
		lastScanned = max(lastScanned, ms[i].BatchEnd)
		i = j
	}
	s.mu.RUnlock()
	s.tailers.track(q.Get("syncerId"), q.Get("serverId"), q.Get("clientInfo"), lastIncluded)

	h := w.Header()
	h.Set("Content-Type", "application/x-arango-dump")
	h.Set("X-Arango-Replication-Lastincluded", strconv.FormatUint(lastIncluded, 10))
	h.Set("X-Arango-Replication-Lastscanned", strconv.FormatUint(lastScanned, 10))
	h.Set("X-Arango-Replication-Lasttick", strconv.FormatUint(lastTick, 10))
	h.Set("X-Arango-Replication-Frompresent", strconv.FormatBool(fromPresent))
	h.Set("X-Arango-Replication-Checkmore", strconv.FormatBool(lastIncluded > 0 && lastIncluded < lastTick))
	if size == 0 {
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	bp := getBuf(size)
	defer putBuf(bp) // the writer has copied or sent the body when Write returns
	body := (*bp)[:0]
	for _, m := range out {
		body = m.AppendJSON(body)
		body = append(body, '\n')
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// markerVisible applies the tail filters and the live-catalog rule: markers of
// collections or databases that no longer exist are skipped, drop markers never are.
func markerVisible(m *Marker, db string, global, includeSystem bool, coll string,
	liveDBs map[string]uint64, liveShards map[string]*Replica) bool {
	// The collection filter first: it is the cheapest and drops most markers.
	if coll != "" && m.Shard != coll && m.Type != MarkerTrxStart && m.Type != MarkerTrxCommit {
		return false
	}
	if !global && m.DB != db {
		return false
	}
	if m.System && !includeSystem {
		return false
	}
	switch m.Type {
	case MarkerDatabaseDrop, MarkerCollectionDrop, MarkerViewDrop:
	default:
		if id, ok := liveDBs[m.DB]; !ok || id != m.DBID {
			return false
		}
		if _, live := liveShards[m.Shard]; m.PlanID != 0 && !live {
			return false
		}
	}
	return true
}

func serverObj(s *Server, engine bool) []byte {
	if engine {
		return obj("version", arangoVersion, "serverId", strconv.FormatUint(s.numID, 10), "engine", "rocksdb")
	}
	return obj("version", arangoVersion, "serverId", strconv.FormatUint(s.numID, 10))
}

func handleWalRange(w http.ResponseWriter, r *Request) {
	first, last := r.Server.wal.Range()
	writeRaw(w, http.StatusOK, obj("time", nowString(), "tickMin", strconv.FormatUint(first, 10),
		"tickMax", strconv.FormatUint(last, 10), "server", rawJSON(serverObj(r.Server, false))))
}

func handleWalLastTick(w http.ResponseWriter, r *Request) {
	writeRaw(w, http.StatusOK, obj("time", nowString(), "tick", strconv.FormatUint(r.Server.wal.LastTick(), 10),
		"server", rawJSON(serverObj(r.Server, false))))
}

func handleWalOpenTrx(w http.ResponseWriter, r *Request) {
	last := strconv.FormatUint(r.Server.wal.LastTick(), 10)
	w.Header().Set("X-Arango-Replication-Lastincluded", last)
	w.Header().Set("X-Arango-Replication-Lasttick", last)
	w.Header().Set("X-Arango-Replication-Frompresent", "true")
	writeRaw(w, http.StatusOK, []byte("[]"))
}

func handleWalBadPath(w http.ResponseWriter, r *Request) {
	WriteError(w, http.StatusBadRequest, errNumHTTPBadParameter, "expected GET /_api/wal/[tail|range|lastTick|open-transactions]>")
}

func handleLoggerState(w http.ResponseWriter, r *Request) {
	s := r.Server
	var last uint64
	var clients [][]byte
	if s.wal != nil {
		last = s.wal.LastTick()
		clients = s.tailers.list()
	}
	lt := strconv.FormatUint(last, 10)
	writeRaw(w, http.StatusOK, obj(
		"state", rawJSON(obj("running", true, "lastLogTick", lt, "lastUncommittedLogTick", lt, "totalEvents", last, "time", nowString())),
		"server", rawJSON(serverObj(s, true)),
		"clients", rawJSON(joinArray(clients)),
	))
}
