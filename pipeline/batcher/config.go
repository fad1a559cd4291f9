package batcher

import (
	"errors"
	"fmt"
	"time"

	"github.com/dc2dc/dc2dc/events"
)

// Defaults of Config.
const (
	DefaultMaxRecords = 1000
	DefaultMaxBytes   = 900 << 10 // below Kafka's default message.max.bytes (1 MB) with room for headers
	DefaultLinger     = 5 * time.Millisecond
)

// Config bounds batches and memory. Zero fields take defaults.
type Config struct {
	// MaxRecords cuts a batch once it holds this many records (unless a
	// transaction is open).
	MaxRecords int
	// MaxBytes bounds the encoded payload of a batch (estimated
	// conservatively, see Size); it is a hard limit except for a single
	// record larger than it.
	MaxBytes int
	// Linger is how long a batch waits for more records after its first.
	Linger time.Duration
	// QueueRecords and QueueBytes bound what the batcher holds (default 4
	// times MaxRecords and MaxBytes; QueueBytes must be at least twice
	// MaxBytes).
	QueueRecords int
	QueueBytes   int
	// Now gives SentAt (default time.Now).
	Now func() time.Time
}

// EnsureDefaults fills the zero fields.
func (c *Config) EnsureDefaults() {
	if c.MaxRecords == 0 {
		c.MaxRecords = DefaultMaxRecords
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.Linger == 0 {
		c.Linger = DefaultLinger
	}
	if c.QueueRecords == 0 {
		c.QueueRecords = 4 * c.MaxRecords
	}
	if c.QueueBytes == 0 {
		c.QueueBytes = 4 * c.MaxBytes
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.MaxRecords < 1 {
		errs = append(errs, fmt.Errorf("batcher: MaxRecords %d: use at least 1", c.MaxRecords))
	}
	if c.MaxBytes < 1024 {
		errs = append(errs, fmt.Errorf("batcher: MaxBytes %d: use at least 1024 (and at most the Kafka message limit)", c.MaxBytes))
	}
	if c.Linger < 0 {
		errs = append(errs, fmt.Errorf("batcher: Linger %v is negative", c.Linger))
	}
	if c.QueueRecords < 1 {
		errs = append(errs, fmt.Errorf("batcher: QueueRecords %d: use at least 1", c.QueueRecords))
	}
	if c.QueueBytes < 2*c.MaxBytes {
		errs = append(errs, fmt.Errorf("batcher: QueueBytes %d is below twice MaxBytes (%d): raise it", c.QueueBytes, 2*c.MaxBytes))
	}
	return errors.Join(errs...)
}

// Stream names the shard stream the batcher fills.
type Stream struct {
	Sync       string
	Shard      events.ShardRef
	Collection string
	Leader     string
	Epoch      uint64
	// Start is the position of the last batch sent before in this epoch
	// (zero: the epoch's start, {Epoch,0,0}).
	Start events.Position
}

// Validate reports every problem at once.
func (s Stream) Validate() error {
	var errs []error
	if err := s.Shard.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("batcher: %w", err))
	}
	if !s.Start.IsZero() && s.Start.Epoch != s.Epoch {
		errs = append(errs, fmt.Errorf("batcher: Start %s is not in epoch %d", s.Start, s.Epoch))
	}
	return errors.Join(errs...)
}
