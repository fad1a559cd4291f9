package middleware

import (
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// AppliedPositions tells the dedupe middleware how far each shard (its
// events.ShardRef.String()) of this chain's sync has been applied durably:
// the checkpoint store, through AppliedFunc. ok is false for a shard it has
// never seen; an error (the store cannot be read) makes the message fail
// and be redelivered, so classify it where it enters (failure).
type AppliedPositions interface {
	Applied(shard string) (pos events.Position, ok bool, err error)
}

// AppliedFunc adapts a function to AppliedPositions, e.g. a closure binding
// the sync id over the checkpoint store.
type AppliedFunc func(shard string) (events.Position, bool, error)

// Applied calls f.
func (f AppliedFunc) Applied(shard string) (events.Position, bool, error) { return f(shard) }

// Dedupe enforces the receiver's rule of package events. With P the last
// applied position of the batch's shard (the zero position when none):
//
//   - Pos <= P: a replay; acked without calling the handler (duplicates
//     metric), unless Redeliver says it must reach the handler anyway;
//   - Prev <= P < Pos: the continuation; the handler applies it (records
//     at or below P inside it are replays, absorbed by the idempotent
//     apply);
//   - Prev is the start of a newer epoch than P ({E,0,0} with E > P.Epoch):
//     a new epoch supersedes everything; the handler applies it;
//   - otherwise P < Prev: a gap, something between is missing. Unless
//     AppliedPositions now holds a later position that closes it (another
//     worker held the shard's partition for a while and applied further:
//     P in memory was stale; the batch is then judged against that one;
//     asked at most once a second per shard),
//     the handler is not called, OnGap (if set) is told so the shard can be
//     resynchronised, and a permanent failure.CodeStreamGap error is
//     returned (so the batch is parked on the poison topic, visibly).
//
// It must run behind Decode.
//
// The last applied position of a shard is loaded from AppliedPositions the
// first time the shard is seen (after a restart or Forget) and then kept in
// memory, advanced only when the handler returned without error. Batches of
// one shard arrive in order from one Kafka partition and are handled one at a
// time; Dedupe is safe for concurrent use across shards.
type Dedupe struct {
	src     AppliedPositions
	metrics *Metrics
	// OnGap, when set before use, is called for every batch refused as a
	// gap (from the handling goroutine; keep it short).
	OnGap func(shard string, applied events.Position, b *events.Batch)
	// Redeliver, when set before use, names replays (Pos <= P) that still
	// go to the handler, e.g. a batch carrying a request whose answer may
	// have been lost with a crash after the batch was applied. The handler
	// sees them as the replays they are (its own skip rule applies).
	Redeliver func(b *events.Batch) bool

	mu    sync.Mutex
	last  map[string]events.Position
	asked map[string]time.Time // when a gap last made a shard's position be read again
}

// reaskAfter bounds how often a gap re-reads a shard's position: the
// batches after a real gap are gaps too until the resync's new epoch comes.
const reaskAfter = time.Second

// NewDedupe returns a dedupe middleware reading durable positions from src
// (nil: memory only, everything is new after a restart). m may be nil.
func NewDedupe(src AppliedPositions, m *Metrics) *Dedupe {
	return &Dedupe{src: src, metrics: m, last: make(map[string]events.Position), asked: make(map[string]time.Time)}
}

// Applied returns the last applied position of shard as Dedupe knows it
// (loading it from AppliedPositions the first time).
func (d *Dedupe) Applied(shard string) (events.Position, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p, ok := d.last[shard]; ok {
		return p, true, nil
	}
	if d.src == nil {
		return events.Position{}, false, nil
	}
	p, ok, err := d.src.Applied(shard)
	if err != nil {
		return events.Position{}, false, fmt.Errorf("dedupe: reading the applied position of shard %s: %w", shard, err)
	}
	if ok {
		d.last[shard] = p
	}
	return p, ok, nil
}

// Forget drops the in-memory position of a shard (when it is released): the
// next message of the shard reloads it from AppliedPositions.
func (d *Dedupe) Forget(shard string) {
	d.mu.Lock()
	delete(d.last, shard)
	delete(d.asked, shard)
	d.mu.Unlock()
}

// Middleware is the message.HandlerMiddleware.
func (d *Dedupe) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		b, ok := BatchFrom(msg)
		if !ok {
			return nil, failure.WithCode(failure.CodeInternal, fmt.Errorf("dedupe: message %s has no decoded batch: Decode must run before Dedupe", msg.UUID))
		}
		shard := b.Shard.String()
		applied, _, err := d.Applied(shard)
		if err != nil {
			return nil, err
		}
		v := judge(applied, b)
		if v == gap && d.src != nil && d.mayAsk(shard) {
			// The position in memory may be stale rather than the stream
			// broken: another worker held the shard's partition for a
			// while (a rebalance) and applied further. Ask the source once.
			if p, ok, err := d.src.Applied(shard); err == nil && ok && applied.Less(p) {
				d.mu.Lock()
				if cur, ok := d.last[shard]; !ok || cur.Less(p) {
					d.last[shard] = p
				}
				d.mu.Unlock()
				applied, v = p, judge(p, b)
			}
		}
		switch v {
		case replay:
			d.metrics.duplicate(msg, shard)
			if d.Redeliver != nil && d.Redeliver(b) {
				return h(msg)
			}
			return nil, nil
		case gap:
			if d.OnGap != nil {
				d.OnGap(shard, applied, b)
			}
			return nil, failure.WithCode(failure.CodeStreamGap, fmt.Errorf(
				"shard %s: batch %s continues from %s but only %s is applied: a batch in between is missing",
				shard, b.Pos, b.Prev, applied))
		}
		out, err := h(msg)
		if err != nil {
			return out, err
		}
		d.mu.Lock()
		if cur, ok := d.last[shard]; !ok || cur.Less(b.Pos) {
			d.last[shard] = b.Pos
		}
		d.mu.Unlock()
		return out, nil
	}
}

// mayAsk reports whether a gap of shard may read its position again now.
func (d *Dedupe) mayAsk(shard string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if at, ok := d.asked[shard]; ok && time.Since(at) < reaskAfter {
		return false
	}
	d.asked[shard] = time.Now()
	return true
}

// verdict is how a batch relates to the applied position P of its shard.
type verdict int

const (
	replay verdict = iota + 1 // Pos <= P
	next                      // Prev <= P < Pos, or the first batch of a newer epoch
	gap                       // P < Prev: something in between is missing
)

func judge(applied events.Position, b *events.Batch) verdict {
	switch {
	case !applied.Less(b.Pos):
		return replay
	case !applied.Less(b.Prev):
		return next
	case b.Prev.Tick == 0 && b.Prev.Sub == 0 && applied.Epoch < b.Prev.Epoch:
		return next
	}
	return gap
}
