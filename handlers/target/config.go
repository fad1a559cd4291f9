package target

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Config tunes an Applier. The zero value is usable (defaults below).
type Config struct {
	// MaxRequestDocs is the most documents one write request carries (default 1000).
	MaxRequestDocs int
	// MaxRequestBytes is the most body bytes one write request carries (default 4 MiB;
	// a single larger document is sent alone).
	MaxRequestBytes int
	// Parallelism is the number of concurrent requests that write a long run
	// of writes outside transactions (a snapshot chunk, a burst of WAL
	// writes), split by key so each key's writes stay in order (default 1:
	// one request at a time). On arangosim, which serializes the writes to a
	// shard, more is slower (BenchmarkApply1KiB); whether a real DB-Server
	// gains from it is not measured yet.
	Parallelism int
	// MaxTxnBytes bounds the bytes buffered for open transactions of a shard,
	// waiting for their commit (default 96 MiB). A transaction that grows
	// beyond it cannot be applied atomically: the shard is resynchronised.
	// Keep it below B's --transaction.streaming-max-transaction-size (128 MiB
	// by default per DB-Server), which bounds the stream transaction it
	// becomes; B refusing it for size (errorNum 32) also asks for a resync.
	MaxTxnBytes int64
	// MaxMergeBytes bounds the writes of consecutive committed transactions
	// (and plain writes between them) applied together as one stream
	// transaction on B (default 8 MiB; a larger transaction goes alone).
	// Every transaction stays all or nothing; merging saves the begin and
	// commit requests of each.
	MaxMergeBytes int64
	// StructureWait is how long a missing collection or database stays a
	// retryable error before it becomes permanent (default 10 minutes).
	StructureWait time.Duration
	// UniqueRetries bounds the unique-constraint repairs (remove the
	// conflicting document, retry) per document (default 4; ArangoDB's own
	// follower uses 1 + the number of unique indexes).
	UniqueRetries int
	// ValidateSchema applies B's collection schema to replicated documents.
	// Off by default, like ArangoDB's own followers (A validated them already).
	ValidateSchema bool
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
	// Metrics records the apply stage's metrics (NewMetrics); nil is off.
	Metrics *Metrics
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// WithDefaults returns c with every unset field filled in.
func (c Config) WithDefaults() Config {
	if c.MaxRequestDocs == 0 {
		c.MaxRequestDocs = 1000
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = 4 << 20
	}
	if c.Parallelism == 0 {
		c.Parallelism = 1
	}
	if c.MaxTxnBytes == 0 {
		c.MaxTxnBytes = 96 << 20
	}
	if c.MaxMergeBytes == 0 {
		c.MaxMergeBytes = min(8<<20, c.MaxTxnBytes)
	}
	if c.StructureWait == 0 {
		c.StructureWait = 10 * time.Minute
	}
	if c.UniqueRetries == 0 {
		c.UniqueRetries = 4
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.MaxRequestDocs < 1 {
		errs = append(errs, fmt.Errorf("target: MaxRequestDocs = %d: use at least 1 (default 1000)", c.MaxRequestDocs))
	}
	if c.MaxRequestBytes < 1024 {
		errs = append(errs, fmt.Errorf("target: MaxRequestBytes = %d: use at least 1024 (default 4 MiB)", c.MaxRequestBytes))
	}
	if c.Parallelism < 1 || c.Parallelism > 64 {
		errs = append(errs, fmt.Errorf("target: Parallelism = %d: use 1 to 64 (default 1)", c.Parallelism))
	}
	if c.MaxTxnBytes < int64(c.MaxRequestBytes) {
		errs = append(errs, fmt.Errorf("target: MaxTxnBytes = %d is below MaxRequestBytes = %d: raise it (default 96 MiB)", c.MaxTxnBytes, c.MaxRequestBytes))
	}
	if c.MaxMergeBytes < 0 || c.MaxMergeBytes > c.MaxTxnBytes {
		errs = append(errs, fmt.Errorf("target: MaxMergeBytes = %d: use 0 to MaxTxnBytes = %d (default 8 MiB)", c.MaxMergeBytes, c.MaxTxnBytes))
	}
	if c.StructureWait < 0 {
		errs = append(errs, fmt.Errorf("target: StructureWait = %v: must not be negative (default 10m)", c.StructureWait))
	}
	if c.UniqueRetries < 1 {
		errs = append(errs, fmt.Errorf("target: UniqueRetries = %d: use at least 1 (default 4)", c.UniqueRetries))
	}
	return errors.Join(errs...)
}
