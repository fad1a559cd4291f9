package arangosim

import (
	"bytes"
	"net/http"
	"strconv"
)

// handleImport serves POST /_api/import (JSON formats: documents, array/list, auto).
func handleImport(w http.ResponseWriter, r *Request) {
	if refuseReadOnly(w, r) {
		return
	}
	name := r.Query("collection")
	if name == "" {
		WriteError(w, http.StatusBadRequest, errNumCollParamMissing, "'collection' is missing, expecting /_api/import?collection=<identifier>")
		return
	}
	col, ok := r.DB.Collection(name)
	if !ok {
		WriteError(w, http.StatusNotFound, errNumDataSourceNotFound, "collection or view not found: "+name)
		return
	}
	if !canWrite(w, r, col) {
		return
	}
	raw, err := r.Body()
	if err != nil {
		WriteError(w, http.StatusBadRequest, errNumBadParameter, "cannot read request body")
		return
	}
	typ := r.Query("type")
	trimmed := bytes.TrimSpace(raw)
	if typ == "" {
		typ = "tabular"
	}
	if typ == "auto" {
		if len(trimmed) > 0 && trimmed[0] == '[' {
			typ = "array"
		} else {
			typ = "documents"
		}
	}
	var lines [][]byte
	empty := 0
	switch typ {
	case "array", "list":
		cb, err := compactJSON(raw)
		if err != nil || jsonKind(cb) != 'a' {
			WriteError(w, http.StatusBadRequest, errNumHTTPBadParameter, "expecting a JSON array in the request")
			return
		}
		lines, _ = arrayElems(cb)
	case "documents":
		for _, ln := range bytes.Split(raw, []byte("\n")) {
			ln = bytes.TrimSpace(ln)
			if len(ln) == 0 {
				continue
			}
			lines = append(lines, ln)
		}
	case "tabular":
		// First line: JSON array of attribute names; then one JSON array of values per line.
		var names []field
		for i, ln := range bytes.Split(raw, []byte("\n")) {
			ln = bytes.TrimSpace(ln)
			if i == 0 {
				elems, err := arrayElems(ln)
				if err != nil || len(elems) == 0 {
					WriteError(w, http.StatusBadRequest, errNumHTTPBadParameter, "no JSON array found in second line")
					return
				}
				for _, e := range elems {
					n, err := unquote(e)
					if err != nil {
						WriteError(w, http.StatusBadRequest, errNumHTTPBadParameter, "header is not a list of attribute names")
						return
					}
					names = append(names, field{Key: n})
				}
				lines = append(lines, nil) // position 0 is the header
				continue
			}
			if len(ln) == 0 {
				continue
			}
			vals, err := arrayElems(ln)
			if err != nil {
				lines = append(lines, ln)
				continue
			}
			var fs []field
			for j, v := range vals {
				if j < len(names) && jsonKind(v) != 'z' {
					fs = append(fs, field{Key: names[j].Key, Val: v})
				}
			}
			lines = append(lines, fieldsToObject(fs))
		}
	default:
		WriteError(w, http.StatusBadRequest, errNumHTTPBadParameter, "invalid value for 'type'")
		return
	}
	mode := "conflict"
	switch r.Query("onDuplicate") {
	case "update":
		mode = "update"
	case "replace":
		mode = "replace"
	case "ignore":
		mode = "ignore"
	}
	o := writeOptions{WaitForSync: r.QueryBool("waitForSync", false), KeepNull: true, MergeObjects: true,
		IgnoreRevs: true, OverwriteMode: mode}
	ops := make([]*docOp, len(lines))
	for i, ln := range lines {
		if ln == nil {
			continue // tabular header
		}
		cb, err := compactJSON(ln)
		if err != nil {
			ops[i] = &docOp{err: newErr(http.StatusBadRequest, errNumCorruptedJSON, "invalid JSON type (expecting object)")}
			continue
		}
		if jsonKind(cb) == 'z' || string(cb) == "{}" && false {
			empty++
			ops[i] = nil
			continue
		}
		ops[i] = col.parseDocOp(opInsert, cb, "", o)
		lines[i] = cb
	}
	var live []*docOp
	pos := []int{}
	for i, op := range ops {
		if op != nil {
			live = append(live, op)
			pos = append(pos, i)
		}
	}
	if r.QueryBool("overwrite", false) {
		r.Server.c.Truncate(col)
	}
	col.prepare(r.Server.c, live, o)
	complete := r.QueryBool("complete", false)
	results := r.Server.c.executeAtomic(col, live, o, complete)
	created, errs, updated, ignored := 0, 0, 0, 0
	var details []string
	for i, res := range results {
		switch {
		case res.err != nil:
			errs++
			msg := res.err.Message
			if res.err.Num == errNumUniqueViolated {
				msg = "unique constraint violated"
			}
			if res.err.Num == errNumInvalidEdgeAttr {
				if complete {
					WriteError(w, res.err.Code, res.err.Num, msg)
					return
				}
				details = append(details, "at position "+strconv.Itoa(pos[i])+": missing '_from' or '_to' attribute, offending document: "+string(lines[pos[i]]))
				continue
			}
			if complete {
				WriteError(w, res.err.Code, res.err.Num, msg)
				return
			}
			details = append(details, "at position "+strconv.Itoa(pos[i])+": creating document failed with error '"+
				msg+"', offending document: "+string(lines[pos[i]]))
		case res.newDoc == nil:
			ignored++
		case res.oldRev != 0:
			updated++
		default:
			created++
		}
	}
	fs := []field{{"error", boolJSON(false)}, {"created", intJSON(created)}, {"errors", intJSON(errs)},
		{"empty", intJSON(empty)}, {"updated", intJSON(updated)}, {"ignored", intJSON(ignored)}}
	if r.QueryBool("details", false) {
		if details == nil {
			details = []string{}
		}
		fs = append(fs, field{"details", mustJSON(details)})
	}
	writeRaw(w, http.StatusCreated, fieldsToObject(fs))
}
