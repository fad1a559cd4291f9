package source

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/arango/wal"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// group is a run of records that must be emitted in one call (one record, a
// whole transaction, or a chunk of a large one) and the tick to resume from
// once it is acknowledged.
type group struct {
	recs   []events.Record
	bytes  int
	resume uint64
}

// txnAssembler holds back the records of an open transaction (see the
// package doc, "Ordering and transactions").
type txnAssembler struct {
	maxRecs, maxBytes int

	open      bool
	tid       string
	startTick uint64
	lastTick  uint64 // tick of the latest record of the open transaction
	broken    bool   // a record of another transaction arrived while one was open
	flushed   bool   // part of the open transaction was emitted already
	buf       []events.Record
	bufBytes  int
	dropped   int // empty or foreign transactions dropped (stats)
}

// add takes one record in WAL order and appends the groups that are ready.
func (a *txnAssembler) add(r events.Record, out []group) []group {
	switch e := r.Event.(type) {
	case *events.TransactionStart:
		if a.open {
			// A start without a commit of the previous one: hand the
			// previous one on as it is rather than lose it.
			out = a.flushAll(out)
		}
		a.open, a.tid, a.startTick, a.lastTick, a.flushed = true, e.TID, r.Tick, r.Tick, false
		a.buf, a.bufBytes = append(a.buf[:0:0], r), recordSize(r)
		return out
	case *events.TransactionCommit:
		if !a.open || e.TID != a.tid {
			a.dropped++ // a commit whose start this stream did not see
			return out
		}
		if !a.flushed && len(a.buf) == 1 {
			a.reset() // no record of this shard in it
			a.dropped++
			return out
		}
		a.buf = append(a.buf, r)
		out = append(out, group{recs: a.buf, bytes: a.bufBytes + recordSize(r), resume: r.Tick})
		a.reset()
		return out
	case *events.TransactionAbort:
		if !a.open || e.TID != a.tid {
			a.dropped++
			return out
		}
		if !a.flushed {
			a.reset() // nothing of it was emitted: drop it whole
			a.dropped++
			return out
		}
		a.buf = append(a.buf, r)
		out = append(out, group{recs: a.buf, bytes: a.bufBytes + recordSize(r), resume: r.Tick})
		a.reset()
		return out
	}
	if !a.open {
		return append(out, group{recs: []events.Record{r}, bytes: recordSize(r), resume: r.Tick})
	}
	if tid, ok := recordTID(r); ok && tid != a.tid {
		// The open transaction's write batch ended without its commit.
		a.broken = true
		return out
	}
	a.lastTick = r.Tick
	a.buf = append(a.buf, r)
	a.bufBytes += recordSize(r)
	if len(a.buf) >= a.maxRecs || a.bufBytes >= a.maxBytes {
		out = append(out, group{recs: a.buf, bytes: a.bufBytes, resume: a.startTick - 1})
		a.buf, a.bufBytes, a.flushed = nil, 0, true
	}
	return out
}

func (a *txnAssembler) flushAll(out []group) []group {
	if len(a.buf) > 0 {
		out = append(out, group{recs: a.buf, bytes: a.bufBytes, resume: a.startTick - 1})
	}
	a.reset()
	return out
}

func (a *txnAssembler) reset() {
	a.open, a.tid, a.startTick, a.lastTick, a.flushed, a.buf, a.bufBytes = false, "", 0, 0, false, nil, 0
}

// recordTID returns the transaction id of a document or remove record.
func recordTID(r events.Record) (string, bool) {
	switch e := r.Event.(type) {
	case *events.Document:
		return e.TID, true
	case *events.Remove:
		return e.TID, true
	}
	return "", false
}

// missingCommit reports an open transaction whose write batch the server has
// scanned completely (lastScanned past its last record, in an answer the
// tailer did not cut short) or that a record of another transaction
// followed: its commit marker will never come.
func (a *txnAssembler) missingCommit(lastScanned uint64, truncated bool) bool {
	return a.broken || (a.open && !truncated && lastScanned > a.lastTick)
}

// resumeTick is the tick to resume from given the tailer's position: before
// the open transaction, if any.
func (a *txnAssembler) resumeTick(from uint64) uint64 {
	if a.open {
		return a.startTick - 1
	}
	return from
}

// tail runs the WAL loop from pos until the context ends or the epoch ends.
func (s *Source) tail(ctx context.Context, pos Position) error {
	conn, err := s.conn(ctx)
	if err != nil {
		return err
	}
	tl := &wal.Tailer{
		DBServer: conn, Database: s.shard.Ref.Database, Shard: s.shard.Name,
		From: pos.Tick, LastScanned: pos.LastScanned,
		ChunkSize: s.cfg.ChunkSize, MaxRecords: s.cfg.MaxTailRecords,
		SyncerID: s.cfg.SyncerID, ServerID: s.cfg.ServerID, ClientInfo: s.cfg.ClientInfo,
		IncludeSystem: s.isSystem(),
	}
	asm := &txnAssembler{maxRecs: s.cfg.MaxTxnRecords, maxBytes: s.cfg.MaxTxnBytes}
	failures := 0
	var groups []group
	for {
		if l, ok := s.leaderChanged(); ok {
			return s.newEpoch(ReasonFailover, l, nil)
		}
		began := time.Now()
		recs, st, err := tl.Next(ctx)
		if err == nil && s.cfg.OnTail != nil {
			s.cfg.OnTail(TailStats{Shard: s.shard.Ref, Leader: s.leader, Records: len(recs), From: tl.From,
				LastTick: st.LastTick, Duration: time.Since(began)})
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, wal.ErrStartTickNotPresent) {
				l, _ := s.leaderChanged()
				return s.newEpoch(ReasonPruned, l, err)
			}
			if client.IsErrorNum(err, client.ErrNumDataSourceNotFound) {
				// The shard is not (or no longer) on this server: a moved
				// leader, or a dropped collection whose drop marker we
				// could not see. Ask the shard map.
				if l, ok := s.leaderChanged(); ok {
					return s.newEpoch(ReasonFailover, l, err)
				}
				if s.leaders != nil {
					if _, ok := s.leaders.ShardLeader(s.shard.Ref.Database, s.shard.Name); !ok {
						return err // permanent, CodeSourceShardMissing
					}
				}
				err = failure.Retryable(err) // the shard map may not show the move yet
			}
			if !failure.IsRetryable(err) {
				return err
			}
			failures++
			if werr := s.retryWait(ctx, failures, err); werr != nil {
				return werr
			}
			if client.IsUnreachable(err) {
				// The server may be back at another endpoint (the client
				// learns endpoints from the cluster's health).
				if tl.DBServer, err = s.conn(ctx); err != nil {
					return err
				}
			}
			continue
		}
		failures = 0
		s.cfg.Logger.Debug("source: tail", "shard", s.shard.Ref.String(), "records", len(recs), "status", st.Status,
			"from", tl.From, "lastScanned", tl.LastScanned, "lastIncluded", st.LastIncluded, "lastTick", st.LastTick,
			"checkMore", st.CheckMore, "truncated", st.Truncated)
		dropped := false
		groups = groups[:0]
		for _, r := range recs {
			groups = asm.add(r, groups)
			if asm.broken {
				break
			}
			if _, ok := r.Event.(*events.CollectionDrop); ok {
				dropped = true
				break
			}
		}
		if asm.missingCommit(tl.LastScanned, st.Truncated) {
			// The WAL breaks the 2200 … 2201 framing. Emit what came before
			// the transaction and resynchronise rather than guess.
			resume := asm.startTick - 1
			if err := s.emitGroups(ctx, groups, pos, resume, resume); err != nil {
				return err
			}
			cause := fmt.Errorf("%w: shard %s: transaction %s (start tick %d, last record %d) has no commit marker, but the server scanned up to tick %d",
				wal.ErrInvalidResponse, s.shard.Ref, asm.tid, asm.startTick, asm.lastTick, tl.LastScanned)
			s.cfg.Logger.Warn("source: WAL transaction without commit; starting a new epoch", "shard", s.shard.Ref.String(), "error", cause)
			return s.newEpoch(ReasonInvalidWAL, "", cause)
		}
		resume := asm.resumeTick(tl.From)
		lastScanned := tl.LastScanned
		if asm.open {
			lastScanned = resume
		}
		if dropped {
			groups = asm.flushAll(groups)
			resume, lastScanned = groups[len(groups)-1].resume, groups[len(groups)-1].resume
		}
		if err := s.emitGroups(ctx, groups, pos, resume, lastScanned); err != nil {
			return err
		}
		if dropped {
			return failure.WithCode(failure.CodeSourceShardMissing, ErrShardDropped)
		}
		if st.CheckMore {
			continue
		}
		t := time.NewTimer(s.cfg.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// emitGroups packs groups into Emit calls bounded by MaxRecords/MaxBytes
// (a group is never split; a larger one goes alone). Every call but the
// last resumes after its last group; the last one at resume/lastScanned.
func (s *Source) emitGroups(ctx context.Context, groups []group, pos Position, resume, lastScanned uint64) error {
	var batch []events.Record
	size := 0
	var last uint64
	flush := func(final bool) error {
		if len(batch) == 0 {
			return nil
		}
		p := pos
		p.Phase = PhaseTailing
		if final {
			p.Tick, p.LastScanned = resume, lastScanned
		} else {
			p.Tick, p.LastScanned = last, last
		}
		err := s.emit(ctx, batch, p)
		batch, size = nil, 0
		return err
	}
	for _, g := range groups {
		if len(batch) > 0 && (len(batch)+len(g.recs) > s.cfg.MaxRecords || size+g.bytes > s.cfg.MaxBytes) {
			if err := flush(false); err != nil {
				return err
			}
		}
		batch = append(batch, g.recs...)
		size += g.bytes
		last = g.resume
	}
	return flush(true)
}
