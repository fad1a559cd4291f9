package target

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// Outcome says what Receive did with a batch.
type Outcome int

const (
	// Applied: the batch was applied and the applied position recorded.
	Applied Outcome = iota + 1
	// Skipped: the batch is at or before the applied position (a replay).
	Skipped
)

func (o Outcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case Skipped:
		return "skipped"
	}
	return "none"
}

// Receiver is the receive path of one shard stream: the dedupe and gap rules
// of events/doc.go, the Applier, then the applied position in B's _dc2dc
// (durability order: apply → record the position → the caller acks).
type Receiver struct {
	sync    string
	shard   events.ShardRef
	applier *Applier
	pos     *Positions

	loaded        bool
	applied       events.Position // last batch applied (in memory; dedupe)
	last          Record          // last record written to (or read from) B
	pendingOffset int64           // Kafka offset of the batch the oldest open transaction began in

	checkedAt time.Time // when last was written or read
	reloads   uint64    // times recheck found another writer's record
}

// DefaultRecheckAfter is how long a Receiver may go without writing its
// shard's record before it reads the record again ahead of applying: below
// every Kafka consumer-group session timeout dc2dc allows (3 s at least), and
// above the heartbeat interval (1 s), so a live shard never pays for it.
const DefaultRecheckAfter = 2 * time.Second

// NewReceiver returns the receive path of the applier's shard for a sync.
func NewReceiver(sync string, a *Applier, p *Positions) *Receiver {
	return &Receiver{sync: sync, shard: a.shard, applier: a, pos: p}
}

// Reloads counts the times the receiver found, ahead of a batch, that
// another worker had recorded a different position for its shard, and
// continued from that one.
func (r *Receiver) Reloads() uint64 { return r.reloads }

// Applied returns the in-memory applied position (the last batch applied).
func (r *Receiver) Applied() events.Position { return r.applied }

// Last returns the record last written to B's _dc2dc (or read by Start): the
// durable resume point, which the receive task also keeps in its own
// checkpoint store.
func (r *Receiver) Last() Record { return r.last }

// Start reads the shard's applied position from B (a worker taking over the
// shard) and returns the record, so the caller can seek the Kafka partition
// to rec.Offset. ok is false for a shard never applied.
func (r *Receiver) Start(ctx context.Context) (rec Record, ok bool, err error) {
	rec, ok, err = r.pos.Load(ctx, r.sync, r.shard)
	if err != nil {
		return Record{}, false, err
	}
	r.applied, r.last, r.loaded = rec.Pos, rec, true
	r.checkedAt = r.pos.now()
	r.applier.Reset()
	return rec, ok, nil
}

// recheck reads the shard's record in B again. A worker that stalled (it
// was stopped, frozen or starved) for longer than the Kafka group's session
// timeout lost the shard's partition to another worker, which went on
// applying; when it wakes up it still holds batches it fetched before, and
// its in-memory position is stale. Applying them would write older
// versions of documents over newer ones (its position save would be refused
// only afterwards). So when B's record is not the one this receiver last
// wrote or read, it continues from B's, dropping an open transaction the
// other worker has taken over, and the batch is judged against that.
func (r *Receiver) recheck(ctx context.Context) error {
	cur, ok, err := r.pos.Load(ctx, r.sync, r.shard)
	if err != nil {
		return err
	}
	r.checkedAt = r.pos.now()
	if !ok || cur.Pos == r.last.Pos {
		return nil
	}
	r.applied, r.last = cur.Pos, cur
	r.applier.Reset()
	r.reloads++
	return nil
}

// Check applies the dedupe and gap rules to a batch header against the
// applied position: Skipped for Pos <= applied, Applied (meaning "apply it")
// for Prev <= applied < Pos or the first batch of a newer epoch, and a
// *ResyncError (CodeStreamGap, wrapping a *GapError) for applied < Prev.
func Check(shard events.ShardRef, applied, prev, pos events.Position) (Outcome, error) {
	if !applied.Less(pos) {
		return Skipped, nil
	}
	if pos.Epoch > applied.Epoch {
		// A new epoch starts with a snapshot that supersedes everything
		// before it; only its first batch may follow an older epoch.
		if prev == (events.Position{Epoch: pos.Epoch}) {
			return Applied, nil
		}
	} else if !applied.Less(prev) {
		return Applied, nil
	}
	gap := &GapError{Shard: shard, Applied: applied, Prev: prev, Pos: pos}
	return 0, failure.WithCode(failure.CodeStreamGap, failure.Permanent(&ResyncError{Shard: shard, Reason: ReasonGap, Detail: gap.Error(), Cause: gap}))
}

// Receive handles one batch read from Kafka partition/offset: skips replays,
// refuses gaps, applies, and records the applied position. An error leaves
// the applied position unchanged: the caller retries a retryable error,
// resynchronises the shard for a *ResyncError (later batches of the same
// epoch are gaps until the new epoch arrives), or stops for a *StaleError.
// A *StreamEndError comes with Applied: the records before the drop marker
// were applied and the position recorded; the caller releases the shard.
func (r *Receiver) Receive(ctx context.Context, b *events.Batch, partition int32, offset int64) (Outcome, error) {
	if b.Shard != r.shard {
		return 0, failure.WithCode(failure.CodeInternal, fmt.Errorf("receiver of %s got a batch of %s", r.shard, b.Shard))
	}
	if !r.loaded {
		if _, _, err := r.Start(ctx); err != nil {
			return 0, err
		}
	} else if r.pos.now().Sub(r.checkedAt) > DefaultRecheckAfter {
		if err := r.recheck(ctx); err != nil {
			return 0, err
		}
	}
	out, err := Check(r.shard, r.applied, b.Prev, b.Pos)
	var gap *GapError
	if errors.As(err, &gap) {
		// A gap against memory may be another worker's progress (it held
		// the shard's partition for a while): judge it against B's record.
		if rerr := r.recheck(ctx); rerr != nil {
			return 0, rerr
		}
		out, err = Check(r.shard, r.applied, b.Prev, b.Pos)
	}
	if err != nil || out == Skipped {
		return out, err
	}
	wasPending := r.applier.Pending()
	applyErr := r.applier.Apply(ctx, b)
	var end *StreamEndError
	if applyErr != nil && !errors.As(applyErr, &end) {
		return 0, applyErr
	}
	if !wasPending && r.applier.Pending() {
		r.pendingOffset = offset
	}
	durable := r.applier.Durable(b)
	resume := offset + 1
	if r.applier.Pending() {
		resume = r.pendingOffset
	}
	rec := Record{Sync: r.sync, Shard: r.shard, Pos: durable, Leader: b.Leader, Partition: partition, Offset: resume, UpdatedAt: r.pos.now()}
	if err := r.pos.Save(ctx, rec); err != nil {
		return 0, err
	}
	r.applied, r.last, r.checkedAt = b.Pos, rec, r.pos.now()
	return Applied, applyErr
}
