package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"
	"unicode/utf8"
)

// Kind says which record type a key holds. Its value is the first byte of
// the key, so records of one kind are contiguous in the key space.
type Kind byte

// The record kinds. Their byte values are part of the on-disk format.
const (
	KindSource  Kind = 's' // SourcePosition: sending side, position in a shard leader's WAL
	KindApplied Kind = 'a' // AppliedPosition: receiving side, last batch applied to cluster B
	KindMeta    Kind = 'm' // SyncMeta: per-sync process metadata (fencing epoch, owner)
	kindStore   Kind = 'i' // internal: the store's own format record
)

// String returns the kind's name as the CLI prints it.
func (k Kind) String() string {
	switch k {
	case KindSource:
		return "source"
	case KindApplied:
		return "applied"
	case KindMeta:
		return "meta"
	case kindStore:
		return "store"
	}
	return fmt.Sprintf("kind(%#x)", byte(k))
}

// Phase is the replication phase of a shard, kept with its position.
type Phase string

// The phases dc2dc uses. The store accepts any short string.
const (
	PhaseInitialSync Phase = "initial-sync"
	PhaseTailing     Phase = "tailing"
)

// Limits on the strings in keys and records; they keep records small and a
// decoder of garbage from allocating much.
const (
	MaxIDLen     = 512 // sync ids and shard keys
	maxStringLen = 256 // leader ids, phases, owners
)

// recordVersion is the first byte of every encoded value. A decoder refuses
// versions it does not know. Version 1 lacked Sub in the positions; it is
// still decoded (Sub = 0).
const recordVersion = 2

// Pos is the order of a record for the monotonicity guard: a stream
// position (Epoch, Tick, Sub), compared in that order. Snapshot chunks sit
// at Tick 0 with Sub = chunk number; SyncMeta orders by its leader epoch.
type Pos struct {
	Epoch uint64
	Tick  uint64
	Sub   uint32
}

// Less reports whether p comes strictly before q.
func (p Pos) Less(q Pos) bool {
	if p.Epoch != q.Epoch {
		return p.Epoch < q.Epoch
	}
	if p.Tick != q.Tick {
		return p.Tick < q.Tick
	}
	return p.Sub < q.Sub
}

// String formats p as epoch/tick/sub.
func (p Pos) String() string { return fmt.Sprintf("%d/%d/%d", p.Epoch, p.Tick, p.Sub) }

// Record is one of SourcePosition, AppliedPosition or SyncMeta.
type Record interface {
	// Kind returns the record's kind.
	Kind() Kind
	// ID returns the sync id and the shard key (empty for SyncMeta).
	ID() (sync, shard string)
	// Order returns the position the monotonicity guard compares: a write
	// whose Order is lower than the stored one's is refused.
	Order() Pos
	appendValue(b []byte) []byte
	stamped(now time.Time) Record
}

// SourcePosition is where a send-shard task on cluster A stands in the WAL of
// the shard's leader. Epoch increases whenever the shard's leader changes (WAL
// ticks are per DB-Server, so a tick is meaningful only with its Leader and
// Epoch). Tick is the last tick whose events Kafka acknowledged.
type SourcePosition struct {
	Sync         string // sync id
	Shard        string // "<database>/<collectionId>/<shardIndex>"
	Epoch        uint64
	Leader       string // DB-Server id of the shard leader the ticks belong to
	Tick         uint64 // last WAL tick acknowledged by Kafka
	Sub          uint32 // position within the tick (snapshot chunk number at Tick 0)
	LastScanned  uint64 // initial sync: progress of the snapshot scan
	SnapshotTick uint64 // initial sync: tick of the snapshot
	Phase        Phase
	UpdatedAt    time.Time // set by the store when zero
}

// Kind implements Record.
func (SourcePosition) Kind() Kind { return KindSource }

// ID implements Record.
func (p SourcePosition) ID() (string, string) { return p.Sync, p.Shard }

// Order implements Record.
func (p SourcePosition) Order() Pos { return Pos{p.Epoch, p.Tick, p.Sub} }

func (p SourcePosition) stamped(now time.Time) Record {
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = now
	}
	return p
}

func (p SourcePosition) appendValue(b []byte) []byte {
	b = append(b, recordVersion, byte(KindSource))
	b = binary.AppendUvarint(b, p.Epoch)
	b = appendString(b, p.Leader)
	b = binary.AppendUvarint(b, p.Tick)
	b = binary.AppendUvarint(b, uint64(p.Sub))
	b = binary.AppendUvarint(b, p.LastScanned)
	b = binary.AppendUvarint(b, p.SnapshotTick)
	b = appendString(b, string(p.Phase))
	return appendTime(b, p.UpdatedAt)
}

// AppliedPosition is where a receive-shard task on cluster B stands: the
// source position (Epoch, Tick) of the last batch applied to B, and the Kafka
// partition and offset of the last message of that batch.
type AppliedPosition struct {
	Sync      string
	Shard     string
	Epoch     uint64
	Tick      uint64
	Sub       uint32
	Partition int32
	Offset    int64 // offset of the last applied Kafka message
	Phase     Phase
	UpdatedAt time.Time // set by the store when zero
}

// Kind implements Record.
func (AppliedPosition) Kind() Kind { return KindApplied }

// ID implements Record.
func (p AppliedPosition) ID() (string, string) { return p.Sync, p.Shard }

// Order implements Record.
func (p AppliedPosition) Order() Pos { return Pos{p.Epoch, p.Tick, p.Sub} }

func (p AppliedPosition) stamped(now time.Time) Record {
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = now
	}
	return p
}

func (p AppliedPosition) appendValue(b []byte) []byte {
	b = append(b, recordVersion, byte(KindApplied))
	b = binary.AppendUvarint(b, p.Epoch)
	b = binary.AppendUvarint(b, p.Tick)
	b = binary.AppendUvarint(b, uint64(p.Sub))
	b = binary.AppendVarint(b, int64(p.Partition))
	b = binary.AppendVarint(b, p.Offset)
	b = appendString(b, string(p.Phase))
	return appendTime(b, p.UpdatedAt)
}

// SyncMeta is the small per-sync metadata of a process: the highest leader
// (sync master) epoch it has seen, used to fence off a stale master, and who
// owns the sync's tasks here.
type SyncMeta struct {
	Sync        string
	LeaderEpoch uint64
	Owner       string    // e.g. the worker id
	UpdatedAt   time.Time // set by the store when zero
}

// Kind implements Record.
func (SyncMeta) Kind() Kind { return KindMeta }

// ID implements Record; SyncMeta has no shard.
func (m SyncMeta) ID() (string, string) { return m.Sync, "" }

// Order implements Record: the leader epoch may not go backwards.
func (m SyncMeta) Order() Pos { return Pos{Epoch: m.LeaderEpoch} }

func (m SyncMeta) stamped(now time.Time) Record {
	if m.UpdatedAt.IsZero() {
		m.UpdatedAt = now
	}
	return m
}

func (m SyncMeta) appendValue(b []byte) []byte {
	b = append(b, recordVersion, byte(KindMeta))
	b = binary.AppendUvarint(b, m.LeaderEpoch)
	b = appendString(b, m.Owner)
	return appendTime(b, m.UpdatedAt)
}

// Key layout: kind, 0x00, sync id, 0x00, shard key. Ids may not contain 0x00,
// so "all records of one kind and sync" is the prefix kind 0x00 sync 0x00 and
// no sync id is a prefix of another's range.
func makeKey(k Kind, sync, shard string) []byte {
	b := make([]byte, 0, 3+len(sync)+len(shard))
	b = append(b, byte(k), 0)
	b = append(b, sync...)
	b = append(b, 0)
	return append(b, shard...)
}

// keyPrefix returns the prefix of the keys of kind k, of one sync when sync
// is not empty, and of shards starting with shardPrefix.
func keyPrefix(k Kind, sync, shardPrefix string) []byte {
	b := []byte{byte(k), 0}
	if sync == "" {
		return b
	}
	b = append(b, sync...)
	b = append(b, 0)
	return append(b, shardPrefix...)
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // no upper bound
}

func checkID(what, id string, allowEmpty bool) error {
	switch {
	case id == "" && !allowEmpty:
		return fmt.Errorf("%w: the %s is empty", ErrInvalidRecord, what)
	case len(id) > MaxIDLen:
		return fmt.Errorf("%w: the %s is %d bytes long, the limit is %d", ErrInvalidRecord, what, len(id), MaxIDLen)
	case bytes.IndexByte([]byte(id), 0) >= 0:
		return fmt.Errorf("%w: the %s %q contains a NUL byte", ErrInvalidRecord, what, id)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: the %s %q is not valid UTF-8", ErrInvalidRecord, what, id)
	}
	return nil
}

// checkRecord validates a record before it is written.
func checkRecord(r Record) error {
	sync, shard := r.ID()
	if err := checkID("sync id", sync, false); err != nil {
		return err
	}
	var strs []string
	switch p := r.(type) {
	case SourcePosition:
		strs = []string{p.Leader, string(p.Phase)}
	case AppliedPosition:
		strs = []string{string(p.Phase)}
		if p.Partition < 0 {
			return fmt.Errorf("%w: shard %s: Kafka partition %d is negative", ErrInvalidRecord, shard, p.Partition)
		}
	case SyncMeta:
		strs = []string{p.Owner}
	default:
		return fmt.Errorf("%w: unknown record type %T", ErrInvalidRecord, r)
	}
	if r.Kind() != KindMeta {
		if err := checkID("shard key", shard, false); err != nil {
			return err
		}
	}
	for _, s := range strs {
		if len(s) > maxStringLen {
			return fmt.Errorf("%w: %s/%s: a field is %d bytes long, the limit is %d", ErrInvalidRecord, sync, shard, len(s), maxStringLen)
		}
	}
	return nil
}

// encodeRecord returns the key and value of a valid record.
func encodeRecord(r Record) (key, value []byte) {
	sync, shard := r.ID()
	return makeKey(r.Kind(), sync, shard), r.appendValue(make([]byte, 0, 48))
}

// parseKey splits a key into kind, sync id and shard.
func parseKey(key []byte) (Kind, string, string, error) {
	if len(key) < 3 || key[1] != 0 {
		return 0, "", "", &DecodeError{Key: key, Reason: "key too short or without separator"}
	}
	k := Kind(key[0])
	rest := key[2:]
	i := bytes.IndexByte(rest, 0)
	if i < 0 {
		return 0, "", "", &DecodeError{Key: key, Reason: "key without sync id separator"}
	}
	sync, shard := string(rest[:i]), string(rest[i+1:])
	if err := checkID("sync id", sync, false); err != nil {
		return 0, "", "", &DecodeError{Key: key, Reason: err.Error()}
	}
	if err := checkID("shard key", shard, k == KindMeta || k == kindStore); err != nil {
		return 0, "", "", &DecodeError{Key: key, Reason: err.Error()}
	}
	if (k == KindMeta || k == kindStore) && shard != "" {
		return 0, "", "", &DecodeError{Key: key, Reason: "metadata key with a shard"}
	}
	return k, sync, shard, nil
}

// decodeRecord decodes a stored key and value. Garbage returns a
// *DecodeError (errors.Is(err, ErrCorruptRecord)).
func decodeRecord(key, value []byte) (Record, error) {
	k, sync, shard, err := parseKey(key)
	if err != nil {
		return nil, err
	}
	d := decoder{buf: value}
	ver, kind := d.byte(), Kind(d.byte())
	if d.err == nil && (ver < 1 || ver > recordVersion) {
		return nil, &DecodeError{Key: key, Reason: fmt.Sprintf("record version %d is not known to this dc2dc (it knows 1 to %d): was the store written by a newer version?", ver, recordVersion)}
	}
	sub := func() uint32 {
		if ver < 2 {
			return 0
		}
		v := d.uvarint()
		if v > 1<<32-1 {
			d.fail("sub out of range")
		}
		return uint32(v)
	}
	if d.err == nil && kind != k {
		return nil, &DecodeError{Key: key, Reason: fmt.Sprintf("value of kind %s under a %s key", kind, k)}
	}
	var r Record
	switch k {
	case KindSource:
		p := SourcePosition{Sync: sync, Shard: shard}
		p.Epoch = d.uvarint()
		p.Leader = d.string()
		p.Tick = d.uvarint()
		p.Sub = sub()
		p.LastScanned = d.uvarint()
		p.SnapshotTick = d.uvarint()
		p.Phase = Phase(d.string())
		p.UpdatedAt = d.time()
		r = p
	case KindApplied:
		p := AppliedPosition{Sync: sync, Shard: shard}
		p.Epoch = d.uvarint()
		p.Tick = d.uvarint()
		p.Sub = sub()
		part := d.varint()
		if d.err == nil && (part < 0 || part > 1<<31-1) {
			d.fail("partition out of range")
		}
		p.Partition = int32(part)
		p.Offset = d.varint()
		p.Phase = Phase(d.string())
		p.UpdatedAt = d.time()
		r = p
	case KindMeta:
		m := SyncMeta{Sync: sync}
		m.LeaderEpoch = d.uvarint()
		m.Owner = d.string()
		m.UpdatedAt = d.time()
		r = m
	default:
		return nil, &DecodeError{Key: key, Reason: fmt.Sprintf("unknown record kind %#x", byte(k))}
	}
	if d.err == nil && len(d.buf) != 0 {
		d.fail(fmt.Sprintf("%d trailing bytes", len(d.buf)))
	}
	if d.err != nil {
		return nil, &DecodeError{Key: key, Reason: d.err.Error()}
	}
	return r, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

// decoder reads fields until the first error, which sticks.
type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail(reason string) {
	if d.err == nil {
		d.err = fmt.Errorf("%s", reason)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.buf) == 0 {
		d.fail("value truncated")
		return 0
	}
	c := d.buf[0]
	d.buf = d.buf[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail("bad or truncated unsigned varint")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail("bad or truncated varint")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > maxStringLen || n > uint64(len(d.buf)) {
		d.fail(fmt.Sprintf("string of %d bytes exceeds the limit or the value", n))
		return ""
	}
	s := string(d.buf[:n])
	d.buf = d.buf[n:]
	return s
}

func (d *decoder) time() time.Time {
	ns := d.varint()
	if d.err != nil || ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}
