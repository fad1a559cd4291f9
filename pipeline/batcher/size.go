package batcher

import "github.com/dc2dc/dc2dc/events"

// Bounds of the wire format's variable-length integers (encoding/binary).
const (
	maxVarint = 10 // any 64-bit varint
	maxLen    = 5  // a length prefix (< 2^35)
)

func str(n int) int { return maxLen + n }

// Size is an upper bound of the bytes a record adds to an encoded batch
// (events.Encode): its kind, tick and length prefix plus its body. It never
// underestimates, so a batch whose Sizes sum to at most MaxBytes minus the
// header's encodes to at most MaxBytes.
func Size(r events.Record) int {
	const frame = 3 + maxVarint + maxLen // kind, tick, body length
	return frame + bodySize(r.Event)
}

func bodySize(e events.Event) int {
	switch e := e.(type) {
	case *events.DatabaseCreate:
		return str(len(e.Database)) + str(len(e.Data))
	case *events.DatabaseDrop:
		return str(len(e.Database))
	case *events.CollectionCreate:
		return str(len(e.Database)) + str(len(e.CUID)) + str(len(e.Data))
	case *events.CollectionDrop:
		return str(len(e.Database)) + str(len(e.CUID))
	case *events.CollectionRename:
		return str(len(e.Database)) + str(len(e.CUID)) + str(len(e.NewName))
	case *events.CollectionChange:
		return str(len(e.Database)) + str(len(e.CUID)) + str(len(e.Data))
	case *events.CollectionTruncate:
		return str(len(e.Database)) + str(len(e.CUID))
	case *events.IndexCreate:
		return str(len(e.Database)) + str(len(e.CUID)) + str(len(e.Data))
	case *events.IndexDrop:
		return str(len(e.Database)) + str(len(e.CUID)) + str(len(e.IndexID))
	case *events.ViewCreate:
		return str(len(e.Database)) + str(len(e.CUID)) + str(len(e.Data))
	case *events.ViewDrop:
		return str(len(e.Database)) + str(len(e.CUID))
	case *events.ViewChange:
		return str(len(e.Database)) + str(len(e.CUID)) + str(len(e.Data))
	case *events.TransactionStart:
		return str(len(e.Database)) + str(len(e.TID))
	case *events.TransactionCommit:
		return str(len(e.Database)) + str(len(e.TID))
	case *events.TransactionAbort:
		return str(len(e.Database)) + str(len(e.TID))
	case *events.Document:
		return str(len(e.TID)) + str(len(e.Key)) + str(len(e.Rev)) + str(len(e.Doc))
	case *events.Remove:
		return str(len(e.TID)) + str(len(e.Key)) + str(len(e.Rev))
	case *events.SnapshotBegin:
		return 2*maxVarint + str(len(e.Leader)) + str(len(e.Mode))
	case *events.SnapshotDocuments:
		n := maxVarint
		for _, d := range e.Docs {
			n += str(len(d))
		}
		return n
	case *events.SnapshotRemove:
		n := maxVarint
		for _, k := range e.Keys {
			n += str(len(k.Key)) + str(len(k.Rev))
		}
		return n
	case *events.SnapshotEnd:
		return 2 * maxVarint
	case *events.Heartbeat:
		return 2*maxVarint + str(len(e.Phase))
	case *events.Control:
		return str(len(e.Type)) + maxVarint + str(len(e.From)) + str(len(e.Payload))
	}
	// Not part of the vocabulary: Encode will refuse it anyway.
	return 64
}

// headerSize bounds the encoded batch header (magic, version, strings,
// positions, time, count).
func headerSize(s Stream) int {
	return 3 + str(len(s.Sync)) + str(len(s.Shard.String())) + str(len(s.Collection)) + str(len(s.Leader)) +
		12*maxVarint
}
