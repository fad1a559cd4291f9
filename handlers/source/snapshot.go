package source

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/arango/revtree"
	"github.com/dc2dc/dc2dc/handlers/arango/wal"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// batch is a replication batch (snapshot) on the leader.
type batch struct {
	conn *client.Conn
	db   string
	id   string
	tick uint64
}

// snapshot takes the snapshot of this epoch and returns its tick.
func (s *Source) snapshot(ctx context.Context) (uint64, error) {
	// Everything before SnapshotBegin is emitted may be retried in place.
	var (
		conn  *client.Conn
		b     *batch
		aTree *revtree.Tree
		bTree *revtree.Tree
		kctx  context.Context
		stop  func()
		err   error
	)
	for n := 1; ; n++ {
		conn, err = s.conn(ctx)
		if err != nil {
			return 0, err
		}
		if s.target != nil && bTree == nil {
			bTree, err = s.target.Tree(ctx)
			if err != nil {
				err = fmt.Errorf("target revision tree of %s: %w", s.shard.Ref, err)
			}
		}
		if err == nil {
			b, err = s.createBatch(ctx, conn)
		}
		if err == nil {
			kctx, stop = s.startKeepAlive(ctx, b)
			if bTree != nil && bTree.Count() > 0 {
				// A's tree is only needed to compare: a full dump does without it.
				aTree, err = s.fetchTree(kctx, b)
				if err != nil {
					if cause := context.Cause(kctx); cause != nil && ctx.Err() == nil {
						err = cause
					}
					stop()
					b.delete()
				}
			}
		}
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if !failure.IsRetryable(err) {
			return 0, err
		}
		if werr := s.retryWait(ctx, n, err); werr != nil {
			return 0, werr
		}
	}
	defer b.delete()
	defer stop()

	mode := events.SnapshotFull
	if bTree != nil && bTree.Count() > 0 {
		mode = events.SnapshotRevisions
		if aTree == nil {
			return 0, failure.Permanent(fmt.Errorf("shard %s: the leader does not support revision trees, but the target is not empty: a full resync into a non-empty target would keep documents A no longer has", s.shard.Ref))
		}
	}
	var count int64
	if aTree != nil {
		count = int64(aTree.Count())
	} else if t, terr := s.fetchTree(kctx, b); terr == nil && t != nil {
		// A full dump needs no tree; its count (O(1) on the leader, at the
		// snapshot) tells the receive side how far the dump has come.
		count = int64(t.Count())
	}
	pos := Position{Epoch: s.start.Epoch, Leader: s.leader, Phase: PhaseSnapshot, SnapshotTick: b.tick}
	begin := events.Record{Event: &events.SnapshotBegin{SnapshotTick: b.tick, Leader: s.leader, Mode: mode, Documents: count}}
	if err := s.emit(kctx, []events.Record{begin}, pos); err != nil {
		return 0, s.snapshotFailed(ctx, kctx, err)
	}
	var sent int64
	if mode == events.SnapshotFull {
		sent, err = s.dump(kctx, b, pos)
	} else {
		sent, err = s.repair(kctx, b, aTree, bTree, pos)
	}
	if err != nil {
		return 0, s.snapshotFailed(ctx, kctx, err)
	}
	end := events.Record{Tick: b.tick, Event: &events.SnapshotEnd{SnapshotTick: b.tick, Documents: sent}}
	endPos := Position{Epoch: s.start.Epoch, Leader: s.leader, Phase: PhaseTailing, SnapshotTick: b.tick, Tick: b.tick}
	if err := s.emit(kctx, []events.Record{end}, endPos); err != nil {
		return 0, s.snapshotFailed(ctx, kctx, err)
	}
	s.cfg.Logger.Info("source: snapshot done", "shard", s.shard.Ref.String(), "leader", s.leader,
		"tick", b.tick, "mode", mode, "documents", sent)
	return b.tick, nil
}

// snapshotFailed turns a failure after SnapshotBegin into the epoch's end:
// the snapshot cannot be continued in place (the dump cursor lives in the
// batch, and chunks were emitted), so a retryable failure needs a new epoch.
func (s *Source) snapshotFailed(ctx, kctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if cause := context.Cause(kctx); cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	var ne *NewEpochError
	if errors.As(err, &ne) {
		return err
	}
	if failure.IsRetryable(err) {
		l, _ := s.leaderChanged()
		return s.newEpoch(ReasonSnapshotFailed, l, err)
	}
	return err
}

func (s *Source) idQuery() url.Values {
	q := url.Values{}
	if s.cfg.ServerID != 0 {
		q.Set("serverId", strconv.FormatUint(s.cfg.ServerID, 10))
	}
	if s.cfg.SyncerID != 0 {
		q.Set("syncerId", strconv.FormatUint(s.cfg.SyncerID, 10))
	}
	if s.cfg.ClientInfo != "" {
		q.Set("clientInfo", s.cfg.ClientInfo)
	}
	return q
}

func (s *Source) what() string {
	return fmt.Sprintf("shard %s of database %q", s.shard.Name, s.shard.Ref.Database)
}

func (s *Source) createBatch(ctx context.Context, conn *client.Conn) (*batch, error) {
	db := s.shard.Ref.Database
	body := []byte(`{"ttl":` + strconv.Itoa(int(s.cfg.BatchTTL/time.Second)) + `}`)
	resp, err := conn.Do(ctx, client.Request{Method: "POST", Path: client.DBPath(db, "_api/replication/batch"),
		Query: s.idQuery(), Body: body, What: fmt.Sprintf("database %q", db)}, 200)
	if err != nil {
		return nil, err
	}
	var ans struct {
		ID       string `json:"id"`
		LastTick string `json:"lastTick"`
	}
	if err := json.Unmarshal(resp.Body, &ans); err != nil || ans.ID == "" {
		return nil, failure.Permanent(fmt.Errorf("POST batch on %s: invalid answer %.200q", conn.Endpoint(), resp.Body))
	}
	tick, err := strconv.ParseUint(ans.LastTick, 10, 64)
	if err != nil || tick == 0 {
		return nil, failure.Permanent(fmt.Errorf("POST batch on %s: invalid lastTick %q", conn.Endpoint(), ans.LastTick))
	}
	return &batch{conn: conn, db: db, id: ans.ID, tick: tick}, nil
}

func (b *batch) path() string {
	return client.DBPath(b.db, "_api/replication/batch", url.PathEscape(b.id))
}

// delete removes the batch; it runs on its own short deadline so it also
// happens when the source's context has ended.
func (b *batch) delete() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = b.conn.Do(ctx, client.Request{Method: "DELETE", Path: b.path()}, 204, 200, 404)
}

// startKeepAlive extends the batch in the background until stop is called;
// a failed extension cancels the returned context with the cause.
func (s *Source) startKeepAlive(ctx context.Context, b *batch) (context.Context, func()) {
	kctx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.keepAlive(kctx, b, cancel)
	}()
	return kctx, func() {
		cancel(nil)
		wg.Wait()
	}
}

// keepAlive extends the batch every ttl/4 until ctx ends. A batch the
// leader no longer knows cancels the snapshot.
func (s *Source) keepAlive(ctx context.Context, b *batch, cancel context.CancelCauseFunc) {
	every := s.cfg.BatchTTL / 4
	body := []byte(`{"ttl":` + strconv.Itoa(int(s.cfg.BatchTTL/time.Second)) + `}`)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, err := b.conn.Do(ctx, client.Request{Method: "PUT", Path: b.path(), Query: s.idQuery(), Body: body}, 204, 200)
		if err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("source: cannot extend the replication batch", "shard", s.shard.Ref.String(), "error", err)
			if client.IsErrorNum(err, client.ErrNumCursorNotFound) || client.HTTPStatus(err) == 404 {
				cancel(failure.Retryable(fmt.Errorf("replication batch %s expired on %s: %w", b.id, b.conn.Endpoint(), err)))
				return
			}
		}
	}
}

// fetchTree reads A's revision tree at the batch; nil when the server does
// not support revision trees (501).
func (s *Source) fetchTree(ctx context.Context, b *batch) (*revtree.Tree, error) {
	q := s.idQuery()
	q.Set("collection", s.shard.Name)
	q.Set("batchId", b.id)
	q.Set("onlyPopulated", "true")
	resp, err := b.conn.Do(ctx, client.Request{Method: "GET", Path: client.DBPath(b.db, "_api/replication/revisions/tree"),
		Query: q, What: s.what()}, 200)
	if err != nil {
		if client.HTTPStatus(err) == 501 {
			return nil, nil
		}
		return nil, err
	}
	t, err := revtree.Parse(resp.Body)
	if err != nil {
		return nil, failure.Permanent(fmt.Errorf("revision tree of %s on %s: %w", s.what(), b.conn.Endpoint(), err))
	}
	return t, nil
}

// dump sends every document of the snapshot in SnapshotDocuments chunks.
func (s *Source) dump(ctx context.Context, b *batch, pos Position) (int64, error) {
	var sent int64
	var from uint64
	for {
		q := s.idQuery()
		q.Set("collection", s.shard.Name)
		q.Set("batchId", b.id)
		q.Set("useEnvelope", "false")
		q.Set("chunkSize", strconv.Itoa(s.cfg.DumpChunkSize))
		q.Set("from", strconv.FormatUint(from, 10))
		q.Set("to", strconv.FormatUint(b.tick+1, 10))
		if s.isSystem() {
			q.Set("includeSystem", "true")
		}
		resp, err := b.conn.Do(ctx, client.Request{Method: "GET", Path: client.DBPath(b.db, "_api/replication/dump"),
			Query: q, What: s.what()}, 200, 204)
		if err != nil {
			return sent, batchGone(b, err)
		}
		if resp.Status == 204 || len(resp.Body) == 0 {
			return sent, nil
		}
		docs, err := splitDocuments(resp.Body)
		if err != nil {
			return sent, failure.Permanent(fmt.Errorf("dump of %s on %s: %w", s.what(), b.conn.Endpoint(), err))
		}
		if err := s.emitDocs(ctx, docs, pos); err != nil {
			return sent, err
		}
		sent += int64(len(docs))
		if resp.Header(wal.HeaderCheckMore) != "true" {
			return sent, nil
		}
		li, _ := strconv.ParseUint(resp.Header(wal.HeaderLastIncluded), 10, 64)
		if li > from {
			from = li
		}
	}
}

// batchGone re-classifies the answer to a request on an expired or unknown
// batch (404 with errorNum 400 from dump, 1600 from the others) as
// retryable: the snapshot must be taken again, in a new epoch.
func batchGone(b *batch, err error) error {
	if client.HTTPStatus(err) == 404 && client.IsErrorNum(err, 400, client.ErrNumCursorNotFound) {
		return failure.Retryable(fmt.Errorf("replication batch %s is gone on %s: %w", b.id, b.conn.Endpoint(), err))
	}
	return err
}

// splitDocuments splits a JSON-lines body into documents, verbatim.
func splitDocuments(body []byte) ([]json.RawMessage, error) {
	var out []json.RawMessage
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
		if line[0] != '{' || !json.Valid(line) {
			return nil, fmt.Errorf("dump line %.100q is not a JSON object", line)
		}
		out = append(out, json.RawMessage(line))
	}
	return out, nil
}

// emitDocs emits documents in SnapshotDocuments chunks within the bounds.
func (s *Source) emitDocs(ctx context.Context, docs []json.RawMessage, pos Position) error {
	for len(docs) > 0 {
		n, size := 0, 0
		for n < len(docs) && n < s.cfg.MaxRecords && (n == 0 || size+len(docs[n]) <= s.cfg.MaxBytes) {
			size += len(docs[n])
			n++
		}
		chunk := slices.Clone(docs[:n])
		if err := s.emit(ctx, []events.Record{{Event: &events.SnapshotDocuments{Docs: chunk}}}, pos); err != nil {
			return err
		}
		docs = docs[n:]
	}
	return nil
}

// repair runs the revision-tree protocol against the target: it sends the
// documents the target lacks or holds in another revision, then removes
// what only the target holds (never a key it sent). It works page by page
// of A's revisions in the differing ranges (the server bounds a page, 64 Ki
// revisions in ArangoDB), asking the target only for the same part of the
// ranges, so it holds one page of revision numbers at a time besides the
// keys it sent and the removal candidates (both bounded by the difference).
func (s *Source) repair(ctx context.Context, b *batch, aTree, bTree *revtree.Tree, pos Position) (int64, error) {
	ranges, err := aTree.Diff(bTree)
	if err != nil {
		return 0, failure.Permanent(fmt.Errorf("comparing the revision trees of %s: %w", s.shard.Ref, err))
	}
	if len(ranges) == 0 {
		return 0, nil
	}
	sentKeys := make(map[string]struct{})
	var candidates []events.KeyRev // B-only revisions, removed at the end unless their key was sent
	var sent int64
	// Parts of the ranges in which the target holds at most
	// MaxRepairRevisions revisions (by its tree), so that asking it for one
	// page's revisions stays bounded even when A holds few of them.
	for _, part := range splitByCount(ranges, bTree, uint64(s.cfg.MaxRepairRevisions)) {
		n, err := s.repairRanges(ctx, b, pos, part, sentKeys, &candidates)
		sent += n
		if err != nil {
			return sent, err
		}
	}
	var removes []events.KeyRev
	for _, kr := range candidates {
		if _, ok := sentKeys[kr.Key]; ok {
			continue // replaced by A's revision
		}
		removes = append(removes, kr)
		if len(removes) >= s.cfg.MaxRecords {
			if err := s.emit(ctx, []events.Record{{Event: &events.SnapshotRemove{Keys: removes}}}, pos); err != nil {
				return sent, err
			}
			removes = nil
		}
	}
	if len(removes) > 0 {
		if err := s.emit(ctx, []events.Record{{Event: &events.SnapshotRemove{Keys: removes}}}, pos); err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// splitByCount cuts the ranges into parts in each of which the tree holds
// at most limit revisions (a single bucket holding more is a part of its own).
func splitByCount(ranges []revtree.Range, t *revtree.Tree, limit uint64) [][]revtree.Range {
	var parts [][]revtree.Range
	var cur []revtree.Range
	var count uint64
	n := revtree.NodeCount(t.Depth())
	w := t.BucketWidth()
	for _, r := range ranges {
		start := r.Min
		first, last := uint64(0), n // the buckets that intersect r
		switch {
		case r.Max < t.RangeMin() || r.Min > t.RangeMax()-1:
			first = n
		default:
			if r.Min > t.RangeMin() {
				first = (r.Min - t.RangeMin()) / w
			}
			if r.Max < t.RangeMax()-1 {
				last = (r.Max-t.RangeMin())/w + 1
			}
		}
		for i := first; i < last; i++ {
			br := t.BucketRange(i)
			c := t.Node(i).Count
			if c == 0 || count+c <= limit {
				count += c
				continue
			}
			// Close the part before this bucket.
			if br.Min > start {
				cur = append(cur, revtree.Range{Min: start, Max: br.Min - 1})
				start = br.Min
			}
			if len(cur) > 0 {
				parts = append(parts, cur)
			}
			cur, count = nil, c
		}
		cur = append(cur, revtree.Range{Min: start, Max: r.Max})
	}
	if len(cur) > 0 {
		parts = append(parts, cur)
	}
	return parts
}

// repairRanges runs the page loop over one part of the differing ranges.
func (s *Source) repairRanges(ctx context.Context, b *batch, pos Position, ranges []revtree.Range,
	sentKeys map[string]struct{}, candidates *[]events.KeyRev) (int64, error) {
	body := rangesBody(ranges)
	var sent int64
	lo := ranges[0].Min
	resume := ""
	for {
		aRevs, next, err := s.revisionsPage(ctx, b, body, resume)
		if err != nil {
			return sent, err
		}
		hi := uint64(math.MaxUint64)
		if next != "" {
			nv, err := revtree.DecodeHLC(next)
			if err != nil || nv <= lo || (len(aRevs) > 0 && nv <= aRevs[len(aRevs)-1]) {
				return sent, failure.Permanent(fmt.Errorf("revisions/ranges of %s: resume %q does not advance", s.what(), next))
			}
			hi = nv - 1
		}
		page := clipRanges(ranges, lo, hi)
		var bRevs []events.KeyRev
		if len(page) > 0 {
			if bRevs, err = s.target.Revisions(ctx, page); err != nil {
				return sent, fmt.Errorf("target revisions of %s: %w", s.shard.Ref, err)
			}
		}
		n, err := s.repairPage(ctx, b, pos, aRevs, bRevs, sentKeys, candidates)
		sent += n
		if err != nil {
			return sent, err
		}
		if next == "" {
			return sent, nil
		}
		resume, lo = next, hi+1
	}
}

// repairPage sends A's documents of one page that B does not hold in that
// revision and collects B's revisions of the page that A does not hold.
func (s *Source) repairPage(ctx context.Context, b *batch, pos Position, aRevs []uint64, bRevs []events.KeyRev,
	sentKeys map[string]struct{}, candidates *[]events.KeyRev) (int64, error) {
	inB := make(map[uint64]struct{}, len(bRevs))
	for _, kr := range bRevs {
		v, err := revtree.DecodeHLC(kr.Rev)
		if err != nil {
			return 0, failure.Permanent(fmt.Errorf("target revision of key %q: %w", kr.Key, err))
		}
		inB[v] = struct{}{}
	}
	inA := make(map[uint64]struct{}, len(aRevs))
	var missing []uint64
	for _, r := range aRevs {
		inA[r] = struct{}{}
		if _, ok := inB[r]; !ok {
			missing = append(missing, r)
		}
	}
	var sent int64
	for len(missing) > 0 {
		n := min(len(missing), s.cfg.DocumentsPerRequest)
		docs, err := s.fetchDocuments(ctx, b, missing[:n])
		if err != nil {
			return sent, err
		}
		if len(docs) == 0 {
			return sent, failure.Permanent(fmt.Errorf("revisions/documents of %s on %s answered no document", s.what(), b.conn.Endpoint()))
		}
		kept := docs[:0]
		for _, d := range docs {
			if string(bytes.TrimSpace(d)) == "{}" {
				continue // not in the snapshot (cannot happen for revisions it listed)
			}
			key, _, err := wal.KeyRev(d)
			if err != nil {
				return sent, failure.Permanent(fmt.Errorf("revisions/documents of %s: %w", s.what(), err))
			}
			sentKeys[key] = struct{}{}
			kept = append(kept, d)
		}
		if err := s.emitDocs(ctx, kept, pos); err != nil {
			return sent, err
		}
		sent += int64(len(kept))
		missing = missing[len(docs):]
	}
	for _, kr := range bRevs {
		v, _ := revtree.DecodeHLC(kr.Rev)
		if _, ok := inA[v]; !ok {
			*candidates = append(*candidates, kr)
		}
	}
	return sent, nil
}

// clipRanges returns the parts of the ranges within [lo, hi].
func clipRanges(ranges []revtree.Range, lo, hi uint64) []revtree.Range {
	var out []revtree.Range
	for _, r := range ranges {
		if r.Max < lo || r.Min > hi {
			continue
		}
		out = append(out, revtree.Range{Min: max(r.Min, lo), Max: min(r.Max, hi)})
	}
	return out
}

// rangesBody renders the ranges as the JSON array of [min, max] HLC pairs.
func rangesBody(ranges []revtree.Range) []byte {
	body := []byte{'['}
	for i, r := range ranges {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, `["`...)
		body = revtree.AppendHLC(body, r.Min)
		body = append(body, `","`...)
		body = revtree.AppendHLC(body, r.Max)
		body = append(body, `"]`...)
	}
	return append(body, ']')
}

// revisionsPage reads one answer of PUT /revisions/ranges: A's revisions in
// the ranges from resume on, ascending, and the resume point of the next
// page ("" when this was the last).
func (s *Source) revisionsPage(ctx context.Context, b *batch, body []byte, resume string) ([]uint64, string, error) {
	q := s.idQuery()
	q.Set("collection", s.shard.Name)
	q.Set("batchId", b.id)
	q.Set("encodeAsHLC", "true")
	if resume != "" {
		q.Set("resumeHLC", resume)
	}
	resp, err := b.conn.Do(ctx, client.Request{Method: "PUT", Path: client.DBPath(b.db, "_api/replication/revisions/ranges"),
		Query: q, Body: body, What: s.what()}, 200)
	if err != nil {
		return nil, "", batchGone(b, err)
	}
	var ans struct {
		Ranges    [][]string `json:"ranges"`
		ResumeHLC string     `json:"resumeHLC"`
		Resume    string     `json:"resume"`
	}
	if err := json.Unmarshal(resp.Body, &ans); err != nil {
		return nil, "", failure.Permanent(fmt.Errorf("revisions/ranges of %s on %s: %w", s.what(), b.conn.Endpoint(), err))
	}
	var out []uint64
	for _, rg := range ans.Ranges {
		for _, r := range rg {
			v, err := revtree.DecodeHLC(r)
			if err != nil {
				return nil, "", failure.Permanent(fmt.Errorf("revisions/ranges of %s: %w", s.what(), err))
			}
			if len(out) > 0 && v <= out[len(out)-1] {
				return nil, "", failure.Permanent(fmt.Errorf("revisions/ranges of %s: revision %s not ascending", s.what(), r))
			}
			out = append(out, v)
		}
	}
	next := ans.ResumeHLC
	if next == "" {
		next = ans.Resume
	}
	return out, next, nil
}

// fetchDocuments reads documents by revision (PUT /revisions/documents). The
// answer may hold fewer documents than asked for (the server truncates);
// the caller asks again for the rest.
func (s *Source) fetchDocuments(ctx context.Context, b *batch, revs []uint64) ([]json.RawMessage, error) {
	body := []byte{'['}
	for i, r := range revs {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, '"')
		body = revtree.AppendHLC(body, r)
		body = append(body, '"')
	}
	body = append(body, ']')
	q := s.idQuery()
	q.Set("collection", s.shard.Name)
	q.Set("batchId", b.id)
	q.Set("encodeAsHLC", "true")
	resp, err := b.conn.Do(ctx, client.Request{Method: "PUT", Path: client.DBPath(b.db, "_api/replication/revisions/documents"),
		Query: q, Body: body, What: s.what()}, 200)
	if err != nil {
		return nil, batchGone(b, err)
	}
	var docs []json.RawMessage
	if err := json.Unmarshal(resp.Body, &docs); err != nil {
		return nil, failure.Permanent(fmt.Errorf("revisions/documents of %s on %s: %w", s.what(), b.conn.Endpoint(), err))
	}
	if len(docs) > len(revs) {
		return nil, failure.Permanent(fmt.Errorf("revisions/documents of %s: %d documents for %d revisions", s.what(), len(docs), len(revs)))
	}
	return docs, nil
}
