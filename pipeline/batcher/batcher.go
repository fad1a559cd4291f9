package batcher

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dc2dc/dc2dc/events"
)

// MetaOpenTransactions is the header Out.Metadata adds to a batch that ends
// inside one or more transactions: their TIDs, comma separated.
const MetaOpenTransactions = "dc2dc-open-tx"

var (
	// ErrClosed: Add after Close, or after Run returned.
	ErrClosed = errors.New("batcher closed")
	// ErrTickOrder: a record's tick is below an earlier record's.
	ErrTickOrder = errors.New("record ticks go backwards")
)

// Out is one batch handed to Emit.
type Out struct {
	Batch *events.Batch
	// OpenTransactions lists the TIDs of transactions that started but
	// did not end by this batch's last record (split by MaxBytes), in
	// start order. Empty for almost every batch.
	OpenTransactions []string
}

// Metadata returns the Kafka headers: the batch's, plus
// MetaOpenTransactions when a transaction continues in the next batch.
func (o Out) Metadata() map[string]string {
	md := o.Batch.Metadata()
	if len(o.OpenTransactions) > 0 {
		md[MetaOpenTransactions] = strings.Join(o.OpenTransactions, ",")
	}
	return md
}

// Emit receives the batches, in order, one at a time. An error stops Run.
type Emit func(ctx context.Context, out Out) error

type item struct {
	rec   events.Record
	size  int
	units int // bytes taken from the budget
}

// Batcher batches one shard stream. Add and Close are for the producer; Run
// is the loop (see the package doc).
type Batcher struct {
	cfg    Config
	stream Stream
	emit   Emit
	header int

	in      chan item
	closing chan struct{}
	done    chan struct{}

	// sendMu orders Add against Close: Add holds it shared while it
	// queues, Close exclusively while it marks the batcher closed, so
	// every record an Add accepted is queued before Run drains.
	sendMu sync.RWMutex

	mu       sync.Mutex
	closed   bool
	ran      bool
	used     int           // bytes taken from the budget
	freed    chan struct{} // closed and replaced whenever bytes are returned
	lastTick uint64        // producer side: tick order check
}

// New returns a batcher; start it with Run.
func New(cfg Config, stream Stream, emit Emit) (*Batcher, error) {
	cfg.EnsureDefaults()
	err := errors.Join(cfg.Validate(), stream.Validate())
	if emit == nil {
		err = errors.Join(err, errors.New("batcher: Emit is nil"))
	}
	if err != nil {
		return nil, err
	}
	if stream.Start.IsZero() {
		stream.Start = events.Position{Epoch: stream.Epoch}
	}
	return &Batcher{
		cfg: cfg, stream: stream, emit: emit, header: headerSize(stream),
		in:       make(chan item, cfg.QueueRecords),
		closing:  make(chan struct{}),
		done:     make(chan struct{}),
		freed:    make(chan struct{}),
		lastTick: stream.Start.Tick,
	}, nil
}

// Add queues a record. It blocks while the batcher holds QueueRecords
// records or QueueBytes bytes, until ctx ends (ctx.Err()) or the batcher is
// closed or has stopped (ErrClosed). Records must come in tick order (Tick 0
// records excepted); Add is meant for one producer goroutine.
func (b *Batcher) Add(ctx context.Context, r events.Record) error {
	if r.Event == nil {
		return errors.New("batcher: record without an event")
	}
	size := Size(r)
	units := min(size, b.cfg.MaxBytes)
	b.sendMu.RLock()
	defer b.sendMu.RUnlock()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	if r.Tick != 0 && r.Tick < b.lastTick {
		last := b.lastTick
		b.mu.Unlock()
		return fmt.Errorf("batcher %s: %w: tick %d after %d", b.stream.Shard, ErrTickOrder, r.Tick, last)
	}
	b.mu.Unlock()
	if err := b.acquire(ctx, units); err != nil {
		return err
	}
	select {
	case <-b.done: // Run stopped: do not queue into a channel nobody reads
		b.release(units)
		return ErrClosed
	default:
	}
	select {
	case b.in <- item{rec: r, size: size, units: units}:
	case <-ctx.Done():
		b.release(units)
		return ctx.Err()
	case <-b.done:
		b.release(units)
		return ErrClosed
	}
	if r.Tick != 0 {
		b.mu.Lock()
		b.lastTick = max(b.lastTick, r.Tick)
		b.mu.Unlock()
	}
	return nil
}

func (b *Batcher) acquire(ctx context.Context, units int) error {
	for {
		b.mu.Lock()
		if b.used+units <= b.cfg.QueueBytes {
			b.used += units
			b.mu.Unlock()
			return nil
		}
		freed := b.freed
		b.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return ctx.Err()
		case <-b.done:
			return ErrClosed
		}
	}
}

func (b *Batcher) release(units int) {
	if units == 0 {
		return
	}
	b.mu.Lock()
	b.used -= units
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
}

// Close says no more records will come: Run emits what is buffered and
// returns nil. Idempotent.
func (b *Batcher) Close() {
	b.sendMu.Lock()
	defer b.sendMu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.closing)
	}
}

// building is the batch being filled.
type building struct {
	recs    []events.Record
	bytes   int // estimated encoded size, header included
	units   int
	open    []string // TIDs of open transactions, in start order
	endSnap bool     // holds a SnapshotEnd
	snapEnd uint64
	lingerd bool // Linger elapsed while a transaction was open
}

// Run batches until Close (returns nil after the last Emit), ctx ends
// (ctx.Err()) or Emit fails (its error). It may be called once.
func (b *Batcher) Run(ctx context.Context) error {
	b.mu.Lock()
	if b.ran {
		b.mu.Unlock()
		return errors.New("batcher: Run called twice")
	}
	b.ran = true
	b.mu.Unlock()
	defer close(b.done)

	prev := b.stream.Start
	cur := &building{bytes: b.header}
	var open []string // transactions open across batches
	var timer *time.Timer
	var lingerC <-chan time.Time
	stopTimer := func() {
		if timer != nil {
			timer.Stop()
			timer, lingerC = nil, nil
		}
	}
	defer stopTimer()

	flush := func() error {
		stopTimer()
		if len(cur.recs) == 0 {
			return nil
		}
		out := b.build(cur, prev)
		units := cur.units
		open = cur.open
		if err := b.emit(ctx, out); err != nil {
			return err
		}
		b.release(units)
		prev = out.Batch.Pos
		cur = &building{bytes: b.header, open: slices.Clone(open)}
		return nil
	}

	add := func(it item) error {
		// A Kafka message cannot exceed MaxBytes: cut before it would,
		// even inside a transaction.
		if len(cur.recs) > 0 && cur.bytes+it.size > b.cfg.MaxBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		if len(cur.recs) == 0 && b.cfg.Linger > 0 {
			timer = time.NewTimer(b.cfg.Linger)
			lingerC = timer.C
		}
		cur.recs = append(cur.recs, it.rec)
		cur.bytes += it.size
		cur.units += it.units
		switch e := it.rec.Event.(type) {
		case *events.TransactionStart:
			cur.open = append(cur.open, e.TID)
		case *events.TransactionCommit:
			cur.open = slices.DeleteFunc(cur.open, func(t string) bool { return t == e.TID })
		case *events.TransactionAbort:
			cur.open = slices.DeleteFunc(cur.open, func(t string) bool { return t == e.TID })
		case *events.SnapshotEnd:
			cur.endSnap = true
			cur.snapEnd = max(cur.snapEnd, e.SnapshotTick)
		}
		inTx := len(cur.open) > 0
		switch {
		case cur.bytes >= b.cfg.MaxBytes:
			return flush()
		case inTx:
			return nil
		case cur.endSnap, len(cur.recs) >= b.cfg.MaxRecords, cur.lingerd, b.cfg.Linger == 0:
			return flush()
		}
		return nil
	}

	for {
		if len(cur.recs) == 0 {
			// Block for the first record.
			select {
			case it := <-b.in:
				if err := add(it); err != nil {
					return err
				}
			case <-b.closing:
				return b.drain(add, flush)
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		select {
		case it := <-b.in:
			if err := add(it); err != nil {
				return err
			}
		case <-lingerC:
			timer, lingerC = nil, nil
			if len(cur.open) > 0 {
				cur.lingerd = true // cut as soon as the transactions end
				continue
			}
			if err := flush(); err != nil {
				return err
			}
		case <-b.closing:
			return b.drain(add, flush)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// drain takes what was queued before Close and flushes it.
func (b *Batcher) drain(add func(item) error, flush func() error) error {
	for {
		select {
		case it := <-b.in:
			if err := add(it); err != nil {
				return err
			}
		default:
			return flush()
		}
	}
}

// build turns the filled records into a batch positioned after prev.
func (b *Batcher) build(cur *building, prev events.Position) Out {
	recs := cur.recs
	var first, last uint64
	for _, r := range recs {
		if r.Tick != 0 {
			if first == 0 {
				first = r.Tick
			}
			last = r.Tick
		}
	}
	tick := max(last, cur.snapEnd)
	pos := events.Position{Epoch: b.stream.Epoch, Tick: tick}
	if tick <= prev.Tick {
		// Snapshot chunks and heartbeat-only batches do not move the tick.
		pos.Tick, pos.Sub = prev.Tick, prev.Sub+1
	}
	s := b.stream
	batch := &events.Batch{
		Sync: s.Sync, Shard: s.Shard, Collection: s.Collection, Leader: s.Leader,
		Pos: pos, Prev: prev, FirstTick: first, SentAt: b.cfg.Now().UTC(),
		Records: recs,
	}
	return Out{Batch: batch, OpenTransactions: slices.Clone(cur.open)}
}
