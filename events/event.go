package events

import (
	"encoding/json"
	"time"
)

// Event is one typed event. The concrete types are the pointers below.
type Event interface {
	Kind() Kind
}

// Record is an event with the source tick it was read at (0 for events that
// have no WAL tick, such as snapshot chunks and heartbeats).
type Record struct {
	Tick  uint64
	Event Event
}

// DatabaseCreate is WAL marker 1100.
type DatabaseCreate struct {
	Database string
	Data     json.RawMessage // the database definition as the source stored it
}

// DatabaseDrop is WAL marker 1101.
type DatabaseDrop struct{ Database string }

// CollectionCreate is WAL marker 2000.
type CollectionCreate struct {
	Database string
	CUID     string          // globallyUniqueId (c<planId>/<shard> on a DBserver)
	Data     json.RawMessage // full collection definition
}

// CollectionDrop is WAL marker 2001.
type CollectionDrop struct{ Database, CUID string }

// CollectionRename is WAL marker 2002.
type CollectionRename struct{ Database, CUID, NewName string }

// CollectionChange is WAL marker 2003 (properties changed).
type CollectionChange struct {
	Database, CUID string
	Data           json.RawMessage
}

// CollectionTruncate is WAL marker 2004.
type CollectionTruncate struct{ Database, CUID string }

// IndexCreate is WAL marker 2100.
type IndexCreate struct {
	Database, CUID string
	Data           json.RawMessage // index definition (id, type, fields, unique, sparse, ...)
}

// IndexDrop is WAL marker 2101.
type IndexDrop struct{ Database, CUID, IndexID string }

// ViewCreate is WAL marker 2110.
type ViewCreate struct {
	Database, CUID string // CUID is the view's globallyUniqueId
	Data           json.RawMessage
}

// ViewDrop is WAL marker 2111.
type ViewDrop struct{ Database, CUID string }

// ViewChange is WAL marker 2112 (also covers a rename).
type ViewChange struct {
	Database, CUID string
	Data           json.RawMessage
}

// TransactionStart is WAL marker 2200.
type TransactionStart struct{ Database, TID string }

// TransactionCommit is WAL marker 2201.
type TransactionCommit struct{ Database, TID string }

// TransactionAbort is WAL marker 2202.
type TransactionAbort struct{ Database, TID string }

// Document is WAL marker 2300: an insert, replace or update, always with the
// full new document (never a delta). Key and Rev are copied out of Doc by the
// producer so consumers need not parse the document.
type Document struct {
	TID string // "0" or "" outside a multi-document transaction
	Key string
	Rev string
	Doc json.RawMessage
}

// Remove is WAL marker 2302. Rev is the revision of the removed document.
type Remove struct {
	TID string
	Key string
	Rev string
}

// Snapshot modes.
const (
	SnapshotFull      = "full"      // every document of the shard follows
	SnapshotRevisions = "revisions" // only documents that differ from the target follow
)

// SnapshotBegin opens the snapshot that starts every epoch.
type SnapshotBegin struct {
	SnapshotTick uint64 // the leader's tick the snapshot is consistent at
	Leader       string // DBserver id the snapshot was read from
	Mode         string // SnapshotFull or SnapshotRevisions
	Documents    int64  // number of documents in the source shard at the snapshot (for progress)
}

// SnapshotDocuments is a chunk of documents of the snapshot, each verbatim.
type SnapshotDocuments struct {
	Docs []json.RawMessage
}

// KeyRev names one document revision.
type KeyRev struct {
	Key string `json:"key"`
	Rev string `json:"rev,omitempty"`
}

// SnapshotRemove lists documents the target holds that the source snapshot
// does not (found by a revision-tree comparison); the target removes them.
type SnapshotRemove struct {
	Keys []KeyRev
}

// SnapshotEnd closes the snapshot; tailing continues after SnapshotTick.
type SnapshotEnd struct {
	SnapshotTick uint64
	Documents    int64 // documents sent in the snapshot
}

// Heartbeat tells the other side the sender is alive and how far the source is.
type Heartbeat struct {
	SourceTime time.Time // the sender's clock when it sent this heartbeat
	LeaderTick uint64    // the leader's latest WAL tick (for lag in ticks)
	Phase      string    // the task phase, e.g. "initial-sync" or "tailing"
}

// Control is a control-plane message between the sync masters of the two
// datacenters. LeaderEpoch fences it: a receiver ignores a message whose epoch
// is lower than the highest it has seen from that datacenter.
type Control struct {
	Type        string          // e.g. "inventory-request", "inventory", "task-plan"
	LeaderEpoch uint64          // epoch of the sending master's leadership
	From        string          // sending datacenter / master id
	Payload     json.RawMessage // type-specific body
}

func (*DatabaseCreate) Kind() Kind     { return KindDatabaseCreate }
func (*DatabaseDrop) Kind() Kind       { return KindDatabaseDrop }
func (*CollectionCreate) Kind() Kind   { return KindCollectionCreate }
func (*CollectionDrop) Kind() Kind     { return KindCollectionDrop }
func (*CollectionRename) Kind() Kind   { return KindCollectionRename }
func (*CollectionChange) Kind() Kind   { return KindCollectionChange }
func (*CollectionTruncate) Kind() Kind { return KindCollectionTruncate }
func (*IndexCreate) Kind() Kind        { return KindIndexCreate }
func (*IndexDrop) Kind() Kind          { return KindIndexDrop }
func (*ViewCreate) Kind() Kind         { return KindViewCreate }
func (*ViewDrop) Kind() Kind           { return KindViewDrop }
func (*ViewChange) Kind() Kind         { return KindViewChange }
func (*TransactionStart) Kind() Kind   { return KindTransactionStart }
func (*TransactionCommit) Kind() Kind  { return KindTransactionCommit }
func (*TransactionAbort) Kind() Kind   { return KindTransactionAbort }
func (*Document) Kind() Kind           { return KindDocument }
func (*Remove) Kind() Kind             { return KindRemove }
func (*SnapshotBegin) Kind() Kind      { return KindSnapshotBegin }
func (*SnapshotDocuments) Kind() Kind  { return KindSnapshotDocuments }
func (*SnapshotRemove) Kind() Kind     { return KindSnapshotRemove }
func (*SnapshotEnd) Kind() Kind        { return KindSnapshotEnd }
func (*Heartbeat) Kind() Kind          { return KindHeartbeat }
func (*Control) Kind() Kind            { return KindControl }
