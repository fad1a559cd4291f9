package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/state"
	"github.com/dc2dc/dc2dc/pipeline/failure"
	"github.com/dc2dc/dc2dc/store"
)

// EpochKeyPrefix starts the keys of the stream epoch counters in
// _system/_dc2dc.
const EpochKeyPrefix = "epoch-"

// EpochKey is the _dc2dc key of the epoch counter of one shard stream of a
// sync: a hash, because a shard reference holds characters a document key
// must not.
func EpochKey(sync, shard string) string {
	h := sha256.Sum256([]byte(sync + "\x00" + shard))
	return EpochKeyPrefix + hex.EncodeToString(h[:16])
}

// epochDoc is the counter document.
type epochDoc struct {
	Sync      string    `json:"sync"`
	Shard     string    `json:"shard"`
	Epoch     uint64    `json:"epoch"`
	Worker    string    `json:"worker,omitempty"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Epochs allocates the stream epochs of one sync's shards from counters in
// the local cluster's _system/_dc2dc (send.Epochs). Every Next is a
// compare-and-set on the counter document's _rev, so two workers (or two
// tasks of one) never get the same number, and a task that moves to another
// worker continues above every epoch used before. Safe for concurrent use.
type Epochs struct {
	// Docs is the local cluster's _dc2dc.
	Docs *state.Docs
	// Sync is the sync id.
	Sync string
	// Worker is recorded in the counter (for people).
	Worker string
	// Floor (optional) is the worker's checkpoint store: Next also stays
	// above the epoch of the shard's stored source position (epochs a
	// store-based allocator handed out before the counter existed).
	Floor *store.Store
	// MaxAttempts bounds the compare-and-set rounds of one Next (default 100).
	MaxAttempts int
}

// Next implements send.Epochs: a number strictly greater than every epoch
// this counter (and the floor) ever returned for the shard.
func (e *Epochs) Next(ctx context.Context, shard string) (uint64, error) {
	key := EpochKey(e.Sync, shard)
	floor, err := e.floor(shard)
	if err != nil {
		return 0, err
	}
	attempts := e.MaxAttempts
	if attempts <= 0 {
		attempts = 100
	}
	for i := range attempts {
		if i > 0 {
			// Lost a race: a short jittered pause lets the winner finish.
			d := time.Duration(1+rand.IntN(5*min(i, 10))) * time.Millisecond
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(d):
			}
		}
		doc, err := e.Docs.Get(ctx, key)
		if errors.Is(err, state.ErrNotFound) {
			n := floor + 1
			_, err := e.Docs.Create(ctx, key, e.doc(shard, n))
			if errors.Is(err, state.ErrConflict) {
				continue
			}
			if err != nil {
				return 0, fmt.Errorf("epoch counter of %s/%s (_dc2dc/%s): %w", e.Sync, shard, key, err)
			}
			return n, nil
		}
		if err != nil {
			return 0, fmt.Errorf("epoch counter of %s/%s (_dc2dc/%s): %w", e.Sync, shard, key, err)
		}
		var cur epochDoc
		if err := json.Unmarshal(doc.Body, &cur); err != nil {
			return 0, failure.WithCode(failure.CodeCheckpointCorrupt, fmt.Errorf("epoch counter _dc2dc/%s: %w: remove the document only if no send task of %s/%s runs", key, err, e.Sync, shard))
		}
		if cur.Sync != e.Sync || cur.Shard != shard {
			return 0, failure.WithCode(failure.CodeCheckpointCorrupt, fmt.Errorf("epoch counter _dc2dc/%s belongs to %s/%s, not %s/%s", key, cur.Sync, cur.Shard, e.Sync, shard))
		}
		n := max(cur.Epoch, floor) + 1
		_, err = e.Docs.Replace(ctx, key, doc.Rev, e.doc(shard, n))
		if errors.Is(err, state.ErrConflict) || errors.Is(err, state.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("epoch counter of %s/%s (_dc2dc/%s): %w", e.Sync, shard, key, err)
		}
		return n, nil
	}
	return 0, failure.Retryable(fmt.Errorf("epoch counter of %s/%s: lost the compare-and-set %d times in a row", e.Sync, shard, attempts))
}

// Current returns the shard's counter: the highest epoch handed out (ok
// false when none was).
func (e *Epochs) Current(ctx context.Context, shard string) (uint64, bool, error) {
	key := EpochKey(e.Sync, shard)
	doc, err := e.Docs.Get(ctx, key)
	if errors.Is(err, state.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("epoch counter of %s/%s (_dc2dc/%s): %w", e.Sync, shard, key, err)
	}
	var cur epochDoc
	if err := json.Unmarshal(doc.Body, &cur); err != nil {
		return 0, false, failure.WithCode(failure.CodeCheckpointCorrupt, fmt.Errorf("epoch counter _dc2dc/%s: %w", key, err))
	}
	return cur.Epoch, true, nil
}

// Stale reports whether the worker's checkpoint of the shard (in st) is of
// an epoch another worker has superseded since: resuming it would publish
// batches B skips. The checkpoint's epoch is returned too.
func (e *Epochs) Stale(ctx context.Context, st *store.Store, shard string) (stale bool, local, current uint64, err error) {
	pos, err := st.Source(e.Sync, shard)
	if errors.Is(err, store.ErrNotFound) {
		return false, 0, 0, nil
	}
	if err != nil {
		return false, 0, 0, err
	}
	cur, ok, err := e.Current(ctx, shard)
	if err != nil || !ok {
		return false, pos.Epoch, cur, err
	}
	return cur > pos.Epoch, pos.Epoch, cur, nil
}

func (e *Epochs) doc(shard string, n uint64) epochDoc {
	return epochDoc{Sync: e.Sync, Shard: shard, Epoch: n, Worker: e.Worker, UpdatedAt: time.Now().UTC()}
}

func (e *Epochs) floor(shard string) (uint64, error) {
	if e.Floor == nil {
		return 0, nil
	}
	pos, err := e.Floor.Source(e.Sync, shard)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	}
	return pos.Epoch, nil
}
