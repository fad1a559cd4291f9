package target

import (
	"errors"
	"fmt"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// ResyncError says the shard cannot continue from its applied position: the
// receive task must ask the sender for a resync of the shard (a new epoch,
// ARCHITECTURE §6.4). It is permanent (retrying the batch cannot help) and
// carries CodeStreamGap when the cause is a gap.
type ResyncError struct {
	Shard  events.ShardRef
	Reason string // one of the Reason* constants
	Detail string
	Cause  error // e.g. the *GapError
}

// Unwrap returns the cause.
func (e *ResyncError) Unwrap() error { return e.Cause }

func (e *ResyncError) Error() string {
	return fmt.Sprintf("shard %s needs a resync (%s): %s", e.Shard, e.Reason, e.Detail)
}

// Resync reasons.
const (
	ReasonTruncate      = "truncate"
	ReasonGap           = "gap"
	ReasonTxnTooLarge   = "transaction-too-large"
	ReasonEpochSkipped  = "epoch-without-snapshot"
	ReasonTxnUnfinished = "transaction-unfinished"
)

func resyncErr(shard events.ShardRef, reason, format string, args ...any) error {
	code := failure.CodeApplyRejected
	if reason == ReasonGap {
		code = failure.CodeStreamGap
	}
	return failure.WithCode(code, failure.Permanent(&ResyncError{Shard: shard, Reason: reason, Detail: fmt.Sprintf(format, args...)}))
}

// GapError is the ResyncError of a batch that does not continue the applied
// position (applied < Prev): something between was never applied.
type GapError struct {
	Shard   events.ShardRef
	Applied events.Position
	Prev    events.Position
	Pos     events.Position
}

func (e *GapError) Error() string {
	return fmt.Sprintf("shard %s: batch %s follows %s but only %s is applied: a gap", e.Shard, e.Pos, e.Prev, e.Applied)
}

// StreamEndError says the shard's stream ended: its collection (or database)
// was dropped in A. Records before the drop marker were applied. The receive
// task releases the shard; the master drops the collection in B.
type StreamEndError struct {
	Shard  events.ShardRef
	Marker events.Kind
}

func (e *StreamEndError) Error() string {
	return fmt.Sprintf("shard %s: stream ended by %s", e.Shard, e.Marker)
}

// ErrStreamEnded matches a *StreamEndError with errors.Is.
var ErrStreamEnded = errors.New("stream ended")

// Is matches ErrStreamEnded.
func (e *StreamEndError) Is(target error) bool { return target == ErrStreamEnded }

// StructureMissingError says the collection or database to write into does
// not exist in B (yet): the master creates structure before data, so this is
// retryable until Config.StructureWait has passed since it was first seen,
// then permanent.
type StructureMissingError struct {
	Database   string
	Collection string // "" when the database is missing or the shard is unmapped
	Shard      events.ShardRef
	Since      time.Time
	Cause      error
}

func (e *StructureMissingError) Error() string {
	what := fmt.Sprintf("collection %q in database %q", e.Collection, e.Database)
	if e.Collection == "" {
		what = fmt.Sprintf("database %q (or the mapping of shard %s)", e.Database, e.Shard)
	}
	return fmt.Sprintf("%s does not exist in cluster B (missing since %s): the sync master creates it before data arrives; check the master's log and `dc2dc get status`: %v",
		what, e.Since.UTC().Format(time.RFC3339), e.Cause)
}

// Unwrap returns the cause.
func (e *StructureMissingError) Unwrap() error { return e.Cause }

// ErrUnknownShard is what a Resolver returns (wrapped) when it does not know
// the shard's collection in B yet; the applier treats it as missing structure.
var ErrUnknownShard = errors.New("shard not mapped to a collection in cluster B")

// ErrStale is matched (errors.Is) by a *StaleError.
var ErrStale = errors.New("stale applied position")

// StaleError says a Positions.Save lost: the record in B already holds a
// position at or after the one being written (another worker moved on), or
// the compare-and-set kept failing.
type StaleError struct {
	Key     string
	Stored  events.Position
	Attempt events.Position
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("applied position %s: B's _dc2dc holds %s, not writing %s: another worker owns this shard now", e.Key, e.Stored, e.Attempt)
}

// Is matches ErrStale.
func (e *StaleError) Is(target error) bool { return target == ErrStale }
