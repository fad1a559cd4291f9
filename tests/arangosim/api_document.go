package arangosim

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

func parseWriteOptions(r *Request) writeOptions {
	return writeOptions{
		WaitForSync:   r.QueryBool("waitForSync", false),
		ReturnNew:     r.QueryBool("returnNew", false),
		ReturnOld:     r.QueryBool("returnOld", false),
		Silent:        r.QueryBool("silent", false),
		KeepNull:      r.QueryBool("keepNull", true),
		MergeObjects:  r.QueryBool("mergeObjects", true),
		IgnoreRevs:    r.QueryBool("ignoreRevs", true),
		IsRestore:     r.QueryBool("isRestore", false),
		Overwrite:     r.QueryBool("overwrite", false),
		OverwriteMode: r.Query("overwriteMode"),
	}
}

// ifMatch parses an If-Match / If-None-Match header value ("<rev>" with or without quotes).
func ifMatch(h string) uint64 {
	h = strings.Trim(strings.TrimSpace(h), `"`)
	if h == "" {
		return 0
	}
	v, _ := DecodeRev(h)
	return v
}

func docLocation(r *Request, col *Collection, key string) string {
	return "/_db/" + url.PathEscape(r.DBName) + "/_api/document/" + url.PathEscape(col.CurrentName()) + "/" + url.PathEscape(key)
}

// docCollection resolves the collection of a document request.
func docCollection(w http.ResponseWriter, r *Request) (*Collection, bool) {
	name := r.PathValue("coll")
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

func (col *Collection) syncStatus(o writeOptions) int {
	col.DB.c.mu.RLock()
	wfs := col.Props.WaitForSync
	col.DB.c.mu.RUnlock()
	if o.WaitForSync || wfs {
		return http.StatusCreated
	}
	return http.StatusAccepted
}

// renderResult renders one successful operation.
func renderResult(name string, res *opResult, kind opKind, o writeOptions) []byte {
	return appendResult(make([]byte, 0, 128), name, res, kind, o)
}

// appendResult appends renderResult's object to b.
func appendResult(b []byte, name string, res *opResult, kind opKind, o writeOptions) []byte {
	b = append(b, `{"_id":`...)
	b = appendQuotedID(b, name, res.key)
	b = append(b, `,"_key":`...)
	b = appendQuoted(b, res.key)
	b = append(b, `,"_rev":"`...)
	b = appendRev(b, res.rev)
	b = append(b, '"')
	if kind != opRemove && res.oldRev != 0 {
		b = append(b, `,"_oldRev":"`...)
		b = appendRev(b, res.oldRev)
		b = append(b, '"')
	}
	if o.ReturnNew && res.newDoc != nil {
		b = append(b, `,"new":`...)
		b = res.newDoc.AppendJSON(b, name)
	}
	if o.ReturnOld && res.oldDoc != nil {
		b = append(b, `,"old":`...)
		b = res.oldDoc.AppendJSON(b, name)
	}
	return append(b, '}')
}

func renderItemError(e *ArangoError) []byte {
	b := make([]byte, 0, 96)
	b = append(b, `{"error":true,"errorNum":`...)
	b = strconv.AppendInt(b, int64(e.Num), 10)
	b = append(b, `,"errorMessage":`...)
	b = appendQuoted(b, e.Message)
	return append(b, '}')
}

// writeSingle answers a single-document write.
func writeSingle(w http.ResponseWriter, r *Request, col *Collection, res *opResult, kind opKind, o writeOptions) {
	if res.err != nil {
		if res.err.Code == http.StatusPreconditionFailed {
			if v, ok := getField(res.err.Extra, "_rev"); ok {
				w.Header().Set("Etag", string(v))
			}
		}
		writeErr(w, res.err)
		return
	}
	w.Header().Set("Etag", `"`+EncodeRev(res.rev)+`"`)
	w.Header().Set("Location", docLocation(r, col, res.key))
	code := col.syncStatus(o)
	if kind == opRemove && code == http.StatusCreated {
		code = http.StatusOK
	}
	if o.Silent {
		writeRaw(w, code, []byte("{}"))
		return
	}
	writeRaw(w, code, renderResult(col.CurrentName(), res, kind, o))
}

// writeMulti answers an array request: per-item results and x-arango-error-codes.
func writeMulti(w http.ResponseWriter, col *Collection, results []opResult, kind opKind, o writeOptions) {
	codes := map[int]int{}
	var order []int
	name := col.CurrentName()
	b := make([]byte, 0, (80+len(name))*len(results)+2)
	b = append(b, '[')
	first := true
	for i := range results {
		res := &results[i]
		if res.err == nil && o.Silent {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		if res.err != nil {
			if _, seen := codes[res.err.Num]; !seen {
				order = append(order, res.err.Num)
			}
			codes[res.err.Num]++
			b = append(b, renderItemError(res.err)...)
			continue
		}
		b = appendResult(b, name, res, kind, o)
	}
	b = append(b, ']')
	if len(codes) > 0 {
		h := make([]byte, 0, 32)
		h = append(h, '{')
		for i, n := range order {
			if i > 0 {
				h = append(h, ',')
			}
			h = append(h, '"')
			h = strconv.AppendInt(h, int64(n), 10)
			h = append(h, `":`...)
			h = strconv.AppendInt(h, int64(codes[n]), 10)
		}
		h = append(h, '}')
		w.Header().Set("X-Arango-Error-Codes", string(h))
	}
	code := col.syncStatus(o)
	if len(codes) > 0 && len(order) > 0 && allFailed(results) {
		code = http.StatusAccepted // nothing was written, nothing synced
	}
	if kind == opRemove && code == http.StatusCreated {
		code = http.StatusOK
	}
	writeRaw(w, code, b)
}

// runOps executes ops directly or inside the stream transaction named by x-arango-trx-id.
func runOps(w http.ResponseWriter, r *Request, col *Collection, ops []*docOp, o writeOptions) ([]opResult, bool) {
	c := r.Server.c
	if tid := r.Header.Get("X-Arango-Trx-Id"); tid != "" {
		res, err := c.trx.execute(r.DBName, tid, col, ops, o)
		if err != nil {
			writeErr(w, err)
			return nil, false
		}
		return res, true
	}
	col.prepare(c, ops, o)
	return c.execute(col, ops, o), true
}

func readBody(w http.ResponseWriter, r *Request) ([]byte, bool) {
	body, err := r.Body()
	if err != nil {
		WriteError(w, http.StatusBadRequest, errNumBadParameter, "cannot read request body")
		return nil, false
	}
	cb, err := compactJSON(body)
	if err != nil {
		WriteError(w, http.StatusBadRequest, errNumCorruptedJSON, "VPackError error: Expecting digit")
		return nil, false
	}
	return cb, true
}

// handleWrite runs a document write for a body that is an object (single) or an array.
func handleWrite(w http.ResponseWriter, r *Request, kind opKind, urlKey string) {
	// Nothing made here keeps a slice of the body: documents, keys and messages are
	// copies (newDoc, unquote), so its buffer is reused once the answer is written.
	defer r.releaseBody()
	if refuseReadOnly(w, r) {
		return
	}
	col, ok := docCollection(w, r)
	if !ok || !canWrite(w, r, col) {
		return
	}
	o := parseWriteOptions(r)
	if kind == opInsert && o.OverwriteMode != "" {
		switch o.OverwriteMode {
		case "ignore", "replace", "update", "conflict":
		default:
			o.OverwriteMode = ""
		}
	}
	var body []byte
	if raw, _ := r.Body(); kind == opRemove && urlKey != "" && len(strings.TrimSpace(string(raw))) == 0 {
		body = nil
	} else {
		var ok bool
		if body, ok = readBody(w, r); !ok {
			return
		}
	}
	if urlKey != "" {
		var op *docOp
		if body == nil {
			op = &docOp{kind: kind, key: urlKey}
		} else {
			if jsonKind(body) != 'o' {
				WriteError(w, http.StatusBadRequest, errNumDocumentTypeInvalid, "invalid document type")
				return
			}
			op = col.parseDocOp(kind, body, urlKey, o)
		}
		op.ifRev = ifMatch(r.Header.Get("If-Match"))
		if kind == opRemove {
			op.hasRev = false
		}
		res, ok := runOps(w, r, col, []*docOp{op}, o)
		if !ok {
			return
		}
		writeSingle(w, r, col, &res[0], kind, o)
		return
	}
	switch jsonKind(body) {
	case 'o':
		if kind != opInsert {
			WriteError(w, http.StatusBadRequest, errNumDocumentHandleBad, "invalid document handle")
			return
		}
		op := col.parseDocOp(kind, body, "", o)
		if op.err != nil {
			writeErr(w, op.err)
			return
		}
		res, ok := runOps(w, r, col, []*docOp{op}, o)
		if !ok {
			return
		}
		writeSingle(w, r, col, &res[0], kind, o)
	case 'a':
		elems, err := arrayElems(body)
		if err != nil {
			WriteError(w, http.StatusBadRequest, errNumCorruptedJSON, "invalid JSON array")
			return
		}
		ops := make([]*docOp, len(elems))
		slab := make([]docOp, len(elems))
		for i, e := range elems {
			ops[i] = &slab[i]
			col.parseDocOpInto(ops[i], kind, e, "", o)
			if kind != opInsert && ops[i].err == nil && ops[i].key == "" {
				ops[i].err = newErr(http.StatusBadRequest, errNumDocumentHandleBad, "invalid document handle")
			}
		}
		res, ok := runOps(w, r, col, ops, o)
		if !ok {
			return
		}
		writeMulti(w, col, res, kind, o)
	default:
		WriteError(w, http.StatusBadRequest, errNumDocumentTypeInvalid, "invalid document type")
	}
}

func handleDocumentInsert(w http.ResponseWriter, r *Request) { handleWrite(w, r, opInsert, "") }
func handleDocumentReplaceOne(w http.ResponseWriter, r *Request) {
	handleWrite(w, r, opReplace, r.PathValue("key"))
}
func handleDocumentUpdateOne(w http.ResponseWriter, r *Request) {
	handleWrite(w, r, opUpdate, r.PathValue("key"))
}
func handleDocumentRemoveOne(w http.ResponseWriter, r *Request) {
	handleWrite(w, r, opRemove, r.PathValue("key"))
}
func handleDocumentUpdateMany(w http.ResponseWriter, r *Request) { handleWrite(w, r, opUpdate, "") }
func handleDocumentRemoveMany(w http.ResponseWriter, r *Request) { handleWrite(w, r, opRemove, "") }
func handleDocumentReplaceMany(w http.ResponseWriter, r *Request) {
	if r.QueryBool("onlyget", false) {
		handleReadMany(w, r)
		return
	}
	handleWrite(w, r, opReplace, "")
}

// readDoc reads a document as the caller sees it (inside its transaction, if any).
func readDoc(r *Request, col *Collection, key string) (*Doc, bool, error) {
	if tid := r.Header.Get("X-Arango-Trx-Id"); tid != "" {
		return r.Server.c.trx.read(r.DBName, tid, col, key)
	}
	if !validKey(key) {
		return nil, false, nil
	}
	sh := col.shardFor(key, nil)
	if !col.shardKeyOnlyKey() && len(col.Shards) > 1 {
		sh = col.locate(key)
		if sh == nil {
			return nil, false, nil
		}
	}
	rp := sh.leaderReplica()
	if rp == nil {
		return nil, false, newErr(http.StatusServiceUnavailable, errNumNotLeader, "not a leader")
	}
	d, ok := rp.Get(key)
	return d, ok, nil
}

func handleDocumentRead(w http.ResponseWriter, r *Request) {
	col, ok := docCollection(w, r)
	if !ok {
		return
	}
	d, found, err := readDoc(r, col, r.PathValue("key"))
	if err != nil {
		writeErr(w, err)
		return
	}
	head := r.Method == http.MethodHead
	if !found {
		if head {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		WriteError(w, http.StatusNotFound, errNumDocumentNotFound, "document not found")
		return
	}
	etag := `"` + EncodeRev(d.Rev) + `"`
	w.Header().Set("Etag", etag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && ifMatch(inm) == d.Rev {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if im := r.Header.Get("If-Match"); im != "" && ifMatch(im) != d.Rev {
		if head {
			w.WriteHeader(http.StatusPreconditionFailed)
			return
		}
		writeErr(w, conflictErr(col, d))
		return
	}
	// For HEAD the server drops the body but keeps its Content-Length.
	writeRaw(w, http.StatusOK, d.JSON(col.CurrentName()))
}

func handleReadMany(w http.ResponseWriter, r *Request) {
	col, ok := docCollection(w, r)
	if !ok {
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	elems, err := arrayElems(body)
	if err != nil {
		WriteError(w, http.StatusBadRequest, errNumBadParameter, "expecting an array")
		return
	}
	ignoreRevs := r.QueryBool("ignoreRevs", true)
	b := []byte{'['}
	codes := map[int]int{}
	for i, e := range elems {
		if i > 0 {
			b = append(b, ',')
		}
		op := col.parseDocOp(opRemove, e, "", writeOptions{})
		if op.err != nil {
			codes[op.err.Num]++
			b = append(b, renderItemError(op.err)...)
			continue
		}
		d, found, err := readDoc(r, col, op.key)
		if err != nil || !found {
			codes[errNumDocumentNotFound]++
			b = append(b, renderItemError(notFoundErr())...)
			continue
		}
		if !ignoreRevs && op.hasRev && op.rev != d.Rev {
			ce := conflictErr(col, d)
			codes[ce.Num]++
			b = append(b, renderItemError(ce)...)
			continue
		}
		b = d.AppendJSON(b, col.CurrentName())
	}
	b = append(b, ']')
	if len(codes) > 0 {
		w.Header().Set("X-Arango-Error-Codes", string(mustJSON(codes)))
	}
	writeRaw(w, http.StatusOK, b)
}

func allFailed(results []opResult) bool {
	for i := range results {
		if results[i].err == nil {
			return false
		}
	}
	return true
}
