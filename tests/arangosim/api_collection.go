package arangosim

import (
	"encoding/json"
	"fmt"
	"hash/crc64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// lookupCollection resolves {name} (name or id) or writes 404/1203.
func lookupCollection(w http.ResponseWriter, r *Request, name string) (*Collection, bool) {
	col, ok := r.DB.Collection(name)
	if !ok {
		WriteError(w, http.StatusNotFound, errNumDataSourceNotFound, "collection or view not found: "+name)
		return nil, false
	}
	if r.collLevel(col.CurrentName()) == "none" {
		WriteError(w, http.StatusForbidden, errNumForbidden, "forbidden")
		return nil, false
	}
	return col, true
}

func canWrite(w http.ResponseWriter, r *Request, col *Collection) bool {
	name := col.CurrentName()
	if r.collLevel(name) != "rw" {
		WriteError(w, http.StatusForbidden, errNumForbidden, "forbidden")
		return false
	}
	if name == "_users" && !r.Superuser && r.DBName == "_system" {
		WriteError(w, http.StatusForbidden, errNumForbidden, "forbidden")
		return false
	}
	return true
}

func collLocation(r *Request, rest string) string {
	return "/_db/" + url.PathEscape(r.DBName) + "/_api/collection/" + rest
}

// basicColl is the short collection description (list, drop, truncate, rename...).
func basicColl(col *Collection) []field {
	return []field{
		{"id", quoteJSON(strconv.FormatUint(col.ID, 10))}, {"name", quoteJSON(col.Name)}, {"status", intJSON(3)},
		{"type", intJSON(col.Type)}, {"isSystem", boolJSON(col.IsSystem)}, {"globallyUniqueId", quoteJSON(col.guid())},
	}
}

func okFields(code int, fs []field) []byte {
	return fieldsToObject(append([]field{{"error", boolJSON(false)}, {"code", intJSON(code)}}, fs...))
}

func handleCollectionList(w http.ResponseWriter, r *Request) {
	exclude := r.QueryBool("excludeSystem", false)
	var items [][]byte
	r.Server.c.mu.RLock()
	cols := make([]*Collection, 0, len(r.DB.colls))
	for _, col := range r.DB.colls {
		cols = append(cols, col)
	}
	r.Server.c.mu.RUnlock()
	slices.SortFunc(cols, func(a, b *Collection) int { return strings.Compare(a.Name, b.Name) })
	for _, col := range cols {
		if exclude && col.IsSystem {
			continue
		}
		if r.collLevel(col.Name) == "none" {
			continue
		}
		items = append(items, fieldsToObject(basicColl(col)))
	}
	writeRaw(w, http.StatusOK, obj("error", false, "code", 200, "result", rawJSON(joinArray(items))))
}

// collectionCreateRequest is the body of POST /_api/collection.
type collectionCreateRequest struct {
	Name           string          `json:"name"`
	Type           int             `json:"type"`
	IsSystem       bool            `json:"isSystem"`
	WaitForSync    bool            `json:"waitForSync"`
	Schema         json.RawMessage `json:"schema"`
	ComputedValues json.RawMessage `json:"computedValues"`
	CacheEnabled   bool            `json:"cacheEnabled"`
	KeyOptions     *struct {
		Type          string `json:"type"`
		AllowUserKeys *bool  `json:"allowUserKeys"`
		Increment     uint64 `json:"increment"`
		Offset        uint64 `json:"offset"`
	} `json:"keyOptions"`
	NumberOfShards       int      `json:"numberOfShards"`
	ShardKeys            []string `json:"shardKeys"`
	ReplicationFactor    any      `json:"replicationFactor"`
	WriteConcern         int      `json:"writeConcern"`
	MinReplicationFactor int      `json:"minReplicationFactor"`
	DistributeShardsLike string   `json:"distributeShardsLike"`
	ShardingStrategy     string   `json:"shardingStrategy"`
}

func (req *collectionCreateRequest) spec() CollectionSpec {
	sp := CollectionSpec{
		Name: req.Name, Type: req.Type, IsSystem: req.IsSystem, WaitForSync: req.WaitForSync,
		CacheEnabled: req.CacheEnabled, NumberOfShards: req.NumberOfShards, ShardKeys: req.ShardKeys,
		WriteConcern: req.WriteConcern, DistributeShardsLike: req.DistributeShardsLike, ShardingStrategy: req.ShardingStrategy,
	}
	if sp.WriteConcern == 0 {
		sp.WriteConcern = req.MinReplicationFactor
	}
	if string(req.Schema) != "null" && len(req.Schema) > 0 {
		sp.Schema = compactOr(req.Schema)
	}
	if string(req.ComputedValues) != "null" && len(req.ComputedValues) > 0 {
		sp.ComputedValues = compactOr(req.ComputedValues)
	}
	if ko := req.KeyOptions; ko != nil {
		sp.KeyType, sp.AllowUserKeys, sp.KeyIncrement, sp.KeyOffset = ko.Type, ko.AllowUserKeys, ko.Increment, ko.Offset
	}
	switch v := req.ReplicationFactor.(type) {
	case float64:
		sp.ReplicationFactor = int(v)
	case string:
		if v == "satellite" {
			sp.ReplicationFactor = -1
		}
	}
	return sp
}

func compactOr(b []byte) []byte {
	if c, err := compactJSON(b); err == nil {
		return c
	}
	return b
}

func handleCollectionCreate(w http.ResponseWriter, r *Request) {
	if refuseReadOnlyDDL(w, r) {
		return
	}
	if r.dbLevel() != "rw" {
		WriteError(w, http.StatusForbidden, errNumForbidden, "forbidden")
		return
	}
	body, _ := r.Body()
	var req collectionCreateRequest
	if err := json.Unmarshal(body, &req); err != nil {
		WriteError(w, http.StatusBadRequest, errNumCorruptedJSON, "invalid JSON object")
		return
	}
	if req.Name == "" {
		WriteError(w, http.StatusBadRequest, errNumIllegalName, "illegal name: collection name invalid")
		return
	}
	spec := req.spec()
	spec.NoEnforceReplicationFactor = !r.QueryBool("enforceReplicationFactor", true)
	col, err := r.Server.c.CreateCollection(r.DB, spec)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeRaw(w, http.StatusOK, okFields(200, col.propsLocked(true)))
}

// propsLocked reads props under the catalog lock.
func (col *Collection) propsLocked(withShardKeys bool) []field {
	col.DB.c.mu.RLock()
	defer col.DB.c.mu.RUnlock()
	return col.props(withShardKeys)
}

func handleCollectionGet(w http.ResponseWriter, r *Request) {
	col, ok := lookupCollection(w, r, r.PathValue("name"))
	if !ok {
		return
	}
	r.Server.c.mu.RLock()
	fs := basicColl(col)
	r.Server.c.mu.RUnlock()
	w.Header().Set("Location", collLocation(r, url.PathEscape(col.Name)))
	writeRaw(w, http.StatusOK, okFields(200, fs))
}

// count sums the leader replicas' document counts.
func (col *Collection) count() int {
	n := 0
	for _, sh := range col.Shards {
		if rp := sh.leaderReplica(); rp != nil {
			n += rp.Count()
		}
	}
	return n
}

func handleCollectionGetSub(w http.ResponseWriter, r *Request) {
	col, ok := lookupCollection(w, r, r.PathValue("name"))
	if !ok {
		return
	}
	what := r.PathValue("what")
	w.Header().Set("Location", collLocation(r, url.PathEscape(r.PathValue("name"))+"/"+what))
	c := r.Server.c
	switch what {
	case "properties":
		writeRaw(w, http.StatusOK, okFields(200, col.propsLocked(true)))
	case "count":
		fs := col.propsLocked(true)
		fs = append(fs, field{"count", intJSON(col.count())})
		writeRaw(w, http.StatusOK, okFields(200, fs))
	case "figures":
		fs := col.propsLocked(true)
		n := col.count()
		fig := obj("indexes", rawJSON(obj("count", len(col.Indexes), "size", 0)), "documentsSize", n*64,
			"cacheInUse", false, "cacheSize", 0, "cacheUsage", 0)
		fs = append([]field{{"figures", fig}}, fs...)
		fs = append(fs, field{"count", intJSON(n)})
		writeRaw(w, http.StatusOK, okFields(200, fs))
	case "revision":
		fs := col.propsLocked(true)
		fs = append(fs, field{"revision", quoteJSON(strconv.FormatUint(col.maxRev(), 10))})
		writeRaw(w, http.StatusOK, okFields(200, fs))
	case "checksum":
		sum, rev := col.checksum(r.QueryBool("withRevisions", false), r.QueryBool("withData", false))
		c.mu.RLock()
		fs := []field{{"isSystem", boolJSON(col.IsSystem)}, {"status", intJSON(3)}, {"type", intJSON(col.Type)},
			{"name", quoteJSON(col.Name)}, {"id", quoteJSON(strconv.FormatUint(col.ID, 10))},
			{"revision", quoteJSON(EncodeRev(rev))}, {"globallyUniqueId", quoteJSON(col.guid())},
			{"checksum", quoteJSON(strconv.FormatUint(sum, 10))}}
		c.mu.RUnlock()
		writeRaw(w, http.StatusOK, okFields(200, fs))
	case "shards":
		handleShards(w, r, col)
	default:
		WriteError(w, http.StatusNotFound, errNumHTTPNotFound, "expecting one of the resources 'checksum', 'count', 'figures', 'properties', 'responsibleShard', 'revision', 'shards'")
	}
}

func handleShards(w http.ResponseWriter, r *Request, col *Collection) {
	c := r.Server.c
	c.mu.RLock()
	var shards []byte
	if r.QueryBool("details", false) {
		var fs []field
		for _, sh := range col.Shards {
			ids := make([]string, 0, len(sh.servers))
			for _, s := range sh.servers {
				ids = append(ids, s.ID)
			}
			fs = append(fs, field{sh.Name, mustJSON(ids)})
		}
		shards = fieldsToObject(fs)
	} else {
		names := make([]string, 0, len(col.Shards))
		for _, sh := range col.Shards {
			names = append(names, sh.Name)
		}
		shards = mustJSON(names)
	}
	fs := append([]field{{"shards", shards}}, col.props(true)...)
	c.mu.RUnlock()
	writeRaw(w, http.StatusOK, okFields(200, fs))
}

// maxRev returns the highest revision of any document (0 if empty).
func (col *Collection) maxRev() uint64 {
	var m uint64
	for _, sh := range col.Shards {
		if rp := sh.leaderReplica(); rp != nil {
			rp.mu.RLock()
			for _, d := range rp.docs {
				m = max(m, d.Rev)
			}
			rp.mu.RUnlock()
		}
	}
	return m
}

var crcTable = crc64.MakeTable(crc64.ECMA)

// checksum XORs a per-document hash of key (+rev) (+data), like arangod's order-independent checksum.
func (col *Collection) checksum(withRevs, withData bool) (uint64, uint64) {
	var sum, maxRev uint64
	for _, sh := range col.Shards {
		rp := sh.leaderReplica()
		if rp == nil {
			continue
		}
		rp.mu.RLock()
		for _, d := range rp.docs {
			h := crc64.Checksum([]byte(d.Key), crcTable)
			if withRevs {
				h ^= crc64.Checksum([]byte(EncodeRev(d.Rev)), crcTable)
			}
			if withData {
				h ^= crc64.Checksum(d.Attrs, crcTable) ^ crc64.Checksum([]byte(d.From+"\x00"+d.To), crcTable)
			}
			sum ^= h
			maxRev = max(maxRev, d.Rev)
		}
		rp.mu.RUnlock()
	}
	return sum, maxRev
}

func handleCollectionPutSub(w http.ResponseWriter, r *Request) {
	col, ok := lookupCollection(w, r, r.PathValue("name"))
	if !ok {
		return
	}
	what := r.PathValue("what")
	w.Header().Set("Location", collLocation(r, url.PathEscape(r.PathValue("name"))+"/"+what))
	c := r.Server.c
	body, _ := r.Body()
	switch what {
	case "properties":
		if refuseReadOnlyDDL(w, r) || !canWrite(w, r, col) {
			return
		}
		var req struct {
			WaitForSync       *bool           `json:"waitForSync"`
			CacheEnabled      *bool           `json:"cacheEnabled"`
			Schema            json.RawMessage `json:"schema"`
			ComputedValues    json.RawMessage `json:"computedValues"`
			ReplicationFactor any             `json:"replicationFactor"`
			WriteConcern      *int            `json:"writeConcern"`
		}
		if len(body) > 0 {
			if err := json.Unmarshal(body, &req); err != nil {
				WriteError(w, http.StatusBadRequest, errNumCorruptedJSON, "invalid JSON object")
				return
			}
		}
		c.ChangeCollection(col, func(p *CollectionProps) {
			if req.WaitForSync != nil {
				p.WaitForSync = *req.WaitForSync
			}
			if req.CacheEnabled != nil {
				p.CacheEnabled = *req.CacheEnabled
			}
			if req.Schema != nil {
				if string(req.Schema) == "null" || string(req.Schema) == "{}" {
					p.Schema = nil
				} else {
					p.Schema = compactOr(req.Schema)
				}
			}
			if req.ComputedValues != nil {
				if string(req.ComputedValues) == "null" {
					p.ComputedValues = nil
				} else {
					p.ComputedValues = compactOr(req.ComputedValues)
				}
			}
			if req.WriteConcern != nil && *req.WriteConcern > 0 {
				p.WriteConcern = *req.WriteConcern
			}
		})
		writeRaw(w, http.StatusOK, okFields(200, col.propsLocked(true)))
	case "rename":
		if refuseReadOnlyDDL(w, r) || !canWrite(w, r, col) {
			return
		}
		var req struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			WriteError(w, http.StatusBadRequest, errNumCorruptedJSON, "invalid JSON object")
			return
		}
		if err := c.RenameCollection(col, req.Name); err != nil {
			writeErr(w, err)
			return
		}
		c.mu.RLock()
		fs := basicColl(col)
		c.mu.RUnlock()
		writeRaw(w, http.StatusOK, okFields(200, reorderBasic(fs)))
	case "truncate":
		if refuseReadOnly(w, r) || !canWrite(w, r, col) {
			return
		}
		c.Truncate(col)
		c.mu.RLock()
		fs := basicColl(col)
		c.mu.RUnlock()
		writeRaw(w, http.StatusOK, okFields(200, reorderBasic(fs)))
	case "load", "unload", "loadIndexesIntoMemory", "compact", "recalculateCount":
		c.mu.RLock()
		fs := basicColl(col)
		c.mu.RUnlock()
		switch what {
		case "load":
			if r.QueryBool("count", true) {
				fs = append([]field{{"count", intJSON(col.count())}}, reorderBasic(fs)...)
			}
			writeRaw(w, http.StatusOK, okFields(200, fs))
		case "loadIndexesIntoMemory":
			writeRaw(w, http.StatusOK, obj("error", false, "code", 200, "result", true))
		case "recalculateCount":
			writeRaw(w, http.StatusOK, obj("error", false, "code", 200, "result", true, "count", col.count()))
		default:
			writeRaw(w, http.StatusOK, okFields(200, reorderBasic(fs)))
		}
	case "responsibleShard":
		ops := []*docOp{col.parseDocOp(opReplace, body, "", writeOptions{})}
		if ops[0].err != nil && ops[0].err.Num != errNumInvalidEdgeAttr {
			writeErr(w, ops[0].err)
			return
		}
		op := ops[0]
		if op.key == "" && col.shardKeyOnlyKey() {
			WriteError(w, http.StatusBadRequest, errNumNotAllShardingAttrs, "not all sharding attributes given")
			return
		}
		sh := col.shardFor(op.key, op.userFields(col))
		writeRaw(w, http.StatusOK, obj("error", false, "code", 200, "shardId", sh.Name))
	default:
		WriteError(w, http.StatusBadRequest, errNumHTTPBadParameter,
			fmt.Sprintf("expecting one of the actions 'load', 'unload', 'truncate', 'properties', 'compact', 'rename', 'loadIndexesIntoMemory', 'recalculateCount', got '%s'", what))
	}
}

// reorderBasic puts the short description in the order truncate/rename answer with.
func reorderBasic(fs []field) []field {
	order := []string{"globallyUniqueId", "isSystem", "status", "type", "name", "id"}
	out := make([]field, 0, len(fs))
	for _, k := range order {
		if v, ok := getField(fs, k); ok {
			out = append(out, field{k, v})
		}
	}
	return out
}

func handleCollectionDrop(w http.ResponseWriter, r *Request) {
	if refuseReadOnlyDDL(w, r) {
		return
	}
	col, ok := lookupCollection(w, r, r.PathValue("name"))
	if !ok {
		return
	}
	if r.dbLevel() != "rw" {
		WriteError(w, http.StatusForbidden, errNumForbidden, "forbidden")
		return
	}
	if col.IsSystem && !r.QueryBool("isSystem", false) {
		WriteError(w, http.StatusForbidden, errNumForbidden, "forbidden")
		return
	}
	if err := r.Server.c.DropCollection(col); err != nil {
		writeErr(w, err)
		return
	}
	writeRaw(w, http.StatusOK, obj("error", false, "code", 200, "id", strconv.FormatUint(col.ID, 10)))
}

// Truncate removes every document; each replica logs a 2004 truncate marker.
func (c *Cluster) Truncate(col *Collection) {
	for _, sh := range col.Shards {
		sh.mu.Lock()
		for _, s := range sh.Servers() {
			if !s.Up() && s.everStarted() {
				continue
			}
			rp, ok := s.replica(sh.Name)
			if !ok {
				continue
			}
			s.commitMu.RLock()
			rp.mu.Lock()
			rp.docs = make(map[string]*Doc)
			rp.shared = false
			for id := range rp.unique {
				rp.unique[id] = make(map[string]string)
			}
			rp.mu.Unlock()
			s.wal.append([]pendingMarker{collectionMarker(MarkerCollectionTrunc, sh, nil)})
			s.commitMu.RUnlock()
			if c.persist != nil {
				c.persist.truncateReplica(s, sh)
			}
		}
		sh.mu.Unlock()
	}
}
