package receive

import (
	"context"
	"fmt"
	"sync"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/target"
)

// BatchResolver maps a shard to the collection name A's batches carry
// (Batch.Collection), assuming B's collection has the same name. For tests
// and a single sync; the control plane has the real mapping.
type BatchResolver struct {
	mu    sync.Mutex
	names map[events.ShardRef]string
}

// Learn records the collection name a batch carries.
func (r *BatchResolver) Learn(b *events.Batch) {
	if b.Collection == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.names == nil {
		r.names = make(map[events.ShardRef]string)
	}
	r.names[b.Shard] = b.Collection
}

// Collection implements target.Resolver.
func (r *BatchResolver) Collection(_ context.Context, shard events.ShardRef) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n, ok := r.names[shard]; ok {
		return n, nil
	}
	return "", fmt.Errorf("shard %s: no batch named its collection yet: %w", shard, target.ErrUnknownShard)
}
