package send

import (
	"context"
	"errors"
	"sync"

	"github.com/dc2dc/dc2dc/store"
)

// Epochs allocates shard epochs: Next returns a number strictly greater than
// any epoch used before for the shard (the control plane implements it with
// a fenced counter in A's _dc2dc).
type Epochs interface {
	Next(ctx context.Context, shard string) (uint64, error)
}

// StoreEpochs allocates epochs from the worker's checkpoint store: one more
// than the epoch of the shard's stored SourcePosition (and than any it handed
// out in this process). The task stores the new epoch before publishing
// anything of it, so it is strictly greater than every epoch used — for a
// single worker per sync. With several workers use the control plane's.
type StoreEpochs struct {
	Store *store.Store
	Sync  string

	mu   sync.Mutex
	last map[string]uint64
}

// Next implements Epochs.
func (e *StoreEpochs) Next(_ context.Context, shard string) (uint64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.last == nil {
		e.last = make(map[string]uint64)
	}
	n := e.last[shard]
	pos, err := e.Store.Source(e.Sync, shard)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return 0, err
	default:
		n = max(n, pos.Epoch)
	}
	n++
	e.last[shard] = n
	return n, nil
}
