package arangosim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// primaryIndex is the implicit primary index every collection lists first.
func primaryIndex() *Index {
	return &Index{ID: 0, Type: "primary", Name: "primary", Fields: []string{"_key"}, Unique: true,
		Def: []field{{"fields", []byte(`["_key"]`)}, {"selectivityEstimate", []byte("1")}, {"sparse", []byte("false")},
			{"type", quoteJSON("primary")}, {"unique", []byte("true")}}}
}

// edgeIndex is the implicit edge index of edge collections.
func edgeIndex(id uint64) *Index {
	return &Index{ID: id, Type: "edge", Name: "edge", Fields: []string{"_from", "_to"},
		Def: []field{{"fields", []byte(`["_from","_to"]`)}, {"selectivityEstimate", []byte("1")}, {"sparse", []byte("false")},
			{"type", quoteJSON("edge")}, {"unique", []byte("false")}}}
}

// indexID is "<collection>/<id>" as the index API prints it.
func indexID(col *Collection, ix *Index) string {
	return col.Name + "/" + strconv.FormatUint(ix.ID, 10)
}

// indexJSON renders the definition sorted by attribute name (as arangod's VPack does),
// with id ("<collection>/<id>") and name, plus extra members appended at the end.
func indexJSON(col *Collection, ix *Index, extra ...field) []byte {
	return indexDefJSON(indexID(col, ix), ix, extra...)
}

// indexPlainJSON is the definition with the bare numeric id, as inventories and WAL
// markers carry it.
func indexPlainJSON(ix *Index) []byte {
	return indexDefJSON(strconv.FormatUint(ix.ID, 10), ix)
}

func indexDefJSON(id string, ix *Index, extra ...field) []byte {
	fs := slices.Clone(ix.Def)
	fs = append(fs, field{"id", quoteJSON(id)}, field{"name", quoteJSON(ix.Name)})
	slices.SortFunc(fs, func(a, b field) int { return strings.Compare(a.Key, b.Key) })
	return fieldsToObject(append(fs, extra...))
}

var indexDefaults = map[string][]field{
	"persistent": {{"cacheEnabled", []byte("false")}, {"deduplicate", []byte("true")}, {"estimates", []byte("true")},
		{"selectivityEstimate", []byte("1")}, {"sparse", []byte("false")}, {"unique", []byte("false")}},
	"hash":     {{"cacheEnabled", []byte("false")}, {"deduplicate", []byte("true")}, {"estimates", []byte("true")}, {"selectivityEstimate", []byte("1")}, {"sparse", []byte("false")}, {"unique", []byte("false")}},
	"skiplist": {{"cacheEnabled", []byte("false")}, {"deduplicate", []byte("true")}, {"estimates", []byte("true")}, {"selectivityEstimate", []byte("1")}, {"sparse", []byte("false")}, {"unique", []byte("false")}},
	"ttl":      {{"estimates", []byte("false")}, {"sparse", []byte("true")}, {"unique", []byte("false")}},
	"geo": {{"bestIndexedLevel", []byte("17")}, {"geoJson", []byte("false")}, {"legacyPolygons", []byte("false")},
		{"maxNumCoverCells", []byte("8")}, {"sparse", []byte("true")}, {"unique", []byte("false")}, {"worstIndexedLevel", []byte("4")}},
	"fulltext":     {{"minLength", []byte("2")}, {"sparse", []byte("true")}, {"unique", []byte("false")}},
	"mdi":          {{"estimates", []byte("false")}, {"sparse", []byte("false")}, {"unique", []byte("false")}},
	"zkd":          {{"estimates", []byte("false")}, {"sparse", []byte("false")}, {"unique", []byte("false")}},
	"mdi-prefixed": {{"estimates", []byte("true")}, {"selectivityEstimate", []byte("1")}, {"sparse", []byte("false")}, {"unique", []byte("false")}},
	"inverted": {{"analyzer", quoteJSON("identity")}, {"cleanupIntervalStep", []byte("2")}, {"commitIntervalMsec", []byte("1000")},
		{"consolidationIntervalMsec", []byte("5000")},
		{"consolidationPolicy", []byte(`{"type":"tier","segmentsBytesMax":8589934592,"maxSkewThreshold":0.4,"minDeletionRatio":0.5}`)},
		{"features", []byte(`["frequency","norm"]`)}, {"includeAllFields", []byte("false")}, {"optimizeTopK", []byte("[]")},
		{"primarySort", []byte(`{"fields":[],"compression":"lz4"}`)}, {"searchField", []byte("false")}, {"sparse", []byte("true")},
		{"storedValues", []byte("[]")}, {"trackListPositions", []byte("false")}, {"unique", []byte("false")}, {"version", []byte("1")},
		{"writebufferActive", []byte("0")}, {"writebufferIdle", []byte("64")}, {"writebufferSizeMax", []byte("33554432")}},
}

// settable lists the attributes a client may set per index type (others are ignored).
var settable = map[string][]string{
	"persistent":   {"unique", "sparse", "deduplicate", "estimates", "cacheEnabled", "storedValues"},
	"hash":         {"unique", "sparse", "deduplicate", "estimates", "cacheEnabled"},
	"skiplist":     {"unique", "sparse", "deduplicate", "estimates", "cacheEnabled"},
	"ttl":          {"expireAfter"},
	"geo":          {"geoJson", "legacyPolygons"},
	"fulltext":     {"minLength"},
	"mdi":          {"fieldValueTypes", "unique", "sparse", "storedValues"},
	"zkd":          {"fieldValueTypes", "unique", "sparse"},
	"mdi-prefixed": {"fieldValueTypes", "prefixFields", "unique", "sparse", "storedValues"},
	"inverted": {"analyzer", "features", "includeAllFields", "trackListPositions", "searchField", "storedValues",
		"primarySort", "consolidationPolicy", "commitIntervalMsec", "consolidationIntervalMsec", "cleanupIntervalStep",
		"writebufferActive", "writebufferIdle", "writebufferSizeMax", "optimizeTopK", "parallelism", "cache", "primaryKeyCache"},
}

func setField(fs []field, key string, val []byte) []field {
	for i := range fs {
		if fs[i].Key == key {
			fs[i].Val = val
			return fs
		}
	}
	return append(fs, field{key, val})
}

// normalizeInvertedFields turns "a" into {"name":"a"} and adds analyzer features.
func normalizeInvertedFields(raw []byte) ([]byte, []string, error) {
	elems, err := arrayElems(raw)
	if err != nil {
		return nil, nil, err
	}
	var names []string
	out := make([][]byte, 0, len(elems))
	for _, e := range elems {
		switch jsonKind(e) {
		case 's':
			s, _ := unquote(e)
			names = append(names, s)
			out = append(out, obj("name", s))
		case 'o':
			fs, err := objectFields(e)
			if err != nil {
				return nil, nil, err
			}
			n, _ := getField(fs, "name")
			s, _ := unquote(n)
			names = append(names, s)
			if a, ok := getField(fs, "analyzer"); ok {
				if _, hasF := getField(fs, "features"); !hasF {
					an, _ := unquote(a)
					feats := []byte(`["frequency","norm"]`)
					if strings.HasPrefix(an, "text_") {
						feats = []byte(`["frequency","position","norm"]`)
					}
					fs = append([]field{{"features", feats}}, fs...)
				}
			}
			out = append(out, fieldsToObject(fs))
		default:
			return nil, nil, errBadJSON
		}
	}
	b := []byte{'['}
	for i, e := range out {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e...)
	}
	return append(b, ']'), names, nil
}

// CreateIndex creates an index from a request body. It returns the index and whether
// it is new (an identical existing index is returned as is).
func (c *Cluster) CreateIndex(col *Collection, body []byte) (*Index, bool, error) {
	fs, err := objectFields(body)
	if err != nil {
		return nil, false, newErr(http.StatusBadRequest, errNumCorruptedJSON, "invalid JSON object")
	}
	tv, _ := getField(fs, "type")
	typ, _ := unquote(tv)
	defs, known := indexDefaults[typ]
	if !known {
		if typ == "" {
			return nil, false, newErr(http.StatusBadRequest, errNumBadParameter, "invalid index type")
		}
		return nil, false, newErr(http.StatusBadRequest, errNumBadParameter, "invalid index type '"+typ+"'")
	}
	if typ == "hash" || typ == "skiplist" {
		typ = "persistent"
	}
	fv, ok := getField(fs, "fields")
	if !ok || jsonKind(fv) != 'a' {
		return nil, false, newErr(http.StatusBadRequest, errNumBadParameter, "index definition requires fields attribute")
	}
	var names []string
	if typ == "inverted" {
		nf, n, err := normalizeInvertedFields(fv)
		if err != nil {
			return nil, false, newErr(http.StatusBadRequest, errNumBadParameter, "invalid fields")
		}
		fv, names = nf, n
	} else if err := json.Unmarshal(fv, &names); err != nil || len(names) == 0 {
		return nil, false, newErr(http.StatusBadRequest, errNumBadParameter, "invalid fields")
	}
	def := slices.Clone(defs)
	def = append(def, field{"fields", fv}, field{"type", quoteJSON(typ)})
	for _, k := range settable[typ] {
		if v, ok := getField(fs, k); ok {
			def = setField(def, k, v)
		}
	}
	if typ == "ttl" {
		if _, ok := getField(def, "expireAfter"); !ok {
			return nil, false, newErr(http.StatusBadRequest, errNumBadParameter, "expireAfter attribute must be a number")
		}
	}
	unique := false
	sparse := false
	if v, ok := getField(def, "unique"); ok {
		unique = string(v) == "true"
	}
	if v, ok := getField(def, "sparse"); ok {
		sparse = string(v) == "true"
	}
	if unique && typ == "persistent" && len(col.Shards) > 1 {
		for _, sk := range col.Props.ShardKeys {
			if !slices.Contains(names, sk) {
				return nil, false, newErr(http.StatusNotImplemented, errNumClusterUnsupported,
					"unsupported operation or parameter for clusters: shard key attributes must be part of a unique index")
			}
		}
	}
	name := ""
	if v, ok := getField(fs, "name"); ok {
		name, _ = unquote(v)
	}
	c.mu.Lock()
	for _, ix := range col.Indexes {
		if ix.Type == typ && slices.Equal(ix.Fields, names) && ix.Unique == unique && ix.Sparse == sparse &&
			(name == "" || name == ix.Name) {
			c.mu.Unlock()
			return ix, false, nil
		}
		if name != "" && ix.Name == name {
			c.mu.Unlock()
			return nil, false, newErr(http.StatusConflict, errNumDuplicateName, "duplicate value: index name '"+name+"' already exists")
		}
	}
	if name == "" {
		name = "idx_" + strconv.FormatUint(c.clock.Next(), 10)
	}
	ix := &Index{ID: c.nextID(), Type: typ, Name: name, Fields: names, Unique: unique, Sparse: sparse, Def: def}
	placement := c.shardPlacementLocked(col)
	c.mu.Unlock()

	// Writes are held off (every shard locked, in id order) while the entries are built
	// and the index enters the catalog, so no write misses the new index.
	shards := make([]*Shard, 0, len(placement))
	for sh := range placement {
		shards = append(shards, sh)
	}
	slices.SortFunc(shards, func(a, b *Shard) int { return cmpUint(a.ID, b.ID) })
	for _, sh := range shards {
		sh.mu.Lock()
	}
	unlock := func() {
		for _, sh := range shards {
			sh.mu.Unlock()
		}
	}
	if unique && typ == "persistent" {
		for _, sh := range shards {
			for _, s := range placement[sh] {
				if r, ok := s.replica(sh.Name); ok {
					if e := r.buildUnique(col, ix); e != nil {
						unlock()
						return nil, false, e
					}
				}
			}
		}
	}
	c.mu.Lock()
	col.Indexes = append(col.Indexes, ix)
	c.persistCatalogLocked()
	c.mu.Unlock()
	unlock()
	data := indexPlainJSON(ix)
	for sh, servers := range placement {
		for _, s := range servers {
			s.logCatalog(indexMarker(MarkerIndexCreate, sh, data))
		}
	}
	return ix, true, nil
}

// DropIndex drops an index by numeric id.
func (c *Cluster) DropIndex(col *Collection, id uint64) error {
	c.mu.Lock()
	pos := -1
	for i, ix := range col.Indexes {
		if ix.ID == id && ix.Type != "primary" && ix.Type != "edge" {
			pos = i
		}
	}
	if pos < 0 {
		c.mu.Unlock()
		if id == 0 {
			return newErr(http.StatusForbidden, errNumForbidden, "cannot drop primary index")
		}
		return newErr(http.StatusNotFound, errNumIndexNotFound, "index not found")
	}
	col.Indexes = append(slices.Clone(col.Indexes[:pos]), col.Indexes[pos+1:]...)
	placement := c.shardPlacementLocked(col)
	c.persistCatalogLocked()
	c.mu.Unlock()
	data := obj("id", strconv.FormatUint(id, 10))
	for sh, servers := range placement {
		for _, s := range servers {
			if r, ok := s.replica(sh.Name); ok {
				r.mu.Lock()
				delete(r.unique, id)
				r.mu.Unlock()
			}
			s.logCatalog(indexMarker(MarkerIndexDrop, sh, data))
		}
	}
	return nil
}

// uniqueIndexes returns the collection's unique persistent indexes.
func (col *Collection) uniqueIndexes() []*Index {
	col.DB.c.mu.RLock()
	defer col.DB.c.mu.RUnlock()
	var out []*Index
	for _, ix := range col.Indexes {
		if ix.Unique && ix.Type == "persistent" {
			out = append(out, ix)
		}
	}
	return out
}

// indexValue encodes a document's values for a unique index; ok is false when a sparse
// index does not index the document.
func indexValue(ix *Index, d *Doc, fs []field) (string, bool) {
	var b strings.Builder
	for _, f := range ix.Fields {
		var v []byte
		switch f {
		case "_key":
			v = quoteJSON(d.Key)
		case "_from":
			v = quoteJSON(d.From)
		case "_to":
			v = quoteJSON(d.To)
		default:
			x, ok := lookupPath(fs, strings.TrimSuffix(f, "[*]"))
			if !ok || jsonKind(x) == 'z' {
				if ix.Sparse {
					return "", false
				}
				x = []byte("null")
			}
			v = x
		}
		b.Write(v)
		b.WriteByte(0)
	}
	return b.String(), true
}

func (r *Replica) buildUnique(col *Collection, ix *Index) *ArangoError {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := make(map[string]string, len(r.docs))
	for _, d := range r.docs {
		v, ok := indexValue(ix, d, d.Fields())
		if !ok {
			continue
		}
		if other, dup := m[v]; dup {
			return uniqueErr(ix, other)
		}
		m[v] = d.Key
	}
	if r.unique == nil {
		r.unique = make(map[uint64]map[string]string)
	}
	r.unique[ix.ID] = m
	return nil
}

func uniqueErr(ix *Index, key string) *ArangoError {
	return newErr(http.StatusConflict, errNumUniqueViolated, "unique constraint violated - in index "+ix.Name+
		" of type persistent over '"+strings.Join(ix.Fields, ", ")+"'; conflicting key: "+key)
}

// index adds d to this replica's unique indexes. Callers hold r.mu.
func (r *Replica) index(d *Doc, ixs []*Index) {
	if len(r.unique) == 0 || d == nil {
		return
	}
	fs := d.Fields()
	for _, ix := range ixs {
		m := r.unique[ix.ID]
		if m == nil {
			continue
		}
		if v, ok := indexValue(ix, d, fs); ok {
			m[v] = d.Key
		}
	}
}

// unindex removes d from this replica's unique indexes. Callers hold r.mu.
func (r *Replica) unindex(d *Doc, ixs []*Index) {
	if len(r.unique) == 0 || d == nil {
		return
	}
	fs := d.Fields()
	for _, ix := range ixs {
		m := r.unique[ix.ID]
		if m == nil {
			continue
		}
		if v, ok := indexValue(ix, d, fs); ok && m[v] == d.Key {
			delete(m, v)
		}
	}
}

// checkUnique verifies nd against the leader's unique indexes and the request overlay.
func (c *Cluster) checkUnique(col *Collection, sh *Shard, r *Replica, ixs []*Index, nd *Doc, ov *overlay) *ArangoError {
	if len(ixs) == 0 {
		return nil
	}
	if r == nil {
		return nil
	}
	fs := nd.Fields()
	for _, ix := range ixs {
		v, ok := indexValue(ix, nd, fs)
		if !ok {
			continue
		}
		r.mu.RLock()
		owner, taken := r.unique[ix.ID][v]
		r.mu.RUnlock()
		if taken && owner != nd.Key {
			// The owner may have been changed or removed earlier in this request.
			if d, exists, hit := ov.get(sh, owner); hit {
				if !exists {
					taken = false
				} else if v2, ok := indexValue(ix, d, d.Fields()); !ok || v2 != v {
					taken = false
				}
			}
		}
		if taken && owner != nd.Key {
			return uniqueErr(ix, owner)
		}
		if k, ok := ov.uniq[ix.ID][v]; ok && k != nd.Key {
			if d, exists, hit := ov.get(sh, k); hit && exists {
				if v2, ok := indexValue(ix, d, d.Fields()); ok && v2 == v {
					return uniqueErr(ix, k)
				}
			}
		}
	}
	// Claim the values for the rest of the request.
	for _, ix := range ixs {
		if v, ok := indexValue(ix, nd, fs); ok {
			m := ov.uniq[ix.ID]
			if m == nil {
				m = make(map[string]string)
				ov.uniq[ix.ID] = m
			}
			m[v] = nd.Key
		}
	}
	return nil
}
