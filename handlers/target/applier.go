package target

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// Doer sends raw requests to cluster B's Coordinators (*Conn, later
// handlers/arango/client's connection).
type Doer interface {
	Do(ctx context.Context, req Request) (*Response, error)
}

// Resolver maps a shard stream (database, source collection id, shard index)
// to the name of its collection in cluster B. The control plane keeps that
// mapping (collections may be renamed in A). It returns an error wrapping
// ErrUnknownShard while it does not know the shard yet.
type Resolver interface {
	Collection(ctx context.Context, shard events.ShardRef) (name string, err error)
}

// op is one write: a document (verbatim) or a removal by key.
type op struct {
	remove bool
	key    string
	doc    []byte
}

// unit is a run of writes applied together: plain writes (tid == ""), or a
// transaction applied as one stream transaction once committed.
type unit struct {
	tid    string
	done   bool // the transaction's commit arrived
	ops    []op
	resume events.Position // for a transaction: Prev of the batch it began in
}

func (u *unit) bytes() int64 {
	var n int64
	for _, o := range u.ops {
		n += int64(len(o.doc)) + int64(len(o.key))
	}
	return n
}

// Applier applies the batches of one shard stream to cluster B. It is not
// safe for concurrent use: one shard stream is applied by one goroutine, in
// order. See the package doc for the rules.
type Applier struct {
	do    Doer
	res   Resolver
	shard events.ShardRef
	cfg   Config

	epoch        uint64
	units        []unit // not yet applied, in stream order; units[0] is blocked by an open transaction
	missingSince time.Time
	buffered     int64 // bytes held after the last Apply (for the metric)
}

// NewApplier returns an applier for one shard stream.
func NewApplier(do Doer, res Resolver, shard events.ShardRef, cfg Config) (*Applier, error) {
	cfg = cfg.WithDefaults()
	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := shard.Validate(); err != nil {
		errs = append(errs, err)
	}
	if shard.IsMeta() {
		errs = append(errs, fmt.Errorf("target: %s is a database meta stream, not a shard stream: the master handles structure", shard))
	}
	if do == nil || res == nil {
		errs = append(errs, errors.New("target: NewApplier needs a connection and a resolver"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, failure.WithCode(failure.CodeConfigInvalid, err)
	}
	return &Applier{do: do, res: res, shard: shard, cfg: cfg}, nil
}

// Pending reports whether records wait for a transaction's commit.
func (a *Applier) Pending() bool { return len(a.units) > 0 }

// Durable returns the position that may be recorded as applied after b was
// applied: b.Pos when nothing waits, otherwise the position before the batch
// in which the oldest open transaction began (replaying from there rebuilds
// the buffered transaction after a crash).
func (a *Applier) Durable(b *events.Batch) events.Position {
	if len(a.units) == 0 {
		return b.Pos
	}
	return a.units[0].resume
}

// Reset drops every buffered record (the shard is being resynchronised or released).
func (a *Applier) Reset() { a.units = nil }

// Apply applies one batch. Records are applied in stream order; writes of a
// transaction are held until its commit and then applied as one stream
// transaction on B. On a retryable error nothing of the batch is kept
// buffered, so the same batch can be applied again (writes already done are
// idempotent). Errors: *ResyncError (truncate, transaction too large),
// *StreamEndError (collection or database dropped), *StructureMissingError,
// and classified ArangoDB errors.
func (a *Applier) Apply(ctx context.Context, b *events.Batch) error {
	if b.Shard != a.shard {
		return failure.WithCode(failure.CodeInternal, fmt.Errorf("target: applier of %s got a batch of %s", a.shard, b.Shard))
	}
	if b.Pos.Epoch > a.epoch {
		if len(a.units) > 0 {
			a.cfg.Logger.Warn("dropping unfinished transactions of an older epoch", "shard", a.shard.String(), "epoch", a.epoch, "new_epoch", b.Pos.Epoch, "units", len(a.units))
		}
		a.units = nil
		a.epoch = b.Pos.Epoch
	}
	start := time.Now()
	saved := a.save()
	defer a.account()
	stop, err := a.collect(b)
	if err == nil {
		err = a.flush(ctx)
	}
	if err == nil && stop != nil {
		// Records after a truncate or drop are not applied; nothing stays buffered.
		a.units = nil
		var re *ResyncError
		if errors.As(stop, &re) {
			a.cfg.Metrics.resync(re.Reason)
		}
		return stop
	}
	if err != nil {
		var re *ResyncError
		if errors.As(err, &re) {
			a.units = nil // the shard starts over with a new epoch
		} else {
			a.units = saved
		}
		return err
	}
	if n := a.blockedBytes(); n > a.cfg.MaxTxnBytes {
		a.units = nil
		a.cfg.Metrics.resync(ReasonTxnTooLarge)
		return resyncErr(a.shard, ReasonTxnTooLarge, "%d bytes of an open transaction are buffered, more than MaxTxnBytes = %d; it cannot be applied atomically", n, a.cfg.MaxTxnBytes)
	}
	a.cfg.Metrics.applied(time.Since(start))
	return nil
}

// account updates the buffered-bytes metric.
func (a *Applier) account() {
	if a.cfg.Metrics == nil {
		return
	}
	n := a.blockedBytes()
	a.cfg.Metrics.bufferedDelta(n - a.buffered)
	a.buffered = n
}

// save returns a copy of the unit list that restores the state before a batch.
func (a *Applier) save() []unit {
	if a.units == nil {
		return nil
	}
	out := make([]unit, len(a.units))
	copy(out, a.units) // the ops slices keep their old lengths: appends beyond them are forgotten
	return out
}

func (a *Applier) blockedBytes() int64 {
	var n int64
	for i := range a.units {
		n += a.units[i].bytes()
	}
	return n
}

func isTxn(tid string) bool { return tid != "" && tid != "0" }

// open returns the open transaction unit with the id, or nil.
func (a *Applier) open(tid string) *unit {
	if !isTxn(tid) {
		return nil
	}
	for i := range a.units {
		if a.units[i].tid == tid && !a.units[i].done {
			return &a.units[i]
		}
	}
	return nil
}

// plain appends a plain write after everything queued.
func (a *Applier) plain(o op) {
	if n := len(a.units); n > 0 && a.units[n-1].tid == "" {
		a.units[n-1].ops = append(a.units[n-1].ops, o)
		return
	}
	a.units = append(a.units, unit{ops: []op{o}})
}

func (a *Applier) write(tid string, o op) {
	if u := a.open(tid); u != nil {
		u.ops = append(u.ops, o)
		return
	}
	a.plain(o)
}

// collect sorts the batch's records into units. It returns a non-nil stop
// error for a record that ends the batch (truncate, drop).
func (a *Applier) collect(b *events.Batch) (stop error, err error) {
	for _, r := range b.Records {
		switch ev := r.Event.(type) {
		case *events.Document:
			a.write(ev.TID, op{key: ev.Key, doc: ev.Doc})
		case *events.Remove:
			if ev.Key == "" {
				return nil, failure.WithCode(failure.CodeApplyRejected, fmt.Errorf("shard %s: removal at tick %d without a key", a.shard, r.Tick))
			}
			a.write(ev.TID, op{remove: true, key: ev.Key})
		case *events.SnapshotDocuments:
			for _, d := range ev.Docs {
				a.plain(op{doc: d})
			}
		case *events.SnapshotRemove:
			for _, kr := range ev.Keys {
				a.plain(op{remove: true, key: kr.Key})
			}
		case *events.TransactionStart:
			if a.open(ev.TID) == nil {
				a.units = append(a.units, unit{tid: ev.TID, resume: b.Prev})
			}
		case *events.TransactionCommit:
			if u := a.open(ev.TID); u != nil {
				u.done = true
			}
		case *events.TransactionAbort:
			for i := range a.units {
				if a.units[i].tid == ev.TID && !a.units[i].done {
					a.units = append(a.units[:i:i], a.units[i+1:]...)
					a.cfg.Metrics.transaction("aborted")
					break
				}
			}
		case *events.CollectionTruncate:
			return resyncErr(a.shard, ReasonTruncate, "collection truncated in A at tick %d: B's coordinator API has no per-shard truncate, so the shard is resynchronised", r.Tick), nil
		case *events.CollectionDrop, *events.DatabaseDrop:
			return &StreamEndError{Shard: a.shard, Marker: r.Event.Kind()}, nil
		default:
			// Index, view, collection create/change/rename markers: the
			// master owns structure. Snapshot begin/end, heartbeats and
			// control messages carry nothing to write.
		}
	}
	return nil, nil
}

// flush applies the units at the head of the queue that are ready: plain
// writes, and committed transactions. It stops at an open transaction.
func (a *Applier) flush(ctx context.Context) error {
	if len(a.units) == 0 || (a.units[0].tid != "" && !a.units[0].done) {
		return nil
	}
	coll, err := a.res.Collection(ctx, a.shard)
	if err != nil {
		if errors.Is(err, ErrUnknownShard) {
			return a.missing("", err)
		}
		return err
	}
	w := writer{do: a.do, cfg: &a.cfg, db: a.shard.Database, coll: coll}
	for len(a.units) > 0 {
		n := a.ready()
		if n == 0 {
			break
		}
		err = a.applyUnits(ctx, &w, a.units[:n])
		if err != nil {
			var sm *structureMissing
			if errors.As(err, &sm) {
				return a.missing(sm.coll, sm.err)
			}
			return err
		}
		a.units = a.units[n:]
	}
	if len(a.units) == 0 {
		a.units = nil
	}
	a.missingSince = time.Time{}
	return nil
}

// ready returns how many units at the head of the queue are applied together:
// 0 when the head is an open transaction; otherwise the run of ready units
// (plain writes and committed transactions) up to the next open transaction,
// bounded by Config.MaxMergeBytes (a larger unit goes alone). A run also ends
// before a unit that removes a key an earlier unit of the run writes: in a
// collection sharded by other attributes than _key, a removal by key inside
// a stream transaction must find the shard of a document that transaction
// wrote, which arangosim (and possibly a Coordinator) looks up in the
// committed data only, so it would answer "not found" and the document
// would stay.
func (a *Applier) ready() int {
	n := 0
	var size int64
	var written map[string]struct{}
	for n < len(a.units) {
		u := &a.units[n]
		if u.tid != "" && !u.done {
			break
		}
		b := u.bytes()
		if n > 0 && size+b > a.cfg.MaxMergeBytes {
			break
		}
		if n > 0 && removesWritten(u.ops, written) {
			break
		}
		if n+1 < len(a.units) {
			if written == nil {
				written = make(map[string]struct{})
			}
			for _, o := range u.ops {
				if !o.remove {
					written[opKey(o)] = struct{}{}
				}
			}
		}
		size += b
		n++
	}
	return n
}

// removesWritten reports whether ops remove a key in written.
func removesWritten(ops []op, written map[string]struct{}) bool {
	for _, o := range ops {
		if o.remove {
			if _, ok := written[o.key]; ok {
				return true
			}
		}
	}
	return false
}

// applyUnits applies a run of ready units. Plain writes alone go without a
// transaction. A run that holds a committed transaction is applied as ONE
// stream transaction on B: every transaction of the run stays all or
// nothing (the run is), and the writes keep their stream order, so B
// passes from the state before the run to the state after it, as it does
// for a batch of plain writes; what changes is the number of requests:
// begin, the writes and commit once per run instead of once per
// transaction (a WAL of small multi-document transactions cost three
// requests per transaction and shard). If B refuses the merged
// transaction for its size, its units are applied one by one.
func (a *Applier) applyUnits(ctx context.Context, w *writer, units []unit) error {
	txns, ops := 0, 0
	for i := range units {
		if units[i].tid != "" {
			txns++
		}
		ops += len(units[i].ops)
	}
	if ops == 0 {
		return nil // transactions without writes to this shard
	}
	if txns == 0 {
		var all []op
		if len(units) == 1 {
			all = units[0].ops
		} else {
			all = make([]op, 0, ops)
			for i := range units {
				all = append(all, units[i].ops...)
			}
		}
		return w.apply(ctx, "", all)
	}
	all := units[0].ops
	if len(units) > 1 {
		all = make([]op, 0, ops)
		for i := range units {
			all = append(all, units[i].ops...)
		}
	}
	err := w.transaction(ctx, all)
	if err == nil {
		for range txns {
			a.cfg.Metrics.transaction("committed")
		}
		return nil
	}
	if ErrorNum(err) == numResourceLimit && len(units) > 1 {
		// Too large merged: one transaction at a time.
		for i := range units {
			if err := a.applyUnits(ctx, w, units[i:i+1]); err != nil {
				return err
			}
		}
		return nil
	}
	a.cfg.Metrics.transaction("failed")
	if ErrorNum(err) == numResourceLimit {
		a.units = nil
		a.cfg.Metrics.resync(ReasonTxnTooLarge)
		return resyncErr(a.shard, ReasonTxnTooLarge, "cluster B refused transaction %s of %d writes for its size (raise --transaction.streaming-max-transaction-size on B or lower MaxTxnBytes): %v", units[0].tid, len(units[0].ops), err)
	}
	return err
}

// missing builds the StructureMissingError: retryable until StructureWait
// has passed since it was first seen, then permanent.
func (a *Applier) missing(coll string, cause error) error {
	now := a.cfg.Now()
	if a.missingSince.IsZero() {
		a.missingSince = now
	}
	e := &StructureMissingError{Database: a.shard.Database, Collection: coll, Shard: a.shard, Since: a.missingSince, Cause: cause}
	if now.Sub(a.missingSince) >= a.cfg.StructureWait {
		return failure.WithCode(failure.CodeApplyRejected, failure.Permanent(e))
	}
	return failure.WithCode(failure.CodeApplyRejected, failure.Retryable(e))
}
