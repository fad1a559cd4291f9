package receive

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/revtree"
	"github.com/dc2dc/dc2dc/handlers/arango/verify"
	"github.com/dc2dc/dc2dc/handlers/target"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// bTree returns B's revision tree of shard index of db/coll as revtree JSON
// (only populated buckets).
func bTree(ctx context.Context, conn *target.Conn, db, coll string, index int) ([]byte, error) {
	s, err := verify.Open(ctx, verify.FromConn(conn), db, coll, index, verify.Config{BatchTTL: time.Minute})
	if err != nil {
		return nil, err
	}
	defer s.Close(context.WithoutCancel(ctx))
	return s.Tree.AppendJSON(nil, true), nil
}

const revServerID = "dc2dc-receive"

// bRevisions returns B's (key, revision) pairs of shard index of db/coll
// whose revisions fall in ranges, ascending by revision.
func bRevisions(ctx context.Context, conn *target.Conn, db, coll string, index int, ranges []revtree.Range, docsPerRequest int) ([]events.KeyRev, error) {
	servers, err := target.ShardServers(ctx, conn, db, coll)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(servers))
	for n := range servers {
		names = append(names, n)
	}
	target.SortShards(names)
	if index < 0 || index >= len(names) {
		return nil, failure.Permanent(fmt.Errorf("%s/%s has %d shards in B, no index %d", db, coll, len(names), index))
	}
	shard := names[index]
	if len(servers[shard]) == 0 {
		return nil, failure.Retryable(fmt.Errorf("%s/%s shard %s has no leader in B", db, coll, shard))
	}
	ep, err := verify.ServerEndpoint(ctx, conn, servers[shard][0])
	if err != nil {
		return nil, err
	}
	srv, err := conn.Server(ep)
	if err != nil {
		return nil, err
	}
	do := func(req target.Request) (*target.Response, error) {
		resp, err := srv.Do(ctx, req)
		if err != nil {
			return nil, err
		}
		if err := resp.Check(req, http.StatusOK); err != nil {
			return nil, fmt.Errorf("shard %s of %s/%s in B: %w", shard, db, coll, err)
		}
		return resp, nil
	}
	body, _ := json.Marshal(map[string]any{"ttl": 60})
	resp, err := do(target.Request{Method: http.MethodPost, Path: target.DBPath(db, "/_api/replication/batch"), Query: url.Values{"serverId": {revServerID}}, Body: body})
	if err != nil {
		return nil, err
	}
	var batch struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(resp.Body, &batch); err != nil || batch.ID == "" {
		return nil, failure.Permanent(fmt.Errorf("replication batch in B: no id in %s", resp.Body))
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, _ = srv.Do(dctx, target.Request{Method: http.MethodDelete, Path: target.DBPath(db, "/_api/replication/batch/", batch.ID)})
	}()

	// The revisions in the ranges, ascending, page by page.
	pairs := make([][2]string, len(ranges))
	for i, r := range ranges {
		hi := r.Max
		if hi <= r.Min {
			hi = r.Min + 1
		}
		pairs[i] = [2]string{revtree.EncodeHLC(r.Min), revtree.EncodeHLC(hi)}
	}
	rbody, _ := json.Marshal(pairs)
	sorted := slices.Clone(ranges)
	slices.SortFunc(sorted, func(a, b revtree.Range) int { return cmp.Compare(a.Min, b.Min) })
	var revs []uint64
	resume := ""
	for {
		q := url.Values{"collection": {shard}, "batchId": {batch.ID}, "encodeAsHLC": {"true"}, "serverId": {revServerID}}
		if resume != "" {
			q.Set("resumeHLC", resume)
			q.Set("resume", resume)
		}
		resp, err := do(target.Request{Method: http.MethodPut, Path: target.DBPath(db, "/_api/replication/revisions/ranges"), Query: q, Body: rbody})
		if err != nil {
			return nil, err
		}
		var ans struct {
			Ranges    [][]string `json:"ranges"`
			ResumeHLC string     `json:"resumeHLC"`
			Resume    string     `json:"resume"`
		}
		if err := json.Unmarshal(resp.Body, &ans); err != nil {
			return nil, failure.Permanent(fmt.Errorf("revisions/ranges of %s in B: %w", shard, err))
		}
		for _, rg := range ans.Ranges {
			for _, s := range rg {
				v, err := revtree.DecodeHLC(s)
				if err != nil {
					return nil, failure.Permanent(fmt.Errorf("revisions/ranges of %s in B: %w", shard, err))
				}
				// Keep only revisions inside the asked range (the
				// one-revision widening can add its neighbour).
				if !inRanges(sorted, v) {
					continue
				}
				if n := len(revs); n > 0 && revs[n-1] >= v {
					continue
				}
				revs = append(revs, v)
			}
		}
		next := ans.ResumeHLC
		if next == "" {
			next = ans.Resume
		}
		if next == "" {
			break
		}
		if next == resume {
			return nil, failure.Permanent(fmt.Errorf("revisions/ranges of %s in B: resume %s does not advance", shard, next))
		}
		resume = next
	}

	// Their keys.
	out := make([]events.KeyRev, 0, len(revs))
	for len(out) < len(revs) {
		part := revs[len(out):min(len(revs), len(out)+docsPerRequest)]
		strs := make([]string, len(part))
		for i, r := range part {
			strs[i] = revtree.EncodeHLC(r)
		}
		body, _ := json.Marshal(strs)
		resp, err := do(target.Request{Method: http.MethodPut, Path: target.DBPath(db, "/_api/replication/revisions/documents"),
			Query: url.Values{"collection": {shard}, "batchId": {batch.ID}, "encodeAsHLC": {"true"}, "serverId": {revServerID}}, Body: body})
		if err != nil {
			return nil, err
		}
		var docs []struct {
			Key string `json:"_key"`
			Rev string `json:"_rev"`
		}
		if err := json.Unmarshal(resp.Body, &docs); err != nil {
			return nil, failure.Permanent(fmt.Errorf("revisions/documents of %s in B: %w", shard, err))
		}
		if len(docs) == 0 || len(docs) > len(part) {
			return nil, failure.Permanent(fmt.Errorf("revisions/documents of %s in B: %d documents for %d revisions", shard, len(docs), len(part)))
		}
		for i, d := range docs {
			rev := d.Rev
			if rev == "" {
				rev = strs[i]
			}
			out = append(out, events.KeyRev{Key: d.Key, Rev: rev})
		}
	}
	return out, nil
}

// inRanges reports whether v lies in one of the ranges (sorted by Min).
func inRanges(sorted []revtree.Range, v uint64) bool {
	i := sort.Search(len(sorted), func(i int) bool { return sorted[i].Min > v }) - 1
	// Diff's ranges are disjoint: the nearest range on the left decides;
	// nested or overlapping ranges are walked further left.
	for ; i >= 0; i-- {
		if v <= max(sorted[i].Max, sorted[i].Min) {
			return true
		}
	}
	return false
}
