package events

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
)

// Wire format of a batch payload (version 1). All integers are unsigned
// varints (encoding/binary's Uvarint) unless noted; a "string" or "bytes" is a
// varint length followed by that many bytes.
//
//	magic 'd' '2', version byte (1)
//	sync, shard (ShardRef.String), collection, leader: string
//	epoch, tick, sub, firstTick: varint
//	prevTick, prevSub: varint (Prev.Epoch == epoch)
//	sentAt: signed varint, Unix nanoseconds (0 = unset)
//	record count: varint
//	each record: kind varint, tick varint, body length varint, body
//
// A record's body is its kind's fields in a fixed order (see appendBody).
// Later minor revisions may append fields to a body; a reader ignores bytes
// after the fields it knows, so old readers keep working. Documents are carried
// as the verbatim JSON bytes ArangoDB produced: neither side re-encodes them.
//
// The framing is binary rather than JSON so that neither side rescans every
// document (the measured transport ceiling here is ~445 MB/s; a JSON
// envelope would spend more than that in the encoder alone). `dc2dc events
// decode` prints a payload as JSON for people.
const magic0, magic1 = 'd', '2'

// Encode returns the payload of a batch. It fails only on a batch that does
// not pass Validate or on an event type this package does not know.
func Encode(b *Batch) ([]byte, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	size := 64 + len(b.Sync) + len(b.Collection) + len(b.Leader) + len(b.Shard.Database) + len(b.Shard.CollectionID)
	for _, r := range b.Records {
		size += 24 + approxBodySize(r.Event)
	}
	buf := make([]byte, 0, size)
	buf = append(buf, magic0, magic1, Version)
	buf = appendString(buf, b.Sync)
	buf = appendString(buf, b.Shard.String())
	buf = appendString(buf, b.Collection)
	buf = appendString(buf, b.Leader)
	buf = binary.AppendUvarint(buf, b.Pos.Epoch)
	buf = binary.AppendUvarint(buf, b.Pos.Tick)
	buf = binary.AppendUvarint(buf, uint64(b.Pos.Sub))
	buf = binary.AppendUvarint(buf, b.FirstTick)
	buf = binary.AppendUvarint(buf, b.Prev.Tick)
	buf = binary.AppendUvarint(buf, uint64(b.Prev.Sub))
	var sent int64
	if !b.SentAt.IsZero() {
		sent = b.SentAt.UnixNano()
	}
	buf = binary.AppendVarint(buf, sent)
	buf = binary.AppendUvarint(buf, uint64(len(b.Records)))
	var body []byte
	for i, r := range b.Records {
		var err error
		body, err = appendBody(body[:0], r.Event)
		if err != nil {
			return nil, fmt.Errorf("batch %s record %d: %w", b.Shard, i, err)
		}
		buf = binary.AppendUvarint(buf, uint64(r.Event.Kind()))
		buf = binary.AppendUvarint(buf, r.Tick)
		buf = binary.AppendUvarint(buf, uint64(len(body)))
		buf = append(buf, body...)
	}
	return buf, nil
}

func approxBodySize(e Event) int {
	switch e := e.(type) {
	case *Document:
		return len(e.Doc) + len(e.Key) + len(e.Rev) + len(e.TID)
	case *SnapshotDocuments:
		n := 0
		for _, d := range e.Docs {
			n += len(d) + 4
		}
		return n
	case *Control:
		return len(e.Payload) + len(e.Type) + len(e.From)
	}
	return 64
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

func appendBytes(buf, b []byte) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(b)))
	return append(buf, b...)
}

func appendTime(buf []byte, t time.Time) []byte {
	var n int64
	if !t.IsZero() {
		n = t.UnixNano()
	}
	return binary.AppendVarint(buf, n)
}

// appendBody writes the kind-specific fields. The order here is the wire
// format: only ever append new fields at the end of a case.
func appendBody(buf []byte, e Event) ([]byte, error) {
	switch e := e.(type) {
	case *DatabaseCreate:
		buf = appendString(buf, e.Database)
		buf = appendBytes(buf, e.Data)
	case *DatabaseDrop:
		buf = appendString(buf, e.Database)
	case *CollectionCreate:
		buf = appendString(buf, e.Database)
		buf = appendString(buf, e.CUID)
		buf = appendBytes(buf, e.Data)
	case *CollectionDrop:
		buf = appendString(buf, e.Database)
		buf = appendString(buf, e.CUID)
	case *CollectionRename:
		buf = appendString(buf, e.Database)
		buf = appendString(buf, e.CUID)
		buf = appendString(buf, e.NewName)
	case *CollectionChange:
		buf = appendString(buf, e.Database)
		buf = appendString(buf, e.CUID)
		buf = appendBytes(buf, e.Data)
	case *CollectionTruncate:
		buf = appendString(buf, e.Database)
		buf = appendString(buf, e.CUID)
	case *IndexCreate:
		buf = appendString(buf, e.Database)
		buf = appendString(buf, e.CUID)
		buf = appendBytes(buf, e.Data)
	case *IndexDrop:
		buf = appendString(buf, e.Database)
		buf = appendString(buf, e.CUID)
		buf = appendString(buf, e.IndexID)
	case *ViewCreate:
		buf = appendString(buf, e.Database)
		buf = appendString(buf, e.CUID)
		buf = appendBytes(buf, e.Data)
	case *ViewDrop:
		buf = appendString(buf, e.Database)
		buf = appendString(buf, e.CUID)
	case *ViewChange:
		buf = appendString(buf, e.Database)
		buf = appendString(buf, e.CUID)
		buf = appendBytes(buf, e.Data)
	case *TransactionStart:
		buf = appendString(buf, e.Database)
		buf = appendString(buf, e.TID)
	case *TransactionCommit:
		buf = appendString(buf, e.Database)
		buf = appendString(buf, e.TID)
	case *TransactionAbort:
		buf = appendString(buf, e.Database)
		buf = appendString(buf, e.TID)
	case *Document:
		buf = appendString(buf, e.TID)
		buf = appendString(buf, e.Key)
		buf = appendString(buf, e.Rev)
		buf = appendBytes(buf, e.Doc)
	case *Remove:
		buf = appendString(buf, e.TID)
		buf = appendString(buf, e.Key)
		buf = appendString(buf, e.Rev)
	case *SnapshotBegin:
		buf = binary.AppendUvarint(buf, e.SnapshotTick)
		buf = appendString(buf, e.Leader)
		buf = appendString(buf, e.Mode)
		buf = binary.AppendVarint(buf, e.Documents)
	case *SnapshotDocuments:
		buf = binary.AppendUvarint(buf, uint64(len(e.Docs)))
		for _, d := range e.Docs {
			buf = appendBytes(buf, d)
		}
	case *SnapshotRemove:
		buf = binary.AppendUvarint(buf, uint64(len(e.Keys)))
		for _, k := range e.Keys {
			buf = appendString(buf, k.Key)
			buf = appendString(buf, k.Rev)
		}
	case *SnapshotEnd:
		buf = binary.AppendUvarint(buf, e.SnapshotTick)
		buf = binary.AppendVarint(buf, e.Documents)
	case *Heartbeat:
		buf = appendTime(buf, e.SourceTime)
		buf = binary.AppendUvarint(buf, e.LeaderTick)
		buf = appendString(buf, e.Phase)
	case *Control:
		buf = appendString(buf, e.Type)
		buf = binary.AppendUvarint(buf, e.LeaderEpoch)
		buf = appendString(buf, e.From)
		buf = appendBytes(buf, e.Payload)
	default:
		return nil, fmt.Errorf("event type %T is not part of the vocabulary", e)
	}
	return buf, nil
}

// Decode parses a payload written by Encode. The returned batch's byte
// slices (documents, definitions) alias payload: do not modify payload while
// the batch is in use. Any failure is a *DecodeError.
func Decode(payload []byte) (*Batch, error) {
	r := reader{buf: payload}
	if len(payload) < 3 || payload[0] != magic0 || payload[1] != magic1 {
		return nil, decodeErr(ErrMalformed, "payload does not start with the dc2dc magic bytes: not a dc2dc message")
	}
	if payload[2] != Version {
		return nil, decodeErr(ErrUnsupportedVersion, "payload version %d, this dc2dc reads version %d: upgrade the receiving side", payload[2], Version)
	}
	r.pos = 3
	b := &Batch{}
	b.Sync = r.string()
	shard := r.string()
	b.Collection = r.string()
	b.Leader = r.string()
	b.Pos.Epoch = r.uvarint()
	b.Pos.Tick = r.uvarint()
	sub := r.uvarint()
	b.FirstTick = r.uvarint()
	b.Prev.Tick = r.uvarint()
	prevSub := r.uvarint()
	sent := r.varint()
	n := r.uvarint()
	if r.err != nil {
		return nil, r.err
	}
	if sub > 1<<32-1 {
		return nil, decodeErr(ErrMalformed, "sub position %d out of range", sub)
	}
	if prevSub > 1<<32-1 {
		return nil, decodeErr(ErrMalformed, "previous sub position %d out of range", prevSub)
	}
	b.Pos.Sub = uint32(sub)
	b.Prev = Position{Epoch: b.Pos.Epoch, Tick: b.Prev.Tick, Sub: uint32(prevSub)}
	if b.Pos.Less(b.Prev) {
		return nil, decodeErr(ErrMalformed, "previous position %s after position %s", b.Prev, b.Pos)
	}
	if sent != 0 {
		b.SentAt = time.Unix(0, sent).UTC()
	}
	var err error
	if b.Shard, err = ParseShardRef(shard); err != nil {
		return nil, decodeErr(ErrMalformed, "%v", err)
	}
	// Every record takes at least 3 bytes: a count beyond that is a lie.
	if n > uint64(len(payload)-r.pos)/3 {
		return nil, decodeErr(ErrMalformed, "record count %d exceeds the payload", n)
	}
	b.Records = make([]Record, 0, n)
	for i := uint64(0); i < n; i++ {
		kind := r.uvarint()
		tick := r.uvarint()
		body := r.bytes()
		if r.err != nil {
			return nil, r.err
		}
		if kind > 0xffff || !Kind(kind).Known() {
			return nil, decodeErr(ErrUnknownKind, "record %d has kind %d, unknown to this dc2dc: upgrade the receiving side", i, kind)
		}
		ev, err := decodeBody(Kind(kind), body)
		if err != nil {
			return nil, err
		}
		b.Records = append(b.Records, Record{Tick: tick, Event: ev})
	}
	if r.pos != len(payload) {
		return nil, decodeErr(ErrMalformed, "%d trailing bytes after the last record", len(payload)-r.pos)
	}
	return b, nil
}

func decodeBody(k Kind, body []byte) (Event, error) {
	r := reader{buf: body}
	var e Event
	switch k {
	case KindDatabaseCreate:
		e = &DatabaseCreate{Database: r.string(), Data: r.raw()}
	case KindDatabaseDrop:
		e = &DatabaseDrop{Database: r.string()}
	case KindCollectionCreate:
		e = &CollectionCreate{Database: r.string(), CUID: r.string(), Data: r.raw()}
	case KindCollectionDrop:
		e = &CollectionDrop{Database: r.string(), CUID: r.string()}
	case KindCollectionRename:
		e = &CollectionRename{Database: r.string(), CUID: r.string(), NewName: r.string()}
	case KindCollectionChange:
		e = &CollectionChange{Database: r.string(), CUID: r.string(), Data: r.raw()}
	case KindCollectionTruncate:
		e = &CollectionTruncate{Database: r.string(), CUID: r.string()}
	case KindIndexCreate:
		e = &IndexCreate{Database: r.string(), CUID: r.string(), Data: r.raw()}
	case KindIndexDrop:
		e = &IndexDrop{Database: r.string(), CUID: r.string(), IndexID: r.string()}
	case KindViewCreate:
		e = &ViewCreate{Database: r.string(), CUID: r.string(), Data: r.raw()}
	case KindViewDrop:
		e = &ViewDrop{Database: r.string(), CUID: r.string()}
	case KindViewChange:
		e = &ViewChange{Database: r.string(), CUID: r.string(), Data: r.raw()}
	case KindTransactionStart:
		e = &TransactionStart{Database: r.string(), TID: r.string()}
	case KindTransactionCommit:
		e = &TransactionCommit{Database: r.string(), TID: r.string()}
	case KindTransactionAbort:
		e = &TransactionAbort{Database: r.string(), TID: r.string()}
	case KindDocument:
		e = &Document{TID: r.string(), Key: r.string(), Rev: r.string(), Doc: r.raw()}
	case KindRemove:
		e = &Remove{TID: r.string(), Key: r.string(), Rev: r.string()}
	case KindSnapshotBegin:
		e = &SnapshotBegin{SnapshotTick: r.uvarint(), Leader: r.string(), Mode: r.string(), Documents: r.varint()}
	case KindSnapshotDocuments:
		n := r.count(1)
		docs := make([]json.RawMessage, 0, n)
		for i := 0; i < n && r.err == nil; i++ {
			docs = append(docs, r.raw())
		}
		e = &SnapshotDocuments{Docs: docs}
	case KindSnapshotRemove:
		n := r.count(2)
		keys := make([]KeyRev, 0, n)
		for i := 0; i < n && r.err == nil; i++ {
			keys = append(keys, KeyRev{Key: r.string(), Rev: r.string()})
		}
		e = &SnapshotRemove{Keys: keys}
	case KindSnapshotEnd:
		e = &SnapshotEnd{SnapshotTick: r.uvarint(), Documents: r.varint()}
	case KindHeartbeat:
		hb := &Heartbeat{}
		if ns := r.varint(); ns != 0 {
			hb.SourceTime = time.Unix(0, ns).UTC()
		}
		hb.LeaderTick = r.uvarint()
		hb.Phase = r.string()
		e = hb
	case KindControl:
		e = &Control{Type: r.string(), LeaderEpoch: r.uvarint(), From: r.string(), Payload: r.raw()}
	default:
		return nil, decodeErr(ErrUnknownKind, "kind %d", k)
	}
	if r.err != nil {
		return nil, decodeErr(ErrMalformed, "%s record: %v", k, r.err)
	}
	// Bytes after the known fields belong to a newer minor revision: ignored.
	return e, nil
}

// reader reads the wire format; the first error sticks and zero values follow.
type reader struct {
	buf []byte
	pos int
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = decodeErr(ErrMalformed, "truncated or invalid %s at byte %d", what, r.pos)
	}
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf[r.pos:])
	if n <= 0 {
		r.fail("varint")
		return 0
	}
	r.pos += n
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.buf[r.pos:])
	if n <= 0 {
		r.fail("varint")
		return 0
	}
	r.pos += n
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.buf)-r.pos) {
		r.fail("length")
		return nil
	}
	b := r.buf[r.pos : r.pos+int(n) : r.pos+int(n)]
	r.pos += int(n)
	return b
}

func (r *reader) string() string { return string(r.bytes()) }

// raw returns a byte field as a RawMessage, nil when empty.
func (r *reader) raw() json.RawMessage {
	b := r.bytes()
	if len(b) == 0 {
		return nil
	}
	return json.RawMessage(b)
}

// count reads an element count whose elements take at least min bytes each.
func (r *reader) count(min int) int {
	n := r.uvarint()
	if r.err != nil {
		return 0
	}
	if n > uint64(len(r.buf)-r.pos)/uint64(min) {
		r.fail("count")
		return 0
	}
	return int(n)
}
