package middleware

import (
	"errors"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/dc2dc/dc2dc/events"
)

// Config configures the consumer chain. Zero values take defaults; Validate
// reports every problem at once.
type Config struct {
	// PoisonTopic and PoisonPublisher: where permanently failing messages
	// go (both required).
	PoisonTopic     string
	PoisonPublisher message.Publisher
	// Applied gives the durably applied position per shard (the checkpoint
	// store). Nil: dedupe works from memory only, so after a restart every
	// replayed batch is handed to the (idempotent) handler again.
	Applied AppliedPositions
	// OnGap is told about every batch Dedupe refuses because a batch before
	// it is missing (see Dedupe); the receive task asks for a resync of the
	// shard. Nil: the gap is only logged by Poison and counted.
	OnGap func(shard string, applied events.Position, b *events.Batch)
	// Redeliver names replays the handler must see anyway (Dedupe.Redeliver).
	Redeliver func(b *events.Batch) bool
	// Retry configures retries of retryable handler errors.
	Retry RetryConfig
	// Locate says where a consumed message came from (default
	// KafkaLocation, which reads watermill-kafka's context values).
	Locate func(*message.Message) Location
	// TracerProvider and MeterProvider: nil turns tracing or metrics off.
	// The global providers are never used.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// Logger: nil discards.
	Logger *slog.Logger
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.PoisonTopic == "" {
		errs = append(errs, errors.New("middleware: PoisonTopic is empty: name the sync's poison topic"))
	}
	if c.PoisonPublisher == nil {
		errs = append(errs, errors.New("middleware: PoisonPublisher is nil: give the chain a publisher for the poison topic"))
	}
	r := c.Retry
	r.EnsureDefaults()
	if err := r.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Chain is the consumer's middleware stack. Middlewares is the one place
// that fixes their order; the package doc says why.
type Chain struct {
	Tracing *Tracing
	Poison  *Poison
	Metrics *Metrics
	Dedupe  *Dedupe
	Retry   *Retry
}

// New builds the chain.
func New(cfg Config) (*Chain, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := NewMetrics(cfg.MeterProvider)
	if err != nil {
		return nil, err
	}
	p, err := NewPoison(PoisonConfig{
		Topic: cfg.PoisonTopic, Publisher: cfg.PoisonPublisher, Locate: cfg.Locate,
		Logger: cfg.Logger, Metrics: m,
	})
	if err != nil {
		_ = m.Close()
		return nil, err
	}
	r, err := NewRetry(cfg.Retry, cfg.Logger, m)
	if err != nil {
		_ = m.Close()
		return nil, err
	}
	d := NewDedupe(cfg.Applied, m)
	d.OnGap = cfg.OnGap
	d.Redeliver = cfg.Redeliver
	return &Chain{
		Tracing: NewTracing(cfg.TracerProvider),
		Poison:  p,
		Metrics: m,
		Dedupe:  d,
		Retry:   r,
	}, nil
}

// Middlewares returns the stack, outermost first, in the order the package
// doc explains: the order in which message.Router.AddMiddleware (or
// Handler.AddMiddleware) must receive them.
func (c *Chain) Middlewares() []message.HandlerMiddleware {
	return []message.HandlerMiddleware{
		c.Tracing.Middleware,
		c.Poison.Middleware,
		c.Metrics.Middleware,
		Recover,
		Decode,
		c.Dedupe.Middleware,
		c.Retry.Middleware,
	}
}

// Wrap applies the stack to h directly (without a router).
func (c *Chain) Wrap(h message.HandlerFunc) message.HandlerFunc {
	mws := c.Middlewares()
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// PublisherDecorators returns the producer-side decorators (tracing, then
// metrics): wrap the send-shard task's publisher with them, e.g.
// router.AddPublisherDecorators(chain.PublisherDecorators()...) or
// DecoratePublisher.
func (c *Chain) PublisherDecorators() []message.PublisherDecorator {
	return []message.PublisherDecorator{c.Tracing.PublisherDecorator(), c.Metrics.PublisherDecorator()}
}

// DecoratePublisher wraps pub with the producer-side decorators.
func DecoratePublisher(pub message.Publisher, decs ...message.PublisherDecorator) (message.Publisher, error) {
	// The first decorator is the outermost.
	for i := len(decs) - 1; i >= 0; i-- {
		var err error
		if pub, err = decs[i](pub); err != nil {
			return nil, err
		}
	}
	return pub, nil
}

// ReleaseShard forgets a released shard: its dedupe position (reloaded from
// Applied when the shard comes back) and its lag series.
func (c *Chain) ReleaseShard(shard string) {
	c.Dedupe.Forget(shard)
	c.Metrics.ReleaseShard(shard)
}

// Close releases the metrics callback. Idempotent.
func (c *Chain) Close() error { return c.Metrics.Close() }
