package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/dc2dc/dc2dc/handlers/target"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// CollectionSummary is a whole collection's count and checksum as a
// Coordinator reports them.
type CollectionSummary struct {
	Count    uint64
	Checksum string // GET /_api/collection/{name}/checksum, over keys and revisions (and data, if asked)
}

// Collection reads a collection's count and checksum through a Coordinator
// (GET /_api/collection/{name}/count and /checksum?withRevisions=true). With
// isRestore, equal collections in A and B have equal checksums; withData
// also hashes the documents' contents (a full scan on every shard). This is
// the cheap whole-collection check; CompareShards locates differences.
func Collection(ctx context.Context, coord target.Doer, db, coll string, withData bool) (CollectionSummary, error) {
	base := target.DBPath(db, "/_api/collection/", url.PathEscape(coll))
	var sum CollectionSummary
	var cnt struct {
		Count uint64 `json:"count"`
	}
	if err := getJSON(ctx, coord, target.Request{Method: http.MethodGet, Path: base + "/count"}, &cnt); err != nil {
		return sum, err
	}
	var cs struct {
		Checksum json.RawMessage `json:"checksum"`
	}
	q := url.Values{"withRevisions": {"true"}, "withData": {strconv.FormatBool(withData)}}
	if err := getJSON(ctx, coord, target.Request{Method: http.MethodGet, Path: base + "/checksum", Query: q}, &cs); err != nil {
		return sum, err
	}
	var s string
	if json.Unmarshal(cs.Checksum, &s) != nil {
		s = string(cs.Checksum) // some versions answer a number
	}
	sum.Count, sum.Checksum = cnt.Count, s
	return sum, nil
}

func getJSON(ctx context.Context, do target.Doer, req target.Request, out any) error {
	resp, err := do.Do(ctx, req)
	if err != nil {
		return err
	}
	if err := resp.Check(req, http.StatusOK); err != nil {
		return err
	}
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return failure.Permanent(fmt.Errorf("%s: %w", req.Path, err))
	}
	return nil
}
