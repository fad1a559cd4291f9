package workload

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	driver "github.com/arangodb/go-driver"
)

// shardLeaders returns, per leading DB-Server, the shards of a collection it leads.
func (c *client) shardLeaders(ctx context.Context, db, coll string) (map[string][]string, error) {
	resp, err := c.raw(ctx, http.MethodGet, dbPath(db, "_api/collection/"+url.PathEscape(coll)+"/shards"),
		url.Values{"details": {"true"}}, nil)
	if err != nil {
		return nil, err
	}
	var body struct {
		Shards map[string][]string `json:"shards"`
	}
	if err := json.Unmarshal(resp.body, &body); err != nil {
		return nil, fmt.Errorf("shards of %s/%s: %w", db, coll, err)
	}
	out := map[string][]string{}
	for shard, servers := range body.Shards {
		if len(servers) == 0 {
			return nil, fmt.Errorf("shard %s of %s/%s has no leader", shard, db, coll)
		}
		out[servers[0]] = append(out[servers[0]], shard)
	}
	for _, shards := range out {
		slices.Sort(shards)
	}
	return out, nil
}

// dumpCollection calls fn with every document of the collection, shard by shard,
// through the Coordinator's replication trampoline (?DBserver=): a batch per
// leading DB-Server pins a consistent snapshot of its shards, and
// /_api/replication/dump streams each shard in chunks of chunkBytes. fn's doc is
// only valid during the call. A dump that fails half-way is not resumed (the
// server-side cursor has moved on): the caller repeats the whole verification.
//
// arangosim has no AQL cursor API, so a sorted iteration (FOR d IN c SORT d._key)
// is not available; the caller partitions keys by hash instead to bound memory.
func (c *client) dumpCollection(ctx context.Context, db, coll string, chunkBytes int, fn func(doc []byte) error) error {
	leaders, err := c.shardLeaders(ctx, db, coll)
	if err != nil {
		return err
	}
	servers := make([]string, 0, len(leaders))
	for s := range leaders {
		servers = append(servers, s)
	}
	slices.Sort(servers)
	for _, server := range servers {
		if err := c.dumpServer(ctx, db, server, leaders[server], chunkBytes, fn); err != nil {
			return fmt.Errorf("dump %s/%s on %s: %w", db, coll, server, err)
		}
	}
	return nil
}

func (c *client) dumpServer(ctx context.Context, db, server string, shards []string, chunkBytes int, fn func([]byte) error) error {
	q := url.Values{"DBserver": {server}}
	resp, err := c.raw(ctx, http.MethodPost, dbPath(db, "_api/replication/batch"), q, map[string]any{"ttl": 600})
	if err != nil {
		return fmt.Errorf("create batch: %w", err)
	}
	var batch struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(resp.body, &batch); err != nil || batch.ID == "" {
		return fmt.Errorf("create batch: unexpected answer %.200s", resp.body)
	}
	defer func() {
		// Best effort: the batch expires on its own after its ttl.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
		defer cancel()
		_, _ = c.raw(dctx, http.MethodDelete, dbPath(db, "_api/replication/batch/"+batch.ID), q, nil,
			http.StatusNoContent, http.StatusOK)
	}()
	for _, shard := range shards {
		dq := url.Values{"DBserver": {server}, "batchId": {batch.ID}, "collection": {shard},
			"chunkSize": {strconv.Itoa(chunkBytes)}, "useEnvelope": {"false"}}
		for {
			resp, err := c.raw(ctx, http.MethodGet, dbPath(db, "_api/replication/dump"), dq, nil,
				http.StatusOK, http.StatusNoContent)
			if err != nil {
				return err
			}
			if resp.status == http.StatusNoContent {
				break
			}
			if err := eachLine(resp.body, fn); err != nil {
				return err
			}
			if resp.resp.Header("X-Arango-Replication-Checkmore") != "true" {
				break
			}
		}
	}
	return nil
}

// eachLine calls fn with every non-empty line of body.
func eachLine(body []byte, fn func([]byte) error) error {
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if err := fn(line); err != nil {
			return err
		}
	}
	return nil
}

// isNotFound reports a missing database or collection.
func isNotFound(err error) bool {
	return driver.IsNotFoundGeneral(err) || driver.IsArangoErrorWithErrorNum(err, 1203, 1228)
}
