package store

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Defaults of Config.
const (
	DefaultCacheSize    = 8 << 20 // bytes of Pebble block cache
	DefaultMemTableSize = 4 << 20 // bytes of Pebble memtable
)

// Config configures a Store. The zero value plus Dir is a durable store.
type Config struct {
	// Dir is the store's directory. It is created unless MustExist or
	// ReadOnly is set. One process at a time may open it.
	Dir string
	// NoSync turns off the fsync of every write. The default (false) is
	// what the durability order needs: a checkpoint is on disk when Put
	// returns. Only tests and benchmarks should set it.
	NoSync bool
	// ReadOnly opens the store for reading (operator commands). Pebble still
	// takes the directory lock, so this does not work while a worker has
	// the store open.
	ReadOnly bool
	// MustExist refuses to create a new store (ErrNotExist instead).
	MustExist bool
	// Logger receives Pebble's messages and the store's warnings (Reset,
	// Delete). Nil discards them.
	Logger *slog.Logger
	// CacheSize is Pebble's block cache in bytes; 0 means DefaultCacheSize.
	CacheSize int64
	// MemTableSize is Pebble's memtable size in bytes; 0 means
	// DefaultMemTableSize.
	MemTableSize int64
	// Now stamps records whose UpdatedAt is zero; nil means time.Now.
	Now func() time.Time
	// Events are optional callbacks for metrics; nil fields are off.
	Events Events

	// fs replaces the operating system's filesystem (tests: Pebble's
	// crashable in-memory filesystem).
	fs vfs.FS
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("store: Dir is empty: set it to the directory that holds (or will hold) the checkpoints, e.g. <data dir>/checkpoints"))
	}
	if c.CacheSize < 0 {
		errs = append(errs, fmt.Errorf("store: CacheSize is %d: use a positive number of bytes, or 0 for the default %d", c.CacheSize, DefaultCacheSize))
	}
	if c.MemTableSize < 0 || (c.MemTableSize > 0 && c.MemTableSize < 64<<10) || c.MemTableSize > 1<<30 {
		errs = append(errs, fmt.Errorf("store: MemTableSize is %d: use between 64 KiB and 1 GiB, or 0 for the default %d", c.MemTableSize, DefaultMemTableSize))
	}
	if c.ReadOnly && c.NoSync {
		errs = append(errs, errors.New("store: ReadOnly and NoSync are both set: NoSync only affects writes; drop one of them"))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.MemTableSize == 0 {
		c.MemTableSize = DefaultMemTableSize
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.fs == nil {
		c.fs = vfs.Default
	}
	return c
}

// Events are callbacks the store makes for observability (metrics live with
// the caller; the store imports no metrics library). They run synchronously
// on the writing goroutine, with the written keys locked: keep them cheap.
type Events struct {
	// Committed is called after each successful batch commit.
	Committed func(CommitInfo)
	// Refused is called for each write refused by the monotonicity guard.
	Refused func(*RegressionError)
}

// CommitInfo describes one committed Pebble batch.
type CommitInfo struct {
	Records  int           // records written (including deletions)
	Groups   int           // independent requests in the batch (Committer)
	Synced   bool          // fsynced before returning
	Duration time.Duration // time spent in Pebble's commit (incl. fsync)
}
