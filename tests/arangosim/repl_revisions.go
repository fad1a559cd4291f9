package arangosim

import (
	"encoding/json"
	"net/http"
	"sort"

	"github.com/dc2dc/dc2dc/handlers/arango/revtree"
)

const (
	// replMaxRangeRevisions is the number of revisions one ranges answer holds
	// at most (RestReplicationHandler: 64 * 1024, "~2MB data").
	replMaxRangeRevisions = 64 * 1024
	// replMaxDocumentsBytes caps one documents answer (16 MiB, also the
	// upper bound of ?chunkSize=).
	replMaxDocumentsBytes = 16 * 1024 * 1024
)

// replRevisionContext resolves collection and batch for the three revision
// endpoints the way prepareRevisionOperation does.
func replRevisionContext(w http.ResponseWriter, r *Request) (*replBatch, *ShardSnapshot, bool) {
	shard := r.Query("collection")
	if shard == "" {
		WriteError(w, http.StatusBadRequest, errNumHTTPBadParameter, "invalid collection parameter")
		return nil, nil, false
	}
	b, ok := replBatchFromQuery(w, r, "replication revision tree - request misses batchId",
		"context was not found", errNumHTTPBadParameter, errNumCursorNotFound)
	if !ok {
		return nil, nil, false
	}
	ss, ok := b.shardSnapshotFor(shard)
	if !ok {
		WriteError(w, http.StatusNotFound, errNumDataSourceNotFound, "collection or view not found")
		return nil, nil, false
	}
	return b, ss, true
}

// handleReplRevisionTree serves GET /_api/replication/revisions/tree: the shard's
// Merkle tree at the batch's tick (depth 6, rangeMin RevisionId::lowerBound()
// grown as needed), all 8^6 buckets, {} for empty ones with onlyPopulated=true.
func handleReplRevisionTree(w http.ResponseWriter, r *Request) {
	b, ss, ok := replRevisionContext(w, r)
	if !ok {
		return
	}
	t, err := b.revisionTree(ss)
	if err != nil {
		WriteError(w, http.StatusInternalServerError, 4, "could not generate revision tree: "+err.Error())
		return
	}
	writeRaw(w, http.StatusOK, t.AppendJSON(nil, r.QueryBool("onlyPopulated", false)))
}

// handleReplRevisionTreeRebuild serves POST /_api/replication/revisions/tree: the
// simulator's trees are always exact, so a rebuild only validates and answers 204.
func handleReplRevisionTreeRebuild(w http.ResponseWriter, r *Request) {
	if _, _, ok := replRevisionContext(w, r); !ok {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// replRevisionParam decodes a revision given as an HLC string, or as a decimal
// number when it consists of digits only (the "ambiguous" legacy resume).
func replRevisionParam(s string) (uint64, bool) {
	if replIsDigits(s) {
		var v uint64
		for i := 0; i < len(s); i++ {
			d := uint64(s[i] - '0')
			if v > (1<<64-1-d)/10 {
				return 0, false
			}
			v = v*10 + d
		}
		return v, true
	}
	v, err := revtree.DecodeHLC(s)
	return v, err == nil
}

// handleReplRevisionRanges serves PUT /_api/replication/revisions/ranges: for each
// requested [min,max] pair (HLC strings, ascending, non-overlapping) the
// revisions of the snapshot inside it, starting at resume/resumeHLC. At most
// 64Ki revisions per answer; a partial answer carries resume and resumeHLC
// (the next revision to ask for) and the client repeats the same body with it.
func handleReplRevisionRanges(w http.ResponseWriter, r *Request) {
	_, ss, ok := replRevisionContext(w, r)
	if !ok {
		return
	}
	var resume uint64
	for _, name := range []string{"resumeHLC", "resume"} {
		if v := r.Query(name); v != "" {
			rv, ok := replRevisionParam(v)
			if !ok {
				WriteError(w, http.StatusBadRequest, errNumHTTPBadParameter, "invalid "+name+" value")
				return
			}
			resume = rv
			break
		}
	}
	body, err := r.Body()
	if err != nil {
		WriteError(w, http.StatusBadRequest, errNumHTTPBadParameter, "cannot read the request body")
		return
	}
	var pairs [][]string
	badFormat := json.Unmarshal(body, &pairs) != nil
	ranges := make([]replRange, 0, len(pairs))
	var prevHi uint64
	for i, p := range pairs {
		if badFormat || len(p) != 2 {
			badFormat = true
			break
		}
		lo, err1 := revtree.DecodeHLC(p[0])
		hi, err2 := revtree.DecodeHLC(p[1])
		if err1 != nil || err2 != nil || lo >= hi || (i > 0 && lo < prevHi) {
			badFormat = true
			break
		}
		prevHi = hi
		ranges = append(ranges, replRange{lo, hi})
	}
	if badFormat {
		WriteError(w, http.StatusBadRequest, errNumHTTPBadParameter, "body needs to be an array of pairs of revisions")
		return
	}
	writeRaw(w, http.StatusOK, replRangesAnswer(ss.ByRev(), ranges, resume, replMaxRangeRevisions))
}

// replRange is one requested [lo, hi] revision interval (inclusive).
type replRange struct{ lo, hi uint64 }

// replRangesAnswer renders the ranges answer: for each range the revisions
// of docs (ascending by revision) inside it and at or after resume, at most
// limit revisions in all; when the limit cuts the answer short it ends after
// the range being filled and carries resume/resumeHLC = the first revision
// not delivered.
func replRangesAnswer(docs []*Doc, ranges []replRange, resume uint64, limit int) []byte {
	out := []byte(`{"ranges":[`)
	total := 0
	var next uint64
	partial := false
	for i, rg := range ranges {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, '[')
		start := max(rg.lo, resume)
		k := sort.Search(len(docs), func(j int) bool { return docs[j].Rev >= start })
		first := true
		for ; k < len(docs) && docs[k].Rev <= rg.hi; k++ {
			if total >= limit {
				partial = true
				next = docs[k].Rev
				break
			}
			if !first {
				out = append(out, ',')
			}
			first = false
			out = append(out, '"')
			out = revtree.AppendHLC(out, docs[k].Rev)
			out = append(out, '"')
			total++
		}
		out = append(out, ']')
		if partial {
			break
		}
	}
	out = append(out, ']')
	if partial {
		out = append(out, `,"resume":"`...)
		out = revtree.AppendHLC(out, next)
		out = append(out, `","resumeHLC":"`...)
		out = revtree.AppendHLC(out, next)
		out = append(out, '"')
	}
	return append(out, '}')
}

// handleReplRevisionDocuments serves PUT /_api/replication/revisions/documents:
// the documents of the requested revisions (HLC strings) in request order,
// {} for a revision the snapshot does not hold, stopping early (at least one
// document) once about chunkSize bytes (default and maximum 16 MiB) are
// written; the client asks again for the rest.
func handleReplRevisionDocuments(w http.ResponseWriter, r *Request) {
	b, ss, ok := replRevisionContext(w, r)
	if !ok {
		return
	}
	body, err := r.Body()
	if err != nil {
		WriteError(w, http.StatusBadRequest, errNumHTTPBadParameter, "cannot read the request body")
		return
	}
	var revs []string
	bad := json.Unmarshal(body, &revs) != nil
	vals := make([]uint64, 0, len(revs))
	for _, s := range revs {
		v, err := revtree.DecodeHLC(s)
		if bad || err != nil || s == "" {
			bad = true
			break
		}
		vals = append(vals, v)
	}
	if bad {
		WriteError(w, http.StatusBadRequest, errNumHTTPBadParameter, "body needs to be an array of revisions")
		return
	}
	limit := replChunkSize(r, replMaxDocumentsBytes, replMaxDocumentsBytes)
	byRev := b.docsByRev(ss)
	out := []byte{'['}
	n := 0
	for _, v := range vals {
		mark := len(out)
		if n > 0 {
			out = append(out, ',')
		}
		if d, ok := byRev[v]; ok {
			out = d.AppendJSON(out, ss.CollectionName)
		} else {
			out = append(out, "{}"...)
		}
		if n > 0 && len(out) > limit {
			out = out[:mark]
			break
		}
		n++
	}
	out = append(out, ']')
	writeRaw(w, http.StatusOK, out)
}
