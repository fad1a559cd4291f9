package events

import "strconv"

// Kind is the type of an event. WAL-marker kinds use ArangoDB's marker numbers.
type Kind uint16

// WAL marker kinds (ArangoDB's replication marker types, spec §1.5).
const (
	KindDatabaseCreate     Kind = 1100
	KindDatabaseDrop       Kind = 1101
	KindCollectionCreate   Kind = 2000
	KindCollectionDrop     Kind = 2001
	KindCollectionRename   Kind = 2002
	KindCollectionChange   Kind = 2003
	KindCollectionTruncate Kind = 2004
	KindIndexCreate        Kind = 2100
	KindIndexDrop          Kind = 2101
	KindViewCreate         Kind = 2110
	KindViewDrop           Kind = 2111
	KindViewChange         Kind = 2112
	KindTransactionStart   Kind = 2200
	KindTransactionCommit  Kind = 2201
	KindTransactionAbort   Kind = 2202
	KindDocument           Kind = 2300
	KindRemove             Kind = 2302
)

// dc2dc's own kinds.
const (
	KindSnapshotBegin     Kind = 9001
	KindSnapshotDocuments Kind = 9002
	KindSnapshotRemove    Kind = 9003
	KindSnapshotEnd       Kind = 9004
	KindHeartbeat         Kind = 9100
	KindControl           Kind = 9200
)

var kindNames = map[Kind]string{
	KindDatabaseCreate:     "database-create",
	KindDatabaseDrop:       "database-drop",
	KindCollectionCreate:   "collection-create",
	KindCollectionDrop:     "collection-drop",
	KindCollectionRename:   "collection-rename",
	KindCollectionChange:   "collection-change",
	KindCollectionTruncate: "collection-truncate",
	KindIndexCreate:        "index-create",
	KindIndexDrop:          "index-drop",
	KindViewCreate:         "view-create",
	KindViewDrop:           "view-drop",
	KindViewChange:         "view-change",
	KindTransactionStart:   "transaction-start",
	KindTransactionCommit:  "transaction-commit",
	KindTransactionAbort:   "transaction-abort",
	KindDocument:           "document",
	KindRemove:             "remove",
	KindSnapshotBegin:      "snapshot-begin",
	KindSnapshotDocuments:  "snapshot-documents",
	KindSnapshotRemove:     "snapshot-remove",
	KindSnapshotEnd:        "snapshot-end",
	KindHeartbeat:          "heartbeat",
	KindControl:            "control",
}

// String returns the kind's name, or its number for an unknown kind.
func (k Kind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return "kind-" + strconv.Itoa(int(k))
}

// Known reports whether this version of dc2dc knows the kind.
func (k Kind) Known() bool {
	_, ok := kindNames[k]
	return ok
}

// IsWALMarker reports whether the kind is one of ArangoDB's WAL marker types.
func (k Kind) IsWALMarker() bool { return k.Known() && k < 9000 }

// IsMeta reports whether the kind changes structure (databases, collections,
// indexes, views) rather than documents or transactions.
func (k Kind) IsMeta() bool {
	switch k {
	case KindDatabaseCreate, KindDatabaseDrop, KindCollectionCreate, KindCollectionDrop,
		KindCollectionRename, KindCollectionChange, KindCollectionTruncate,
		KindIndexCreate, KindIndexDrop, KindViewCreate, KindViewDrop, KindViewChange:
		return true
	}
	return false
}
