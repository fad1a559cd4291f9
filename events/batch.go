package events

import (
	"fmt"
	"strconv"
	"time"
)

// Version is the major version of the envelope this package writes and reads.
const Version = 1

// Metadata keys (Kafka headers) every dc2dc message carries. The dedupe and
// routing middleware read them without decoding the payload.
const (
	MetaVersion   = "dc2dc-v"          // envelope major version
	MetaKind      = "dc2dc-kind"       // kind name of the batch's first record
	MetaSync      = "dc2dc-sync"       // sync id
	MetaShard     = "dc2dc-shard"      // ShardRef.String(); also the Kafka partition key
	MetaEpoch     = "dc2dc-epoch"      // Position.Epoch
	MetaFirstTick = "dc2dc-first-tick" // tick of the first record with a tick
	MetaTick      = "dc2dc-tick"       // Position.Tick
	MetaSub       = "dc2dc-sub"        // Position.Sub
	MetaPrev      = "dc2dc-prev"       // Prev.String(): where the writer's previous batch ended
	MetaRecords   = "dc2dc-records"    // number of records
)

// Batch is the unit that travels as one Kafka message: consecutive records of
// one shard stream.
type Batch struct {
	Sync       string    // sync id (several syncs can share one Kafka)
	Shard      ShardRef  // the stream
	Collection string    // the source collection's name when the batch was made (informational)
	Leader     string    // the DBserver whose ticks the records carry
	Pos        Position  // position of the batch's last record; the dedupe key
	Prev       Position  // Pos of the same writer's previous batch ({Epoch,0,0} for an epoch's first)
	FirstTick  uint64    // tick of the first record (0 if none has a tick)
	SentAt     time.Time // when the sender built the batch (for lag in seconds)
	Records    []Record
}

// Metadata returns the Kafka headers for the batch.
func (b *Batch) Metadata() map[string]string {
	kind := "empty"
	if len(b.Records) > 0 && b.Records[0].Event != nil {
		kind = b.Records[0].Event.Kind().String()
	}
	return map[string]string{
		MetaVersion:   strconv.Itoa(Version),
		MetaKind:      kind,
		MetaSync:      b.Sync,
		MetaShard:     b.Shard.String(),
		MetaEpoch:     strconv.FormatUint(b.Pos.Epoch, 10),
		MetaFirstTick: strconv.FormatUint(b.FirstTick, 10),
		MetaTick:      strconv.FormatUint(b.Pos.Tick, 10),
		MetaSub:       strconv.FormatUint(uint64(b.Pos.Sub), 10),
		MetaPrev:      b.Prev.String(),
		MetaRecords:   strconv.Itoa(len(b.Records)),
	}
}

// Header is what the metadata of a message says about its batch: enough to
// route and dedupe it without decoding the payload.
type Header struct {
	Version int
	Sync    string
	Shard   ShardRef
	Pos     Position
	Prev    Position // zero when the header is absent
}

// ParseMetadata reads the dc2dc headers of a message. A message without them
// is foreign (ErrMalformed); one of a newer major version gives
// ErrUnsupportedVersion.
func ParseMetadata(get func(key string) string) (Header, error) {
	var h Header
	v := get(MetaVersion)
	if v == "" {
		return h, decodeErr(ErrMalformed, "no %s header: not a dc2dc message", MetaVersion)
	}
	ver, err := strconv.Atoi(v)
	if err != nil {
		return h, decodeErr(ErrMalformed, "header %s=%q is not a number", MetaVersion, v)
	}
	if ver != Version {
		return h, decodeErr(ErrUnsupportedVersion, "message version %d, this dc2dc reads version %d: upgrade the receiving side", ver, Version)
	}
	h.Version = ver
	h.Sync = get(MetaSync)
	if h.Shard, err = ParseShardRef(get(MetaShard)); err != nil {
		return h, decodeErr(ErrMalformed, "header %s: %v", MetaShard, err)
	}
	if h.Pos.Epoch, err = parseUintHeader(get, MetaEpoch); err != nil {
		return h, err
	}
	if h.Pos.Tick, err = parseUintHeader(get, MetaTick); err != nil {
		return h, err
	}
	sub, err := parseUintHeader(get, MetaSub)
	if err != nil {
		return h, err
	}
	if sub > 1<<32-1 {
		return h, decodeErr(ErrMalformed, "header %s=%d out of range", MetaSub, sub)
	}
	h.Pos.Sub = uint32(sub)
	if v := get(MetaPrev); v != "" {
		if h.Prev, err = ParsePosition(v); err != nil {
			return h, decodeErr(ErrMalformed, "header %s: %v", MetaPrev, err)
		}
		if h.Prev.Epoch != h.Pos.Epoch || h.Pos.Less(h.Prev) {
			return h, decodeErr(ErrMalformed, "header %s=%s is not before %s in the same epoch", MetaPrev, h.Prev, h.Pos)
		}
	}
	return h, nil
}

func parseUintHeader(get func(string) string, key string) (uint64, error) {
	v := get(key)
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, decodeErr(ErrMalformed, "header %s=%q is not an unsigned number", key, v)
	}
	return n, nil
}

// Validate checks the invariants a sender must keep: a valid shard ref,
// records in increasing tick order, the batch position at or after the last
// tick, and no nil events.
func (b *Batch) Validate() error {
	if err := b.Shard.Validate(); err != nil {
		return err
	}
	var last uint64
	for i, r := range b.Records {
		if r.Event == nil {
			return fmt.Errorf("batch %s: record %d has no event", b.Shard, i)
		}
		if r.Tick != 0 {
			if r.Tick < last {
				return fmt.Errorf("batch %s: record %d tick %d goes back from %d", b.Shard, i, r.Tick, last)
			}
			last = r.Tick
		}
	}
	if b.Pos.Less(b.Prev) || b.Prev.Epoch != b.Pos.Epoch {
		return fmt.Errorf("batch %s: previous position %s is not before %s in the same epoch", b.Shard, b.Prev, b.Pos)
	}
	if last > b.Pos.Tick {
		return fmt.Errorf("batch %s: position tick %d is before its last record's tick %d", b.Shard, b.Pos.Tick, last)
	}
	return nil
}
