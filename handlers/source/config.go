package source

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dc2dc/dc2dc/events"
)

// Config tunes a Source. The zero value is usable after WithDefaults.
type Config struct {
	// ChunkSize is the WAL tail response size in bytes (default 1 MiB).
	ChunkSize int
	// DumpChunkSize is the dump response size in bytes (default 1 MiB).
	DumpChunkSize int
	// MaxRecords and MaxBytes bound one Emit call (defaults 1000 and
	// 4 MiB); a single larger record is emitted alone.
	MaxRecords int
	MaxBytes   int
	// MaxTxnRecords and MaxTxnBytes bound the records of an open
	// transaction held back before they are emitted in chunks
	// (defaults 10000 and 16 MiB).
	MaxTxnRecords int
	MaxTxnBytes   int
	// MaxRepairRevisions bounds the target revisions asked for at once in a
	// revision repair (default 65536).
	MaxRepairRevisions int
	// MaxTailRecords bounds the records taken from one WAL answer (default
	// 10000); the rest is read by the next request.
	MaxTailRecords int
	// DocumentsPerRequest is the number of revisions asked for in one
	// /revisions/documents request (default 1000).
	DocumentsPerRequest int
	// BatchTTL is the replication batch's time to live (default 10 min); it
	// is extended every BatchTTL/4 while the snapshot runs.
	BatchTTL time.Duration
	// PollInterval is the wait after an empty tail answer (default 100 ms).
	PollInterval time.Duration
	// RetryBackoff and MaxRetryBackoff bound the wait between retries of a
	// retryable error (defaults 100 ms and 5 s, jittered, doubling).
	RetryBackoff    time.Duration
	MaxRetryBackoff time.Duration
	// SyncerID and ServerID identify the tailer to the leader (WAL
	// retention); ClientInfo is shown in logger-state.
	SyncerID   uint64
	ServerID   uint64
	ClientInfo string
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
	// OnTail, when set, is called after every WAL answer (metrics:
	// records tailed, ticks behind = LastTick - From, request time). It
	// must not block.
	OnTail func(TailStats)
}

// TailStats describes one WAL answer.
type TailStats struct {
	Shard    events.ShardRef
	Leader   string
	Records  int
	From     uint64 // the position after the answer
	LastTick uint64 // the leader's latest tick when it answered
	Duration time.Duration
}

// WithDefaults returns cfg with every unset field filled in.
func (cfg Config) WithDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.ChunkSize, 1<<20)
	def(&cfg.DumpChunkSize, 1<<20)
	def(&cfg.MaxRecords, 1000)
	def(&cfg.MaxBytes, 4<<20)
	def(&cfg.MaxTxnRecords, 10000)
	def(&cfg.MaxTxnBytes, 16<<20)
	def(&cfg.DocumentsPerRequest, 1000)
	def(&cfg.MaxTailRecords, 10000)
	def(&cfg.MaxRepairRevisions, 65536)
	if cfg.BatchTTL == 0 {
		cfg.BatchTTL = 10 * time.Minute
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 100 * time.Millisecond
	}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = 100 * time.Millisecond
	}
	if cfg.MaxRetryBackoff == 0 {
		cfg.MaxRetryBackoff = 5 * time.Second
	}
	if cfg.ClientInfo == "" {
		cfg.ClientInfo = "dc2dc send-shard"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// Validate reports every problem at once.
func (cfg Config) Validate() error {
	var errs []error
	pos := func(name string, v int) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("source %s = %d: must be positive", name, v))
		}
	}
	pos("chunk size", cfg.ChunkSize)
	pos("dump chunk size", cfg.DumpChunkSize)
	pos("max records per emit", cfg.MaxRecords)
	pos("max bytes per emit", cfg.MaxBytes)
	pos("max transaction records", cfg.MaxTxnRecords)
	pos("max transaction bytes", cfg.MaxTxnBytes)
	pos("documents per request", cfg.DocumentsPerRequest)
	pos("max tail records", cfg.MaxTailRecords)
	pos("max repair revisions", cfg.MaxRepairRevisions)
	if cfg.ChunkSize > 128<<20 || cfg.DumpChunkSize > 128<<20 {
		errs = append(errs, fmt.Errorf("source chunk sizes %d/%d: ArangoDB caps them at 128 MiB: lower them", cfg.ChunkSize, cfg.DumpChunkSize))
	}
	if cfg.BatchTTL < 4*time.Second {
		errs = append(errs, fmt.Errorf("source batch ttl %v: use at least 4s (it is extended every ttl/4)", cfg.BatchTTL))
	}
	if cfg.PollInterval <= 0 || cfg.RetryBackoff <= 0 {
		errs = append(errs, fmt.Errorf("source poll interval %v and retry backoff %v: must be positive", cfg.PollInterval, cfg.RetryBackoff))
	}
	if cfg.MaxRetryBackoff < cfg.RetryBackoff {
		errs = append(errs, fmt.Errorf("source max retry backoff %v: must be at least the retry backoff %v", cfg.MaxRetryBackoff, cfg.RetryBackoff))
	}
	return errors.Join(errs...)
}
