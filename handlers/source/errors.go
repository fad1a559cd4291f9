package source

import (
	"errors"
	"fmt"
)

// ErrNewEpoch marks a *NewEpochError.
var ErrNewEpoch = errors.New("the shard stream needs a new epoch")

// ErrShardDropped: the shard's collection was dropped; the stream ended
// after the records before the drop marker.
var ErrShardDropped = errors.New("the shard's collection was dropped")

// Reasons for a new epoch.
const (
	ReasonFailover       = "leader-changed" // the shard's leader is another server now
	ReasonPruned         = "wal-pruned"     // the leader's WAL no longer reaches the position
	ReasonSnapshotFailed = "snapshot-failed"
	ReasonInvalidWAL     = "invalid-wal" // the WAL broke the transaction framing (a commit never came)
)

// NewEpochError ends an epoch: the task must start a new epoch with a
// snapshot on Leader.
type NewEpochError struct {
	Reason    string
	OldLeader string
	Leader    string // the leader the new epoch must read from
	Cause     error
}

func (e *NewEpochError) Error() string {
	s := fmt.Sprintf("new epoch needed (%s): leader %s", e.Reason, e.Leader)
	if e.OldLeader != e.Leader {
		s = fmt.Sprintf("new epoch needed (%s): leader %s → %s", e.Reason, e.OldLeader, e.Leader)
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *NewEpochError) Unwrap() error { return e.Cause }

// Is matches ErrNewEpoch.
func (e *NewEpochError) Is(target error) bool { return target == ErrNewEpoch }
