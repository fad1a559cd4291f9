package arangosim

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

const (
	// replDefaultDumpChunk and replMaxDumpChunk are RestReplicationHandler's
	// _defaultChunkSize and _maxChunkSize.
	replDefaultDumpChunk = 128 * 1024
	replMaxDumpChunk     = 128 * 1024 * 1024
)

// replBatchFromQuery resolves ?batchId= for inventory-style endpoints: missing or
// unknown answers 404/1600 as RocksDBRestReplicationHandler does.
func replBatchFromQuery(w http.ResponseWriter, r *Request, missingMsg, unknownMsg string, missingNum, unknownNum int) (*replBatch, bool) {
	q := r.URL.Query()
	if !q.Has("batchId") {
		WriteError(w, http.StatusNotFound, missingNum, missingMsg)
		return nil, false
	}
	id, err := strconv.ParseUint(q.Get("batchId"), 10, 64)
	if err != nil {
		WriteError(w, http.StatusNotFound, unknownNum, unknownMsg)
		return nil, false
	}
	b, ok := replBatchesOf(r.Server).get(id, r.DBName)
	if !ok {
		WriteError(w, http.StatusNotFound, unknownNum, unknownMsg)
		return nil, false
	}
	return b, true
}

// replInventoryIndex renders an index definition as a DB-Server's inventory lists
// it: the stored definition plus id (numeric string) and name, sorted by key.
func replInventoryIndex(ix *Index) []byte {
	fs := slices.Clone(ix.Def)
	fs = append(fs, field{"id", quoteJSON(strconv.FormatUint(ix.ID, 10))}, field{"name", quoteJSON(ix.Name)})
	slices.SortFunc(fs, func(a, b field) int { return strings.Compare(a.Key, b.Key) })
	return fieldsToObject(fs)
}

// handleReplInventory serves GET /_api/replication/inventory on a DB-Server:
// the shards of the database held in the batch's snapshot (names are shard
// names, globallyUniqueId c<planId>/<shard>), their indexes without primary
// and edge, the database properties, the state at the snapshot tick, and the
// current tick.
func handleReplInventory(w http.ResponseWriter, r *Request) {
	b, ok := replBatchFromQuery(w, r, "batchId not specified", "context was not found", errNumCursorNotFound, errNumCursorNotFound)
	if !ok {
		return
	}
	if r.QueryBool("global", false) {
		WriteError(w, http.StatusNotImplemented, errNumNotImplemented, "global inventory is not supported by arangosim")
		return
	}
	includeSystem := r.QueryBool("includeSystem", true)
	only := r.Query("collection")
	c := r.Server.c
	var cols [][]byte
	found := only == ""
	for _, name := range b.snap.Shards() {
		rep, live := r.Server.Replica(r.DBName, name)
		if !live {
			continue // dropped since the batch was created
		}
		sh := rep.Shard
		if only != "" && only != sh.Name {
			continue
		}
		found = true
		if sh.Coll.IsSystem && !includeSystem && only == "" {
			continue
		}
		c.mu.RLock()
		var idx [][]byte
		for _, ix := range sh.Coll.Indexes {
			if ix.Type == "primary" || ix.Type == "edge" {
				continue
			}
			idx = append(idx, replInventoryIndex(ix))
		}
		params := shardDefinition(sh)
		c.mu.RUnlock()
		pf, _ := objectFields(params)
		pf = append(pf, field{"deleted", boolJSON(false)}, field{"status", intJSON(3)})
		cols = append(cols, obj("indexes", rawJSON(replJoinArray(idx)), "parameters", rawJSON(fieldsToObject(pf))))
	}
	if !found {
		WriteError(w, http.StatusNotFound, errNumDataSourceNotFound, "collection or view not found: "+only)
		return
	}
	db, _ := c.Database(r.DBName)
	props := []byte("{}")
	if db != nil {
		sharding := db.Sharding
		props = obj("id", strconv.FormatUint(db.ID, 10), "name", db.Name, "isSystem", db.Name == "_system",
			"sharding", sharding, "replicationFactor", db.ReplicationFactor, "writeConcern", db.WriteConcern,
			"replicationVersion", "1")
	}
	writeRaw(w, http.StatusOK, obj(
		"collections", rawJSON(replJoinArray(cols)),
		"views", rawJSON("[]"),
		"properties", rawJSON(props),
		"state", rawJSON(replStateObject(b.snap.Tick)),
		"tick", strconv.FormatUint(r.Server.WAL().LastTick(), 10),
	))
}

func replJoinArray(elems [][]byte) []byte {
	out := []byte{'['}
	for i, e := range elems {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, e...)
	}
	return append(out, ']')
}

// replChunkSize reads ?chunkSize= with a default and an upper bound.
func replChunkSize(r *Request, def, max int) int {
	v := r.Query("chunkSize")
	if v == "" {
		return def
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n == 0 {
		return def
	}
	if n > uint64(max) {
		return max
	}
	return int(n)
}

// handleReplDump serves GET /_api/replication/dump on a DB-Server: the shard's
// documents at the batch's tick in revision order, continuing where the
// previous call of the same batch stopped, as JSON lines
// ({"type":2300,"data":doc} or, with useEnvelope=false, the documents),
// about chunkSize bytes per call (at least one document), 204 when done.
func handleReplDump(w http.ResponseWriter, r *Request) {
	shard := r.Query("collection")
	if shard == "" {
		WriteError(w, http.StatusBadRequest, errNumHTTPBadParameter, "invalid collection parameter")
		return
	}
	b, ok := replBatchFromQuery(w, r, "replication dump - request misses batchId",
		"replication dump - unable to find context (it could be expired)", errNumHTTPBadParameter, errNumHTTPBadParameter)
	if !ok {
		return
	}
	ss, ok := b.shardSnapshotFor(shard)
	if !ok {
		WriteError(w, http.StatusBadRequest, errNumHTTPBadParameter, "replication dump - bad parameter")
		return
	}
	envelope := r.QueryBool("useEnvelope", true)
	limit := replChunkSize(r, replDefaultDumpChunk, replMaxDumpChunk)
	docs := ss.ByRev()

	bp := getBuf(min(limit, 4<<20) + 64<<10) // grows past 4 MiB as needed
	defer putBuf(bp)                         // the writer has copied or sent the body when Write returns
	out := (*bp)[:0]
	b.mu.Lock()
	pos := b.cursors[ss.Shard]
	for pos < len(docs) && len(out) < limit {
		if envelope {
			out = append(out, `{"type":2300,"data":`...)
			out = docs[pos].AppendJSON(out, ss.CollectionName)
			out = append(out, '}')
		} else {
			out = docs[pos].AppendJSON(out, ss.CollectionName)
		}
		out = append(out, '\n')
		pos++
	}
	b.cursors[ss.Shard] = pos
	b.mu.Unlock()

	h := w.Header()
	h.Set("Content-Type", "application/x-arango-dump")
	h.Set("X-Arango-Replication-Checkmore", strconv.FormatBool(pos < len(docs)))
	if len(out) == 0 {
		h.Set("X-Arango-Replication-Lastincluded", "0")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h.Set("X-Arango-Replication-Lastincluded", strconv.FormatUint(b.snap.Tick, 10))
	h.Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}
