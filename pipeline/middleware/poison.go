package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// Metadata the poison middleware adds to a poisoned message (next to all of
// the original's metadata).
const (
	PoisonReason    = "dc2dc-poison-reason"    // the failure code, e.g. DC2DC-E2001
	PoisonError     = "dc2dc-poison-error"     // the error text
	PoisonStack     = "dc2dc-poison-stack"     // the stack of a recovered panic
	PoisonTopic     = "dc2dc-poison-topic"     // where the message was consumed from
	PoisonPartition = "dc2dc-poison-partition" // its Kafka partition, when known
	PoisonOffset    = "dc2dc-poison-offset"    // its Kafka offset, when known
	PoisonTime      = "dc2dc-poison-time"      // when it was poisoned, RFC 3339
)

// maxStack bounds the stack kept in a poison message's metadata.
const maxStack = 8 << 10

// Location is where a consumed message came from.
type Location struct {
	Topic     string
	Partition int32
	Offset    int64
	Known     bool // Partition and Offset are set
}

// KafkaLocation reads the location watermill's router and watermill-kafka's
// subscriber put into a message's context.
func KafkaLocation(msg *message.Message) Location {
	ctx := msg.Context()
	loc := Location{Topic: message.SubscribeTopicFromCtx(ctx)}
	p, okP := kafka.MessagePartitionFromCtx(ctx)
	o, okO := kafka.MessagePartitionOffsetFromCtx(ctx)
	if okP && okO {
		loc.Partition, loc.Offset, loc.Known = p, o, true
	}
	return loc
}

// PoisonConfig configures Poison.
type PoisonConfig struct {
	// Topic receives the poisoned messages (required).
	Topic string
	// Publisher publishes them (required). It should be a publisher of its
	// own, not the router's handler publisher.
	Publisher message.Publisher
	// Locate says where a message came from (default KafkaLocation).
	Locate func(*message.Message) Location
	// PublishAttempts bounds the attempts to publish one poison message
	// before the original is nacked (default 5); waits between them grow
	// from 50ms to 2s.
	PublishAttempts int
	// Logger (nil: discard) and Metrics (nil: none).
	Logger  *slog.Logger
	Metrics *Metrics
}

// Validate reports every problem at once.
func (c PoisonConfig) Validate() error {
	var errs []error
	if c.Topic == "" {
		errs = append(errs, errors.New("poison: Topic is empty: name the sync's poison topic"))
	}
	if c.Publisher == nil {
		errs = append(errs, errors.New("poison: Publisher is nil: give it a publisher for the poison topic"))
	}
	if c.PublishAttempts < 0 {
		errs = append(errs, errors.New("poison: PublishAttempts is negative: use 0 for the default"))
	}
	return errors.Join(errs...)
}

// Poison parks messages whose handling failed permanently
// (failure.IsPermanent: decode errors, foreign messages, unknown versions,
// recovered panics, permanent apply errors) on the poison topic, then reports
// success so the original is acked and the consumer keeps going. The poison
// message keeps the original payload and metadata and adds PoisonReason
// (the failure code), PoisonError, PoisonTopic/Partition/Offset (when known)
// and PoisonTime.
//
// If the poison message cannot be published, the failure is retried a few
// times and then returned as a retryable error (failure.CodePoisonPublish):
// the original is nacked and redelivered, never lost. Errors that are not
// permanent pass through untouched.
type Poison struct {
	cfg  PoisonConfig
	wait func(ctx context.Context, d time.Duration) error
}

// NewPoison returns the poison middleware.
func NewPoison(cfg PoisonConfig) (*Poison, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Locate == nil {
		cfg.Locate = KafkaLocation
	}
	if cfg.PublishAttempts == 0 {
		cfg.PublishAttempts = 5
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Poison{cfg: cfg, wait: sleepCtx}, nil
}

// Middleware is the message.HandlerMiddleware.
func (p *Poison) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		out, err := h(msg)
		if err == nil || !failure.IsPermanent(err) {
			return out, err
		}
		code := failure.CodeOf(err)
		if code == "" {
			// A permanent error nobody coded comes from the handler,
			// i.e. the apply.
			code = failure.CodeApplyRejected
		}
		poisoned := p.poisonMessage(msg, code, err)
		if perr := p.publish(msg.Context(), poisoned); perr != nil {
			p.cfg.Logger.Error("cannot publish to the poison topic; the message will be redelivered",
				"uuid", msg.UUID, "topic", p.cfg.Topic, "reason", code, "err", perr)
			// Outermost class wins: retryable, so the message is nacked
			// and redelivered instead of being poisoned (or lost) again.
			return nil, failure.WithCode(failure.CodePoisonPublish, failure.Retryable(
				fmt.Errorf("%w; publishing it to poison topic %s failed: %w", err, p.cfg.Topic, perr)))
		}
		p.cfg.Metrics.poisoned(msg, code)
		trace.SpanFromContext(msg.Context()).AddEvent("dc2dc.poisoned", trace.WithAttributes(
			attribute.String("dc2dc.poison.reason", string(code)),
			attribute.String("dc2dc.poison.topic", p.cfg.Topic)))
		p.cfg.Logger.Warn("message sent to the poison topic",
			"uuid", msg.UUID, "poison_topic", p.cfg.Topic, "reason", code.String(), "err", err,
			"topic", poisoned.Metadata.Get(PoisonTopic), "partition", poisoned.Metadata.Get(PoisonPartition),
			"offset", poisoned.Metadata.Get(PoisonOffset), "fix", code.Fix())
		return nil, nil
	}
}

func (p *Poison) poisonMessage(msg *message.Message, code failure.Code, err error) *message.Message {
	pm := message.NewMessage(watermill.NewUUID(), msg.Payload)
	for k, v := range msg.Metadata {
		pm.Metadata.Set(k, v)
	}
	pm.Metadata.Set(PoisonReason, string(code))
	pm.Metadata.Set(PoisonError, err.Error())
	pm.Metadata.Set(PoisonTime, time.Now().UTC().Format(time.RFC3339Nano))
	var pe *PanicError
	if errors.As(err, &pe) {
		st := pe.Stack
		if len(st) > maxStack {
			st = st[:maxStack]
		}
		pm.Metadata.Set(PoisonStack, string(st))
	}
	loc := p.cfg.Locate(msg)
	if loc.Topic != "" {
		pm.Metadata.Set(PoisonTopic, loc.Topic)
	}
	if loc.Known {
		pm.Metadata.Set(PoisonPartition, strconv.FormatInt(int64(loc.Partition), 10))
		pm.Metadata.Set(PoisonOffset, strconv.FormatInt(loc.Offset, 10))
	}
	// Keep the trace: the poison message links to the consumer's span.
	pm.SetContext(msg.Context())
	return pm
}

func (p *Poison) publish(ctx context.Context, pm *message.Message) error {
	wait := 50 * time.Millisecond
	var err error
	for attempt := 1; ; attempt++ {
		if err = p.cfg.Publisher.Publish(p.cfg.Topic, pm); err == nil {
			return nil
		}
		if attempt >= p.cfg.PublishAttempts || failure.IsStopped(err) {
			return err
		}
		if werr := p.wait(ctx, wait); werr != nil {
			return errors.Join(err, werr)
		}
		wait = min(2*wait, 2*time.Second)
	}
}
