package send

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/dc2dc/dc2dc/handlers/source"
	"github.com/dc2dc/dc2dc/handlers/task/ctl"
	"github.com/dc2dc/dc2dc/pipeline/batcher"
	"github.com/dc2dc/dc2dc/store"
)

// Config tunes a Task. Zero fields take defaults (WithDefaults).
type Config struct {
	Sync  string       // sync id
	Shard source.Shard // the shard of A
	// Topic is the data topic, dc2dc.<sync>.data.
	Topic  string
	Source source.Config
	Batch  batcher.Config
	// HeartbeatInterval: a heartbeat goes out when nothing was emitted for
	// this long (default 1s).
	HeartbeatInterval time.Duration
	// TreeTimeout bounds the wait for B's revision tree before falling back
	// to a full snapshot (default 2 min); RevisionsTimeout bounds the wait
	// for B's revisions in a range (default 2 min).
	TreeTimeout      time.Duration
	RevisionsTimeout time.Duration
	// RetryBackoff and MaxRetryBackoff bound the wait after a retryable
	// error (defaults 200 ms and 10 s, doubling).
	RetryBackoff    time.Duration
	MaxRetryBackoff time.Duration
	// From names this side in control messages (default "A").
	From   string
	Logger *slog.Logger
}

// Deps are what a Task uses.
type Deps struct {
	Store     *store.Store      // the worker's checkpoint store
	Epochs    Epochs            // epoch allocation
	Publisher message.Publisher // Kafka A publisher, decorated (tracing, metrics)
	Dialer    source.Dialer     // A's DB-Servers
	Leaders   source.Leaders    // shard leaders (a *client.Watcher); may be nil
	// Metrics of the WAL tail (shared by a worker's tasks); nil is off.
	Metrics *Metrics
	// Listener receives B's answers and resync requests on ctl.down; nil
	// turns the remote revision resync off (every epoch is a full dump).
	Listener *ctl.Listener
}

// WithDefaults fills the zero fields.
func (c Config) WithDefaults() Config {
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = time.Second
	}
	if c.TreeTimeout == 0 {
		c.TreeTimeout = 2 * time.Minute
	}
	if c.RevisionsTimeout == 0 {
		c.RevisionsTimeout = 2 * time.Minute
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = 200 * time.Millisecond
	}
	if c.MaxRetryBackoff == 0 {
		c.MaxRetryBackoff = 10 * time.Second
	}
	if c.From == "" {
		c.From = "A"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Batch.EnsureDefaults()
	return c
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Sync == "" {
		errs = append(errs, errors.New("send task: no sync id"))
	}
	if c.Topic == "" {
		errs = append(errs, errors.New("send task: no data topic: give dc2dc.<sync>.data"))
	}
	if err := c.Shard.Ref.Validate(); err != nil || c.Shard.Ref.IsMeta() {
		errs = append(errs, fmt.Errorf("send task: shard %q is not a shard stream", c.Shard.Ref))
	}
	if c.HeartbeatInterval <= 0 || c.TreeTimeout <= 0 || c.RevisionsTimeout <= 0 {
		errs = append(errs, errors.New("send task: heartbeat interval and timeouts must be positive"))
	}
	if c.RetryBackoff <= 0 || c.MaxRetryBackoff < c.RetryBackoff {
		errs = append(errs, fmt.Errorf("send task: retry backoff %v / max %v: positive, max at least the backoff", c.RetryBackoff, c.MaxRetryBackoff))
	}
	if err := c.Batch.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (d Deps) validate() error {
	var errs []error
	if d.Store == nil || d.Epochs == nil || d.Publisher == nil || d.Dialer == nil {
		errs = append(errs, errors.New("send task: a store, an epoch allocator, a publisher and a DB-Server dialer are required"))
	}
	return errors.Join(errs...)
}
