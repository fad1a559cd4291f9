package store

import (
	"errors"
	"fmt"

	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// Sentinels, to be checked with errors.Is. Each error the store returns wraps
// at most one of them.
var (
	// ErrNotFound: no record under that key.
	ErrNotFound = errors.New("store: no such checkpoint")
	// ErrRegression: a write would move a position backwards; returned as a
	// *RegressionError. Permanent: retrying the same write cannot succeed.
	ErrRegression = errors.New("store: checkpoint would move backwards")
	// ErrLocked: another process (or another Store in this process) has the
	// directory open; returned as a *LockedError.
	ErrLocked = errors.New("store: checkpoint store in use")
	// ErrCorrupt: Pebble reports on-disk corruption of the store.
	ErrCorrupt = errors.New("store: checkpoint store corrupt")
	// ErrCorruptRecord: a stored key or value cannot be decoded; returned as a
	// *DecodeError.
	ErrCorruptRecord = errors.New("store: undecodable checkpoint record")
	// ErrNotExist: Config.MustExist or ReadOnly is set and there is no store
	// in the directory.
	ErrNotExist = errors.New("store: no checkpoint store in the directory")
	// ErrIncompatible: the store was written by a newer format of dc2dc.
	ErrIncompatible = errors.New("store: checkpoint store format not supported")
	// ErrInvalidRecord: a record to write has an empty or malformed id, or an
	// oversized field. Permanent.
	ErrInvalidRecord = errors.New("store: invalid checkpoint record")
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrReadOnly: a write on a store opened with Config.ReadOnly.
	ErrReadOnly = errors.New("store: opened read-only")
)

// RegressionError describes a refused backwards write: Have is the stored
// record, Want the refused one. Use Store.Reset to move a position backwards
// on purpose.
type RegressionError struct {
	Have, Want Record
}

func (e *RegressionError) Error() string {
	sync, shard := e.Want.ID()
	h, w := e.Have.Order(), e.Want.Order()
	return fmt.Sprintf("store: refusing to move the %s checkpoint of %s/%s backwards from epoch %d tick %d sub %d to epoch %d tick %d sub %d (use Reset to do it on purpose)",
		e.Want.Kind(), sync, shard, h.Epoch, h.Tick, h.Sub, w.Epoch, w.Tick, w.Sub)
}

// Is makes errors.Is(err, ErrRegression) true.
func (e *RegressionError) Is(target error) bool { return target == ErrRegression }

// LockedError reports that the store's directory is held by another process
// (PID > 0 when it could be found) or by another Store of this process.
type LockedError struct {
	Dir  string
	PID  int  // 0 when unknown
	Self bool // held by this very process
	Err  error
}

func (e *LockedError) Error() string {
	who := "another dc2dc process"
	switch {
	case e.Self:
		who = "another Store of this process"
	case e.PID > 0:
		who = fmt.Sprintf("another dc2dc process (pid %d)", e.PID)
	}
	return fmt.Sprintf("the checkpoint store %s is in use by %s: Pebble lets one process open a store at a time, even to read it; stop that process, or read the checkpoints through its admin API", e.Dir, who)
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Unwrap returns the underlying lock error, if any.
func (e *LockedError) Unwrap() error { return e.Err }

// DecodeError reports an undecodable stored record.
type DecodeError struct {
	Key    []byte
	Reason string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("store: cannot decode checkpoint record %q: %s", e.Key, e.Reason)
}

// Is makes errors.Is(err, ErrCorruptRecord) true.
func (e *DecodeError) Is(target error) bool { return target == ErrCorruptRecord }

// Classification for package pipeline/failure: every error of the store is
// permanent for the operation that got it (a retry of the same call cannot
// help), and those an operator must act on carry a DC2DC-E4xxx code.

// ioError marks a read or write failure of Pebble (disk full, permissions).
func ioError(err error) error { return failure.WithCode(failure.CodeCheckpointIO, err) }

// FailureClass implements failure.Classifier.
func (e *RegressionError) FailureClass() failure.Class { return failure.ClassPermanent }

// FailureClass implements failure.Classifier.
func (e *LockedError) FailureClass() failure.Class { return failure.ClassPermanent }

// FailureCode implements failure.Coder.
func (e *LockedError) FailureCode() failure.Code { return failure.CodeCheckpointLocked }

// FailureClass implements failure.Classifier.
func (e *DecodeError) FailureClass() failure.Class { return failure.ClassPermanent }

// FailureCode implements failure.Coder.
func (e *DecodeError) FailureCode() failure.Code { return failure.CodeCheckpointCorrupt }
