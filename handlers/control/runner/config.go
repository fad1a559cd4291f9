package runner

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/source"
	"github.com/dc2dc/dc2dc/handlers/task/receive"
	"github.com/dc2dc/dc2dc/handlers/task/send"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
	"github.com/dc2dc/dc2dc/store"
)

// Config of a Runner.
type Config struct {
	// WorkerID names the worker (the ctl.down consumer group
	// dc2dc.<sync>.ctl.<WorkerID>, the epoch counters).
	WorkerID string
	// Kafka is this datacenter's Kafka (the syncs' topics).
	Kafka kafka.Config
	// Cluster is the local cluster with its JWT secret (the DB-Servers'
	// replication APIs take only the superuser JWT).
	Cluster client.Config
	// Store is the worker's checkpoint store; when nil it must be handed
	// over with UseStore before the first Assign or Syncs.
	Store *store.Store

	// Send is the template of every send task's configuration (Source,
	// Batch, HeartbeatInterval, timeouts, backoffs); Sync, Shard, Topic,
	// Logger and the Source's SyncerID/ServerID/ClientInfo are set per task.
	Send send.Config
	// Receive is the template of every receive side's configuration
	// (Apply, Retry, ResyncRepeat, …); Sync, Kafka, Topics, Logger and the
	// providers are set per sync.
	Receive receive.Config
	// WatchInterval between two looks at the local cluster's shard map
	// (send side; default 2s).
	WatchInterval time.Duration
	// TopicWaitLog: while a sync's topics do not exist, the wait is logged
	// again this often (default 30s).
	TopicWaitLog time.Duration
	// RestartBackoff and MaxRestartBackoff bound the wait before a receive
	// side or a ctl listener that ended with an error is started again
	// (defaults 500ms and 30s, doubling).
	RestartBackoff    time.Duration
	MaxRestartBackoff time.Duration

	Logger         *slog.Logger
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
}

// WithDefaults fills the unset fields.
func (c Config) WithDefaults() Config {
	if c.WatchInterval == 0 {
		c.WatchInterval = 2 * time.Second
	}
	if c.TopicWaitLog == 0 {
		c.TopicWaitLog = 30 * time.Second
	}
	if c.RestartBackoff == 0 {
		c.RestartBackoff = 500 * time.Millisecond
	}
	if c.MaxRestartBackoff == 0 {
		c.MaxRestartBackoff = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Kafka.MeterProvider == nil {
		c.Kafka.MeterProvider = c.MeterProvider
	}
	if c.Kafka.Logger == nil {
		c.Kafka.Logger = c.Logger.With("kafka", "local")
	}
	c.Kafka.EnsureDefaults()
	c.Cluster = c.Cluster.WithDefaults()
	return c
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.WorkerID) == "" {
		errs = append(errs, errors.New("runner: no worker id: give the worker a stable --server.id"))
	}
	if err := c.Kafka.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("this datacenter's Kafka (--kafka.*): %w", err))
	}
	if err := c.Cluster.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("the local cluster (--cluster.endpoint): %w", err))
	}
	if c.Cluster.JWTSecret == "" {
		errs = append(errs, errors.New("the local cluster's JWT secret is missing: give --cluster.jwt-secret-file (the DB-Servers' replication APIs take only superuser tokens)"))
	}
	// The templates, checked once with a stand-in sync and shard.
	sc := c.Send
	sc.Sync, sc.Topic = "check", "dc2dc.check.data"
	sc.Shard = source.Shard{Ref: events.ShardRef{Database: "db", CollectionID: "1", Index: 0}, Name: "s1"}
	if err := sc.WithDefaults().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("send task settings: %w", err))
	}
	if err := c.Send.Source.WithDefaults().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("send task source settings: %w", err))
	}
	rc := c.Receive
	rc.Sync = "check"
	rc.Topics, _ = kafka.TopicsFor("", "check")
	if err := rc.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("receive settings: %w", err))
	}
	if c.WatchInterval < 0 || c.TopicWaitLog < 0 {
		errs = append(errs, fmt.Errorf("runner: watch interval %v and topic wait log %v must be positive", c.WatchInterval, c.TopicWaitLog))
	}
	if c.RestartBackoff <= 0 || c.MaxRestartBackoff < c.RestartBackoff {
		errs = append(errs, fmt.Errorf("runner: restart backoff %v / max %v: positive, max at least the backoff", c.RestartBackoff, c.MaxRestartBackoff))
	}
	return errors.Join(errs...)
}
