package arangosim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

var arangosearchDefaults = []field{
	{"cleanupIntervalStep", []byte("2")}, {"commitIntervalMsec", []byte("1000")}, {"consolidationIntervalMsec", []byte("5000")},
	{"consolidationPolicy", []byte(`{"type":"tier","segmentsBytesMax":8589934592,"maxSkewThreshold":0.4,"minDeletionRatio":0.5}`)},
	{"optimizeTopK", []byte("[]")}, {"primarySort", []byte("[]")}, {"primarySortCompression", quoteJSON("lz4")},
	{"storedValues", []byte("[]")}, {"writebufferActive", []byte("0")}, {"writebufferIdle", []byte("64")},
	{"writebufferSizeMax", []byte("33554432")}, {"links", []byte("{}")},
}

// immutable view properties (only settable at creation).
var viewImmutable = []string{"primarySort", "primarySortCompression", "storedValues", "optimizeTopK",
	"writebufferActive", "writebufferIdle", "writebufferSizeMax"}

func (v *View) guid() string { return "c" + strconv.FormatUint(v.ID, 10) + "/" }

func (v *View) head() []field {
	return []field{{"globallyUniqueId", quoteJSON(v.guid())}, {"id", quoteJSON(strconv.FormatUint(v.ID, 10))},
		{"name", quoteJSON(v.Name)}, {"type", quoteJSON(v.Type)}}
}

// json is the full view definition.
func (v *View) json(_ *Database) []byte { return fieldsToObject(append(v.head(), v.Def...)) }

// viewsSorted returns the views by name; callers hold Cluster.mu.
func (db *Database) viewsSorted() []*View {
	out := make([]*View, 0, len(db.views))
	for _, v := range db.views {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b *View) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (c *Cluster) logView(typ int, db *Database, v *View) {
	var data []byte
	if typ != MarkerViewDrop {
		data = v.json(db)
	}
	for _, s := range c.dbservers {
		if s.HasDatabase(db.Name) {
			s.logCatalog(viewMarker(typ, db, v.guid(), data))
		}
	}
}

func viewProps(typ string, body []field, base []field, partial bool, creating bool) []field {
	var def []field
	if typ == "arangosearch" {
		def = slices.Clone(base)
		if def == nil {
			def = slices.Clone(arangosearchDefaults)
		}
		for _, f := range body {
			switch f.Key {
			case "name", "type", "id", "globallyUniqueId":
				continue
			}
			if !creating && slices.Contains(viewImmutable, f.Key) {
				continue
			}
			if f.Key == "links" {
				f.Val = normalizeLinks(f.Val)
			}
			if f.Key == "links" && partial {
				old, _ := getField(def, "links")
				of, _ := objectFields(rawOrNull(old))
				nf, err := objectFields(f.Val)
				if err == nil {
					merged, _ := mergePatch(of, nf, false, false)
					def = setField(def, "links", fieldsToObject(merged))
				}
				continue
			}
			def = setField(def, f.Key, f.Val)
		}
		if !partial && !creating {
			if _, ok := getField(body, "links"); !ok {
				def = setField(def, "links", []byte("{}"))
			}
		}
		return def
	}
	// search-alias: indexes
	idx, _ := getField(body, "indexes")
	if idx == nil {
		idx = []byte("[]")
	}
	if partial && base != nil {
		old, _ := getField(base, "indexes")
		oe, _ := arrayElems(rawOrNull(old))
		ne, _ := arrayElems(idx)
		var merged [][]byte
		merged = append(merged, oe...)
		for _, e := range ne {
			fs, _ := objectFields(e)
			if op, ok := getField(fs, "operation"); ok && string(op) == `"del"` {
				var keep [][]byte
				for _, m := range merged {
					mf, _ := objectFields(m)
					a, _ := getField(mf, "index")
					b, _ := getField(fs, "index")
					if string(a) != string(b) {
						keep = append(keep, m)
					}
				}
				merged = keep
				continue
			}
			var clean []field
			for _, f := range fs {
				if f.Key != "operation" {
					clean = append(clean, f)
				}
			}
			merged = append(merged, fieldsToObject(clean))
		}
		idx = joinArray(merged)
	}
	return []field{{"indexes", idx}}
}

func lookupView(w http.ResponseWriter, r *Request) (*View, bool) {
	name := r.PathValue("name")
	c := r.Server.c
	c.mu.RLock()
	defer c.mu.RUnlock()
	if v, ok := r.DB.views[name]; ok {
		return v, true
	}
	for _, v := range r.DB.views {
		if strconv.FormatUint(v.ID, 10) == name {
			return v, true
		}
	}
	WriteError(w, http.StatusNotFound, errNumDataSourceNotFound, "collection or view not found")
	return nil, false
}

func handleViewCreate(w http.ResponseWriter, r *Request) {
	if refuseReadOnlyDDL(w, r) {
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	fs, err := objectFields(body)
	if err != nil {
		WriteError(w, http.StatusBadRequest, errNumCorruptedJSON, "invalid JSON object")
		return
	}
	nv, _ := getField(fs, "name")
	tv, _ := getField(fs, "type")
	name, _ := unquote(nv)
	typ, _ := unquote(tv)
	if typ != "arangosearch" && typ != "search-alias" {
		WriteError(w, http.StatusBadRequest, errNumBadParameter, "invalid type provided to create view")
		return
	}
	if !validCollectionName(name, false) {
		WriteError(w, http.StatusBadRequest, errNumIllegalName, "illegal name")
		return
	}
	c := r.Server.c
	c.mu.Lock()
	if _, dup := r.DB.views[name]; dup {
		c.mu.Unlock()
		WriteError(w, http.StatusConflict, errNumDuplicateName, "duplicate name")
		return
	}
	if _, dup := r.DB.colls[name]; dup {
		c.mu.Unlock()
		WriteError(w, http.StatusConflict, errNumDuplicateName, "duplicate name")
		return
	}
	v := &View{ID: c.nextID(), Name: name, Type: typ, Def: viewProps(typ, fs, nil, false, true)}
	r.DB.views[name] = v
	c.persistCatalogLocked()
	c.mu.Unlock()
	c.logView(MarkerViewCreate, r.DB, v)
	writeRaw(w, http.StatusCreated, v.json(r.DB))
}

func handleViewList(w http.ResponseWriter, r *Request) {
	c := r.Server.c
	c.mu.RLock()
	var items [][]byte
	for _, v := range r.DB.viewsSorted() {
		items = append(items, fieldsToObject(v.head()))
	}
	c.mu.RUnlock()
	writeRaw(w, http.StatusOK, obj("error", false, "code", 200, "result", rawJSON(joinArray(items))))
}

func handleViewGet(w http.ResponseWriter, r *Request) {
	v, ok := lookupView(w, r)
	if !ok {
		return
	}
	c := r.Server.c
	c.mu.RLock()
	fs := []field{{"error", boolJSON(false)}, {"code", intJSON(200)}, {"type", quoteJSON(v.Type)}, {"name", quoteJSON(v.Name)},
		{"id", quoteJSON(strconv.FormatUint(v.ID, 10))}, {"globallyUniqueId", quoteJSON(v.guid())}}
	c.mu.RUnlock()
	writeRaw(w, http.StatusOK, fieldsToObject(fs))
}

func handleViewProperties(w http.ResponseWriter, r *Request) {
	v, ok := lookupView(w, r)
	if !ok {
		return
	}
	c := r.Server.c
	c.mu.RLock()
	b := fieldsToObject(append(append([]field{{"error", boolJSON(false)}, {"code", intJSON(200)}}, v.head()...), v.Def...))
	c.mu.RUnlock()
	writeRaw(w, http.StatusOK, b)
}

func handleViewChange(partial bool) HandlerFunc {
	return func(w http.ResponseWriter, r *Request) {
		if refuseReadOnlyDDL(w, r) {
			return
		}
		v, ok := lookupView(w, r)
		if !ok {
			return
		}
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		fs, err := objectFields(body)
		if err != nil {
			WriteError(w, http.StatusBadRequest, errNumCorruptedJSON, "invalid JSON object")
			return
		}
		c := r.Server.c
		c.mu.Lock()
		base := v.Def
		if !partial && v.Type == "arangosearch" {
			// PUT resets the mutable properties to their defaults.
			base = slices.Clone(arangosearchDefaults)
			for _, k := range viewImmutable {
				if val, ok := getField(v.Def, k); ok {
					base = setField(base, k, val)
				}
			}
		}
		v.Def = viewProps(v.Type, fs, base, partial || v.Type == "search-alias" && partial, false)
		out := v.json(r.DB)
		c.persistCatalogLocked()
		c.mu.Unlock()
		c.logView(MarkerViewChange, r.DB, v)
		writeRaw(w, http.StatusOK, out)
	}
}

func handleViewRename(w http.ResponseWriter, r *Request) {
	if refuseReadOnlyDDL(w, r) {
		return
	}
	v, ok := lookupView(w, r)
	if !ok {
		return
	}
	body, _ := r.Body()
	var req struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(body, &req); err != nil || !validCollectionName(req.Name, false) {
		WriteError(w, http.StatusBadRequest, errNumIllegalName, "illegal name")
		return
	}
	c := r.Server.c
	c.mu.Lock()
	if _, dup := r.DB.views[req.Name]; dup {
		c.mu.Unlock()
		WriteError(w, http.StatusConflict, errNumDuplicateName, "duplicate name")
		return
	}
	delete(r.DB.views, v.Name)
	v.Name = req.Name
	r.DB.views[v.Name] = v
	out := v.json(r.DB)
	c.persistCatalogLocked()
	c.mu.Unlock()
	c.logView(MarkerViewChange, r.DB, v)
	writeRaw(w, http.StatusOK, out)
}

func handleViewDrop(w http.ResponseWriter, r *Request) {
	if refuseReadOnlyDDL(w, r) {
		return
	}
	v, ok := lookupView(w, r)
	if !ok {
		return
	}
	c := r.Server.c
	c.mu.Lock()
	delete(r.DB.views, v.Name)
	c.persistCatalogLocked()
	c.mu.Unlock()
	c.logView(MarkerViewDrop, r.DB, v)
	writeRaw(w, http.StatusOK, obj("error", false, "code", 200, "result", true))
}

// Analyzers.

var builtinAnalyzers = func() []*Analyzer {
	text := func(loc string) *Analyzer {
		return &Analyzer{Name: "text_" + loc, Def: []field{{"type", quoteJSON("text")},
			{"properties", obj("locale", loc, "case", "lower", "stopwords", []string{}, "accent", false, "stemming", true)},
			{"features", []byte(`["frequency","position","norm"]`)}}}
	}
	out := []*Analyzer{{Name: "identity", Def: []field{{"type", quoteJSON("identity")}, {"properties", []byte("{}")},
		{"features", []byte(`["frequency","norm"]`)}}}}
	for _, l := range []string{"de", "en", "es", "fi", "fr", "it", "nl", "no", "pt", "ru", "sv", "zh"} {
		out = append(out, text(l))
	}
	return out
}()

func analyzerJSON(a *Analyzer) []byte {
	return fieldsToObject(append([]field{{"name", quoteJSON(a.Name)}}, a.Def...))
}

func qualify(db, name string) string {
	if strings.Contains(name, "::") {
		return name
	}
	for _, b := range builtinAnalyzers {
		if b.Name == name {
			return name
		}
	}
	return db + "::" + name
}

func (c *Cluster) findAnalyzer(db *Database, name string) (*Analyzer, bool) {
	q := qualify(db.Name, name)
	for _, b := range builtinAnalyzers {
		if b.Name == q {
			return b, true
		}
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	dbn, short, _ := strings.Cut(q, "::")
	d := db
	if dbn != db.Name {
		if o, ok := c.dbs[dbn]; ok {
			d = o
		} else {
			return nil, false
		}
	}
	a, ok := d.analyzers[short]
	return a, ok
}

func handleAnalyzerCreate(w http.ResponseWriter, r *Request) {
	if refuseReadOnlyDDL(w, r) {
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	fs, err := objectFields(body)
	if err != nil {
		WriteError(w, http.StatusBadRequest, errNumCorruptedJSON, "invalid JSON object")
		return
	}
	nv, _ := getField(fs, "name")
	name, _ := unquote(nv)
	tv, _ := getField(fs, "type")
	typ, _ := unquote(tv)
	if name == "" || typ == "" {
		WriteError(w, http.StatusBadRequest, errNumBadParameter, "invalid analyzer name or type")
		return
	}
	props, ok := getField(fs, "properties")
	if !ok || string(props) == "null" {
		props = []byte("{}")
	}
	feats, ok := getField(fs, "features")
	if !ok {
		feats = []byte("[]")
	}
	short := name
	if _, s, found := strings.Cut(name, "::"); found {
		short = s
	}
	a := &Analyzer{Name: r.DBName + "::" + short, Def: []field{{"type", quoteJSON(typ)}, {"properties", props}, {"features", feats}}}
	c := r.Server.c
	c.mu.Lock()
	if old, dup := r.DB.analyzers[short]; dup {
		c.mu.Unlock()
		if string(fieldsToObject(old.Def)) == string(fieldsToObject(a.Def)) {
			writeRaw(w, http.StatusOK, analyzerJSON(old))
			return
		}
		WriteError(w, http.StatusBadRequest, errNumBadParameter, "Name collision detected while registering analyzer '"+a.Name+"'")
		return
	}
	r.DB.analyzers[short] = a
	c.persistCatalogLocked()
	c.mu.Unlock()
	c.storeAnalyzerDoc(r.DB, short, a, false)
	writeRaw(w, http.StatusCreated, analyzerJSON(a))
}

// storeAnalyzerDoc mirrors an analyzer into the database's _analyzers collection, as arangod stores it.
func (c *Cluster) storeAnalyzerDoc(db *Database, short string, a *Analyzer, remove bool) {
	col, ok := db.Collection("_analyzers")
	if !ok {
		return
	}
	var op *docOp
	o := writeOptions{OverwriteMode: "replace", IgnoreRevs: true, KeepNull: true}
	if remove {
		op = &docOp{kind: opRemove, key: short}
	} else {
		op = &docOp{kind: opInsert, key: short, fields: append([]field{{"name", quoteJSON(short)}}, a.Def...)}
	}
	col.prepare(c, []*docOp{op}, o)
	c.execute(col, []*docOp{op}, o)
}

func handleAnalyzerList(w http.ResponseWriter, r *Request) {
	var items [][]byte
	for _, a := range builtinAnalyzers {
		items = append(items, analyzerJSON(a))
	}
	c := r.Server.c
	c.mu.RLock()
	names := make([]string, 0, len(r.DB.analyzers))
	for n := range r.DB.analyzers {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		items = append(items, analyzerJSON(r.DB.analyzers[n]))
	}
	c.mu.RUnlock()
	writeRaw(w, http.StatusOK, obj("error", false, "code", 200, "result", rawJSON(joinArray(items))))
}

func handleAnalyzerGet(w http.ResponseWriter, r *Request) {
	a, ok := r.Server.c.findAnalyzer(r.DB, r.PathValue("name"))
	if !ok {
		WriteError(w, http.StatusNotFound, errNumAnalyzerNotFound, "analyzer not found")
		return
	}
	writeRaw(w, http.StatusOK, fieldsToObject(append([]field{{"error", boolJSON(false)}, {"code", intJSON(200)}},
		append([]field{{"name", quoteJSON(a.Name)}}, a.Def...)...)))
}

func handleAnalyzerDelete(w http.ResponseWriter, r *Request) {
	if refuseReadOnlyDDL(w, r) {
		return
	}
	name := r.PathValue("name")
	short := name
	if _, s, found := strings.Cut(name, "::"); found {
		short = s
	}
	c := r.Server.c
	c.mu.Lock()
	a, ok := r.DB.analyzers[short]
	if !ok {
		c.mu.Unlock()
		for _, b := range builtinAnalyzers {
			if b.Name == name {
				WriteError(w, http.StatusForbidden, errNumForbidden, "built-in analyzers cannot be removed")
				return
			}
		}
		WriteError(w, http.StatusNotFound, errNumAnalyzerNotFound, "analyzer not found")
		return
	}
	if !r.QueryBool("force", false) && r.DB.analyzerInUse(a.Name, short) {
		c.mu.Unlock()
		WriteError(w, http.StatusConflict, errNumConflict, "analyzer '"+a.Name+"' is in use")
		return
	}
	delete(r.DB.analyzers, short)
	c.persistCatalogLocked()
	c.mu.Unlock()
	c.storeAnalyzerDoc(r.DB, short, a, true)
	writeRaw(w, http.StatusOK, obj("error", false, "code", 200, "name", a.Name))
}

// Index handlers.

func indexCollection(w http.ResponseWriter, r *Request, name string) (*Collection, bool) {
	if name == "" {
		WriteError(w, http.StatusBadRequest, errNumCollParamMissing, "collection parameter missing")
		return nil, false
	}
	return lookupCollection(w, r, name)
}

func handleIndexList(w http.ResponseWriter, r *Request) {
	col, ok := indexCollection(w, r, r.Query("collection"))
	if !ok {
		return
	}
	c := r.Server.c
	c.mu.RLock()
	var items [][]byte
	var ids []field
	for _, ix := range col.Indexes {
		j := indexJSON(col, ix)
		items = append(items, j)
		ids = append(ids, field{indexID(col, ix), j})
	}
	c.mu.RUnlock()
	writeRaw(w, http.StatusOK, obj("error", false, "code", 200, "indexes", rawJSON(joinArray(items)),
		"identifiers", rawJSON(fieldsToObject(ids))))
}

func handleIndexCreate(w http.ResponseWriter, r *Request) {
	if refuseReadOnlyDDL(w, r) {
		return
	}
	col, ok := indexCollection(w, r, r.Query("collection"))
	if !ok || !canWrite(w, r, col) {
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	ix, created, err := r.Server.c.CreateIndex(col, body)
	if err != nil {
		writeErr(w, err)
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	r.Server.c.mu.RLock()
	out := indexJSON(col, ix, field{"isNewlyCreated", boolJSON(created)}, field{"code", intJSON(code)}, field{"error", boolJSON(false)})
	r.Server.c.mu.RUnlock()
	// isNewlyCreated sorts with the definition.
	fs, _ := objectFields(out)
	n := len(fs) - 3
	def := append(slices.Clone(fs[:n]), fs[n])
	slices.SortFunc(def, func(a, b field) int { return strings.Compare(a.Key, b.Key) })
	writeRaw(w, code, fieldsToObject(append(def, fs[n+1:]...)))
}

func findIndex(col *Collection, id string) (*Index, bool) {
	for _, ix := range col.Indexes {
		if strconv.FormatUint(ix.ID, 10) == id || ix.Name == id {
			return ix, true
		}
	}
	return nil, false
}

func handleIndexGet(w http.ResponseWriter, r *Request) {
	col, ok := lookupCollection(w, r, r.PathValue("coll"))
	if !ok {
		return
	}
	c := r.Server.c
	c.mu.RLock()
	ix, found := findIndex(col, r.PathValue("id"))
	var out []byte
	if found {
		out = indexJSON(col, ix, field{"code", intJSON(200)}, field{"error", boolJSON(false)})
	}
	c.mu.RUnlock()
	if !found {
		WriteError(w, http.StatusNotFound, errNumIndexNotFound, "index not found")
		return
	}
	writeRaw(w, http.StatusOK, out)
}

func handleIndexDrop(w http.ResponseWriter, r *Request) {
	if refuseReadOnlyDDL(w, r) {
		return
	}
	col, ok := lookupCollection(w, r, r.PathValue("coll"))
	if !ok || !canWrite(w, r, col) {
		return
	}
	c := r.Server.c
	c.mu.RLock()
	ix, found := findIndex(col, r.PathValue("id"))
	c.mu.RUnlock()
	if !found {
		WriteError(w, http.StatusNotFound, errNumIndexNotFound, "index not found")
		return
	}
	if err := c.DropIndex(col, ix.ID); err != nil {
		writeErr(w, err)
		return
	}
	writeRaw(w, http.StatusOK, obj("id", indexID(col, ix), "error", false, "code", 200))
}

func (s *Server) setupExtraCoordinatorRoutes() {
	s.Handle("GET /_api/view", AccessUser, handleViewList)
	s.Handle("POST /_api/view", AccessUser, handleViewCreate)
	s.Handle("GET /_api/view/{name}", AccessUser, handleViewGet)
	s.Handle("GET /_api/view/{name}/properties", AccessUser, handleViewProperties)
	s.Handle("PUT /_api/view/{name}/properties", AccessUser, handleViewChange(false))
	s.Handle("PATCH /_api/view/{name}/properties", AccessUser, handleViewChange(true))
	s.Handle("PUT /_api/view/{name}/rename", AccessUser, handleViewRename)
	s.Handle("DELETE /_api/view/{name}", AccessUser, handleViewDrop)

	s.Handle("GET /_api/analyzer", AccessUser, handleAnalyzerList)
	s.Handle("POST /_api/analyzer", AccessUser, handleAnalyzerCreate)
	s.Handle("GET /_api/analyzer/{name}", AccessUser, handleAnalyzerGet)
	s.Handle("DELETE /_api/analyzer/{name}", AccessUser, handleAnalyzerDelete)

	s.Handle("POST /_api/user", AccessUser, handleUserCreate)
	s.Handle("GET /_api/user", AccessUser, handleUserList)
	s.Handle("GET /_api/user/{user}", AccessUser, handleUserGet)
	s.Handle("PUT /_api/user/{user}", AccessUser, handleUserModify(true))
	s.Handle("PATCH /_api/user/{user}", AccessUser, handleUserModify(false))
	s.Handle("DELETE /_api/user/{user}", AccessUser, handleUserDelete)
	s.Handle("GET /_api/user/{user}/database", AccessUser, handleUserDatabases)
	s.Handle("GET /_api/user/{user}/database/{$}", AccessUser, handleUserDatabases)
	s.Handle("GET /_api/user/{user}/database/{db}", AccessUser, handleUserDatabase)
	s.Handle("GET /_api/user/{user}/database/{db}/{coll}", AccessUser, handleUserDatabase)
	s.Handle("PUT /_api/user/{user}/database/{db}", AccessUser, handleUserGrant)
	s.Handle("PUT /_api/user/{user}/database/{db}/{coll}", AccessUser, handleUserGrant)
	s.Handle("DELETE /_api/user/{user}/database/{db}", AccessUser, handleUserRevoke)
	s.Handle("DELETE /_api/user/{user}/database/{db}/{coll}", AccessUser, handleUserRevoke)

	s.Handle("POST /_api/transaction/begin", AccessUser, handleTrxBegin)
	s.Handle("GET /_api/transaction", AccessUser, handleTrxList)
	s.Handle("POST /_api/transaction", AccessUser, handleJSTransaction)
	s.Handle("GET /_api/transaction/{id}", AccessUser, handleTrxStatus)
	s.Handle("PUT /_api/transaction/{id}", AccessUser, handleTrxCommit)
	s.Handle("DELETE /_api/transaction/{id}", AccessUser, handleTrxAbort)

	s.Handle("GET /_api/key-generators", AccessUser, func(w http.ResponseWriter, r *Request) {
		writeRaw(w, http.StatusOK, obj("keyGenerators", []string{"padded", "uuid", "autoincrement", "traditional"}))
	})
}

// normalizeLinks fills each link definition with arangod's defaults.
func normalizeLinks(raw []byte) []byte {
	links, err := objectFields(raw)
	if err != nil {
		return raw
	}
	for i, l := range links {
		if jsonKind(l.Val) != 'o' {
			continue
		}
		fs, err := objectFields(l.Val)
		if err != nil {
			continue
		}
		def := []field{{"analyzers", []byte(`["identity"]`)}, {"fields", []byte("{}")}, {"includeAllFields", []byte("false")},
			{"storeValues", quoteJSON("none")}, {"trackListPositions", []byte("false")}}
		for _, f := range fs {
			def = setField(def, f.Key, f.Val)
		}
		links[i].Val = fieldsToObject(def)
	}
	return fieldsToObject(links)
}

// analyzerInUse reports a view link that uses the analyzer (db::name or name).
func (db *Database) analyzerInUse(full, short string) bool {
	for _, v := range db.views {
		lv, ok := getField(v.Def, "links")
		if !ok {
			continue
		}
		s := string(lv)
		if strings.Contains(s, `"`+full+`"`) || strings.Contains(s, `"`+short+`"`) {
			return true
		}
	}
	return false
}
