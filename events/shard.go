package events

import (
	"fmt"
	"strconv"
	"strings"
)

// ShardRef identifies one shard stream independently of any server: the
// database name, the source collection's id (its plan id, stable across
// renames) and the shard's index (shard k of the source pairs with shard k of
// the target, which has the same numberOfShards and shardKeys).
//
// A ShardRef with an empty CollectionID is the database's meta stream, which
// carries structural changes that belong to no shard.
type ShardRef struct {
	Database     string
	CollectionID string
	Index        int
}

// String returns "database/collectionId/index", the form used as the Kafka
// partition key, the dc2dc-shard header and the checkpoint key.
func (s ShardRef) String() string {
	return s.Database + "/" + s.CollectionID + "/" + strconv.Itoa(s.Index)
}

// IsMeta reports whether the ref is a database's meta stream.
func (s ShardRef) IsMeta() bool { return s.CollectionID == "" }

// Validate reports a ref that cannot name a stream.
func (s ShardRef) Validate() error {
	switch {
	case s.Database == "":
		return fmt.Errorf("shard ref %q: empty database name", s.String())
	case strings.Contains(s.Database, "/") || strings.Contains(s.CollectionID, "/"):
		return fmt.Errorf("shard ref %q: names must not contain '/'", s.String())
	case s.Index < 0:
		return fmt.Errorf("shard ref %q: negative shard index", s.String())
	case s.IsMeta() && s.Index != 0:
		return fmt.Errorf("shard ref %q: a meta stream has index 0", s.String())
	}
	return nil
}

// ParseShardRef parses the String form.
func ParseShardRef(s string) (ShardRef, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 {
		return ShardRef{}, fmt.Errorf("%w: shard ref %q is not database/collectionId/index", ErrMalformed, s)
	}
	idx, err := strconv.Atoi(parts[2])
	if err != nil {
		return ShardRef{}, fmt.Errorf("%w: shard ref %q: index: %w", ErrMalformed, s, err)
	}
	ref := ShardRef{Database: parts[0], CollectionID: parts[1], Index: idx}
	if err := ref.Validate(); err != nil {
		return ShardRef{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return ref, nil
}

// Position orders the batches of one shard stream (see the package doc).
type Position struct {
	Epoch uint64
	Tick  uint64
	Sub   uint32
}

// Less reports whether p comes strictly before q.
func (p Position) Less(q Position) bool {
	if p.Epoch != q.Epoch {
		return p.Epoch < q.Epoch
	}
	if p.Tick != q.Tick {
		return p.Tick < q.Tick
	}
	return p.Sub < q.Sub
}

// IsZero reports whether p is the position before anything.
func (p Position) IsZero() bool { return p == Position{} }

// ParsePosition parses the String form.
func ParsePosition(s string) (Position, error) {
	var p Position
	colon := strings.IndexByte(s, ':')
	dot := strings.LastIndexByte(s, '.')
	if colon < 0 || dot < colon {
		return p, fmt.Errorf("%w: position %q is not epoch:tick.sub", ErrMalformed, s)
	}
	var err error
	if p.Epoch, err = strconv.ParseUint(s[:colon], 10, 64); err != nil {
		return p, fmt.Errorf("%w: position %q: %w", ErrMalformed, s, err)
	}
	if p.Tick, err = strconv.ParseUint(s[colon+1:dot], 10, 64); err != nil {
		return p, fmt.Errorf("%w: position %q: %w", ErrMalformed, s, err)
	}
	sub, err := strconv.ParseUint(s[dot+1:], 10, 32)
	if err != nil {
		return p, fmt.Errorf("%w: position %q: %w", ErrMalformed, s, err)
	}
	p.Sub = uint32(sub)
	return p, nil
}

// String returns "epoch:tick.sub".
func (p Position) String() string {
	return strconv.FormatUint(p.Epoch, 10) + ":" + strconv.FormatUint(p.Tick, 10) + "." + strconv.FormatUint(uint64(p.Sub), 10)
}
