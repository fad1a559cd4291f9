package target

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// PositionsCollection is dc2dc's system collection in B's _system database.
const PositionsCollection = "_dc2dc"

// Record is the applied position of one shard stream of one sync, as kept in
// B's _system/_dc2dc collection.
type Record struct {
	Sync      string
	Shard     events.ShardRef
	Pos       events.Position // applied (durable) position: replay starts after it
	Leader    string          // the source DB-Server whose ticks Pos carries
	Partition int32           // Kafka partition of the data topic
	Offset    int64           // Kafka offset to resume reading from
	UpdatedAt time.Time
}

// wireRecord is the document form. Epoch and tick are strings: they can
// exceed 2^53 and must survive JSON number handling anywhere.
type wireRecord struct {
	Key       string `json:"_key,omitempty"`
	Rev       string `json:"_rev,omitempty"`
	Type      string `json:"type"`
	Sync      string `json:"sync"`
	Shard     string `json:"shard"`
	Epoch     string `json:"epoch"`
	Tick      string `json:"tick"`
	Sub       uint32 `json:"sub"`
	Leader    string `json:"leader"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	UpdatedAt string `json:"updatedAt"`
}

// PositionKey returns the _key of a shard's record: readable when the names
// allow it, a hash when they are too long for a key.
func PositionKey(sync string, shard events.ShardRef) string {
	k := "pos:" + keyEscape(sync) + ":" + keyEscape(shard.Database) + ":" + keyEscape(shard.CollectionID) + ":" + strconv.Itoa(shard.Index)
	if len(k) <= 254 {
		return k
	}
	sum := sha256.Sum256([]byte(sync + "\x00" + shard.String()))
	return "pos:" + hex.EncodeToString(sum[:])
}

// keyEscape percent-encodes every byte a document key may not hold (and ':',
// the separator).
func keyEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_-.@()+,=;$!*'", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// Positions reads and writes applied positions in B's _system/_dc2dc. Save
// is a compare-and-set on _rev (If-Match) and monotonic: a writer whose
// position is behind the stored one loses with a *StaleError. Safe for
// concurrent use.
type Positions struct {
	do  Doer
	now func() time.Time
	// revs caches the _rev this process last wrote or read per key, so a
	// steady writer needs one request per Save.
	revs *revCache
}

// NewPositions returns the position store of cluster B. now may be nil (time.Now).
func NewPositions(do Doer, now func() time.Time) *Positions {
	if now == nil {
		now = time.Now
	}
	return &Positions{do: do, now: now, revs: newRevCache()}
}

func (p *Positions) docPath(key string) string {
	path := DBPath("_system", "/_api/document/", PositionsCollection)
	if key != "" {
		path += "/" + url.PathEscape(key)
	}
	return path
}

// Ensure creates _system/_dc2dc (a system collection) when it is missing.
func (p *Positions) Ensure(ctx context.Context) error {
	req := Request{Method: http.MethodGet, Path: DBPath("_system", "/_api/collection/", PositionsCollection)}
	resp, err := p.do.Do(ctx, req)
	if err != nil {
		return err
	}
	if resp.Status == http.StatusOK {
		return nil
	}
	if ae := answerError(req, resp); ae.Num != numDataSourceNotFound {
		return classify(ae)
	}
	body, _ := json.Marshal(map[string]any{"name": PositionsCollection, "isSystem": true, "type": 2})
	creq := Request{Method: http.MethodPost, Path: DBPath("_system", "/_api/collection"), Body: body}
	cresp, err := p.do.Do(ctx, creq)
	if err != nil {
		return err
	}
	if cresp.Status == http.StatusOK || cresp.Status == http.StatusCreated {
		return nil
	}
	if ae := answerError(creq, cresp); ae.Num == numDuplicateName {
		return nil // another worker created it
	}
	return cresp.Check(creq)
}

// Load returns the shard's record; ok is false when there is none (the shard
// has never been applied by this sync).
func (p *Positions) Load(ctx context.Context, sync string, shard events.ShardRef) (rec Record, ok bool, err error) {
	key := PositionKey(sync, shard)
	rec, rev, ok, err := p.get(ctx, key)
	if err != nil {
		return Record{}, false, err
	}
	if ok {
		p.revs.set(key, rev)
	} else {
		p.revs.del(key)
	}
	return rec, ok, nil
}

func (p *Positions) get(ctx context.Context, key string) (Record, string, bool, error) {
	req := Request{Method: http.MethodGet, Path: p.docPath(key)}
	resp, err := p.do.Do(ctx, req)
	if err != nil {
		return Record{}, "", false, err
	}
	if resp.Status == http.StatusNotFound {
		if ae := answerError(req, resp); ae.Num == numDocumentNotFound || ae.Num == numDataSourceNotFound || ae.Num == 0 {
			return Record{}, "", false, nil
		}
	}
	if err := resp.Check(req, http.StatusOK); err != nil {
		return Record{}, "", false, err
	}
	var w wireRecord
	if err := json.Unmarshal(resp.Body, &w); err != nil {
		return Record{}, "", false, failure.WithCode(failure.CodeCheckpointCorrupt, fmt.Errorf("%s/%s: %w", PositionsCollection, key, err))
	}
	rec, err := w.record()
	if err != nil {
		return Record{}, "", false, failure.WithCode(failure.CodeCheckpointCorrupt, fmt.Errorf("%s/%s: %w", PositionsCollection, key, err))
	}
	return rec, w.Rev, true, nil
}

func (w wireRecord) record() (Record, error) {
	shard, err := events.ParseShardRef(w.Shard)
	if err != nil {
		return Record{}, err
	}
	epoch, err := strconv.ParseUint(w.Epoch, 10, 64)
	if err != nil {
		return Record{}, fmt.Errorf("epoch %q: %w", w.Epoch, err)
	}
	tick, err := strconv.ParseUint(w.Tick, 10, 64)
	if err != nil {
		return Record{}, fmt.Errorf("tick %q: %w", w.Tick, err)
	}
	at, _ := time.Parse(time.RFC3339Nano, w.UpdatedAt)
	return Record{Sync: w.Sync, Shard: shard, Pos: events.Position{Epoch: epoch, Tick: tick, Sub: w.Sub},
		Leader: w.Leader, Partition: w.Partition, Offset: w.Offset, UpdatedAt: at}, nil
}

func (p *Positions) wire(key string, rec Record) []byte {
	b, _ := json.Marshal(wireRecord{Key: key, Type: "applied-position", Sync: rec.Sync, Shard: rec.Shard.String(),
		Epoch: strconv.FormatUint(rec.Pos.Epoch, 10), Tick: strconv.FormatUint(rec.Pos.Tick, 10), Sub: rec.Pos.Sub,
		Leader: rec.Leader, Partition: rec.Partition, Offset: rec.Offset, UpdatedAt: rec.UpdatedAt.UTC().Format(time.RFC3339Nano)})
	return b
}

// casAttempts bounds Save's compare-and-set loop.
const casAttempts = 5

// Save writes rec if its position is not behind the stored one. It returns a
// *StaleError (permanent, errors.Is ErrStale) when B holds a later position:
// another worker applies this shard now and this one must stop.
func (p *Positions) Save(ctx context.Context, rec Record) error {
	if err := rec.Shard.Validate(); err != nil {
		return failure.WithCode(failure.CodeInternal, fmt.Errorf("positions: invalid record %+v: %w", rec, err))
	}
	if rec.Sync == "" {
		return failure.WithCode(failure.CodeInternal, fmt.Errorf("positions: invalid record %+v: empty sync id", rec))
	}
	key := PositionKey(rec.Sync, rec.Shard)
	if rec.UpdatedAt.IsZero() {
		rec.UpdatedAt = p.now()
	}
	ensured := false
	for attempt := 0; attempt < casAttempts; attempt++ {
		rev, known := p.revs.get(key)
		if !known {
			cur, curRev, ok, err := p.get(ctx, key)
			if err != nil {
				return err
			}
			if ok {
				if rec.Pos.Less(cur.Pos) {
					// Not cached: a later Save with the current _rev would
					// skip this comparison and could move the record back.
					return failure.WithCode(failure.CodeSyncFenced, failure.Permanent(&StaleError{Key: key, Stored: cur.Pos, Attempt: rec.Pos}))
				}
				rev, known = curRev, true
			}
		}
		var req Request
		if known {
			req = Request{Method: http.MethodPut, Path: p.docPath(key), Header: map[string]string{"If-Match": `"` + rev + `"`},
				Query: url.Values{"ignoreRevs": {"false"}}, Body: p.wire(key, rec)}
		} else {
			req = Request{Method: http.MethodPost, Path: p.docPath(""), Body: p.wire(key, rec)}
		}
		resp, err := p.do.Do(ctx, req)
		if err != nil {
			return err
		}
		switch resp.Status {
		case http.StatusOK, http.StatusCreated, http.StatusAccepted:
			var meta struct {
				Rev string `json:"_rev"`
			}
			if json.Unmarshal(resp.Body, &meta) == nil && meta.Rev != "" {
				p.revs.set(key, meta.Rev)
			} else {
				p.revs.del(key)
			}
			return nil
		case http.StatusPreconditionFailed, http.StatusConflict:
			// Someone else wrote (or created) the record: read it and decide again.
			p.revs.del(key)
			continue
		case http.StatusNotFound:
			ae := answerError(req, resp)
			p.revs.del(key)
			if ae.Num == numDataSourceNotFound && !ensured {
				if err := p.Ensure(ctx); err != nil {
					return err
				}
				ensured = true
				continue
			}
			if ae.Num == numDocumentNotFound {
				continue // removed meanwhile: insert it again
			}
			return classify(ae)
		default:
			return resp.Check(req)
		}
	}
	return failure.Retryable(fmt.Errorf("positions: %s: compare-and-set lost %d times in a row: another writer is active", key, casAttempts))
}

// Delete removes a shard's record (the shard was released for good).
func (p *Positions) Delete(ctx context.Context, sync string, shard events.ShardRef) error {
	key := PositionKey(sync, shard)
	req := Request{Method: http.MethodDelete, Path: p.docPath(key)}
	resp, err := p.do.Do(ctx, req)
	if err != nil {
		return err
	}
	p.revs.del(key)
	if resp.Status == http.StatusNotFound {
		return nil
	}
	return resp.Check(req, http.StatusOK, http.StatusAccepted)
}
