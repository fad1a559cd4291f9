package middleware

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// MeterName is the instrumentation scope of the pipeline's metrics.
const MeterName = "github.com/dc2dc/dc2dc/pipeline/middleware"

// Metric names (OpenTelemetry; the Prometheus exporter turns dots into
// underscores and adds unit and _total suffixes).
const (
	MetricMessages        = "dc2dc.pipeline.consumed.messages"  // {topic}
	MetricBytes           = "dc2dc.pipeline.consumed.bytes"     // {topic}
	MetricPublished       = "dc2dc.pipeline.published.messages" // {topic}
	MetricPublishedBytes  = "dc2dc.pipeline.published.bytes"    // {topic}
	MetricBatchRecords    = "dc2dc.pipeline.batch.records"      // {topic}
	MetricHandlerDuration = "dc2dc.pipeline.handler.duration"   // {topic}, seconds
	MetricErrors          = "dc2dc.pipeline.errors"             // {topic, code, class}
	MetricRetries         = "dc2dc.pipeline.retries"            // {topic, code}
	MetricDuplicates      = "dc2dc.pipeline.duplicates"         // {topic}
	MetricPoisoned        = "dc2dc.pipeline.poisoned"           // {topic, reason}
	MetricLagSeconds      = "dc2dc.pipeline.lag.seconds"        // {shard}
	MetricLagTicks        = "dc2dc.pipeline.lag.ticks"          // {shard}
)

// Metrics measures the consumer side of the pipeline (and, with
// PublisherDecorator, what is published). Its Middleware counts messages,
// bytes, batch sizes, handler durations and errors by code; Dedupe, Retry
// and Poison report duplicates, retries and poisoned messages through it.
//
// Per shard it keeps two gauges, observed at collection time:
//
//   - lag.seconds: now − SentAt of the newest batch of the shard that was
//     applied (or found already applied). Heartbeats are batches too, so an
//     idle healthy shard shows at most the heartbeat interval plus transit;
//     a stuck one grows. SentAt is datacenter A's clock: clock skew between
//     the datacenters adds to it.
//   - lag.ticks: the leader's latest tick (from the newest heartbeat of the
//     current epoch) − the tick of the newest applied batch, once a
//     heartbeat has been seen.
//
// ReleaseShard deletes a shard's series. A nil *Metrics records nothing.
type Metrics struct {
	messages, bytes, published, publishedBytes metric.Int64Counter
	errors, retries, duplicates, poisonedC     metric.Int64Counter
	records                                    metric.Int64Histogram
	duration                                   metric.Float64Histogram
	lagSeconds                                 metric.Float64ObservableGauge
	lagTicks                                   metric.Int64ObservableGauge
	reg                                        metric.Registration
	now                                        func() time.Time

	mu     sync.Mutex
	shards map[string]*shardLag
}

type shardLag struct {
	applied    events.Position
	hasApplied bool
	sentAt     time.Time
	leaderTick uint64
	leaderEp   uint64
	hasLeader  bool
}

// NewMetrics creates the instruments on mp (nil: a no-op provider), never
// on the global provider. Close unregisters the gauges' callback.
func NewMetrics(mp metric.MeterProvider) (*Metrics, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	meter := mp.Meter(MeterName)
	m := &Metrics{now: time.Now, shards: make(map[string]*shardLag)}
	var errs []error
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := meter.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	m.messages = counter(MetricMessages, "{message}", "Messages consumed, by topic.")
	m.bytes = counter(MetricBytes, "By", "Payload bytes consumed, by topic.")
	m.published = counter(MetricPublished, "{message}", "Messages published, by topic.")
	m.publishedBytes = counter(MetricPublishedBytes, "By", "Payload bytes published, by topic.")
	m.errors = counter(MetricErrors, "{error}", "Handler errors, by topic, failure code and class.")
	m.retries = counter(MetricRetries, "{retry}", "Handler retries after a retryable error, by topic and code.")
	m.duplicates = counter(MetricDuplicates, "{message}", "Messages skipped as already applied, by topic.")
	m.poisonedC = counter(MetricPoisoned, "{message}", "Messages sent to the poison topic, by topic and reason code.")
	var err error
	m.records, err = meter.Int64Histogram(MetricBatchRecords, metric.WithUnit("{record}"),
		metric.WithDescription("Records per consumed batch, by topic."),
		metric.WithExplicitBucketBoundaries(1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000))
	errs = append(errs, err)
	m.duration, err = meter.Float64Histogram(MetricHandlerDuration, metric.WithUnit("s"),
		metric.WithDescription("Time to handle one message (decode, dedupe, retries, apply), by topic."),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
	errs = append(errs, err)
	m.lagSeconds, err = meter.Float64ObservableGauge(MetricLagSeconds, metric.WithUnit("s"),
		metric.WithDescription("Now minus the send time of the newest applied batch, by shard."))
	errs = append(errs, err)
	m.lagTicks, err = meter.Int64ObservableGauge(MetricLagTicks, metric.WithUnit("{tick}"),
		metric.WithDescription("Leader tick from the newest heartbeat minus the newest applied tick, by shard."))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	m.reg, err = meter.RegisterCallback(m.observe, m.lagSeconds, m.lagTicks)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Close unregisters the gauges. It is safe to call more than once.
func (m *Metrics) Close() error {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	reg := m.reg
	m.reg = nil
	m.mu.Unlock()
	if reg == nil {
		return nil
	}
	return reg.Unregister()
}

func (m *Metrics) observe(_ context.Context, o metric.Observer) error {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for shard, s := range m.shards {
		attrs := metric.WithAttributes(attribute.String("shard", shard))
		if s.hasApplied && !s.sentAt.IsZero() {
			o.ObserveFloat64(m.lagSeconds, max(0, now.Sub(s.sentAt).Seconds()), attrs)
		}
		if s.hasLeader && s.hasApplied && s.leaderEp == s.applied.Epoch {
			var lag int64
			if s.leaderTick > s.applied.Tick {
				lag = int64(s.leaderTick - s.applied.Tick)
			}
			o.ObserveInt64(m.lagTicks, lag, attrs)
		}
	}
	return nil
}

// ReleaseShard deletes the shard's lag series (when the shard is released).
func (m *Metrics) ReleaseShard(shard string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	delete(m.shards, shard)
	m.mu.Unlock()
}

func topicAttr(msg *message.Message) attribute.KeyValue {
	return attribute.String("topic", message.SubscribeTopicFromCtx(msg.Context()))
}

// Middleware is the message.HandlerMiddleware. Placed outside Decode, it
// reads the batch Decode attached after the inner handler returns.
func (m *Metrics) Middleware(h message.HandlerFunc) message.HandlerFunc {
	if m == nil {
		return h
	}
	return func(msg *message.Message) ([]*message.Message, error) {
		ctx := msg.Context()
		topic := metric.WithAttributes(topicAttr(msg))
		m.messages.Add(ctx, 1, topic)
		m.bytes.Add(ctx, int64(len(msg.Payload)), topic)
		start := time.Now()
		out, err := h(msg)
		m.duration.Record(ctx, time.Since(start).Seconds(), topic)
		b, decoded := BatchFrom(msg)
		if decoded {
			m.records.Record(ctx, int64(len(b.Records)), topic)
			m.observeBatch(b, err == nil)
		}
		if err != nil {
			code := failure.CodeOf(err)
			if code == "" {
				code = "unclassified"
			}
			m.errors.Add(ctx, 1, metric.WithAttributes(topicAttr(msg),
				attribute.String("code", string(code)),
				attribute.String("class", failure.Classify(err).String())))
		}
		return out, err
	}
}

// observeBatch updates the shard's lag state: heartbeats always, the applied
// position only when the batch was applied (or skipped as applied).
func (m *Metrics) observeBatch(b *events.Batch, applied bool) {
	shard := b.Shard.String()
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.shards[shard]
	if s == nil {
		s = &shardLag{}
		m.shards[shard] = s
	}
	for _, r := range b.Records {
		hb, ok := r.Event.(*events.Heartbeat)
		if !ok {
			continue
		}
		if !s.hasLeader || b.Pos.Epoch > s.leaderEp || (b.Pos.Epoch == s.leaderEp && hb.LeaderTick > s.leaderTick) {
			s.leaderTick, s.leaderEp, s.hasLeader = hb.LeaderTick, b.Pos.Epoch, true
		}
	}
	if !applied {
		return
	}
	if !s.hasApplied || s.applied.Less(b.Pos) {
		s.applied, s.hasApplied = b.Pos, true
	}
	if b.SentAt.After(s.sentAt) {
		s.sentAt = b.SentAt
	}
}

func (m *Metrics) duplicate(msg *message.Message, _ string) {
	if m == nil {
		return
	}
	m.duplicates.Add(msg.Context(), 1, metric.WithAttributes(topicAttr(msg)))
}

func (m *Metrics) retry(msg *message.Message, err error) {
	if m == nil {
		return
	}
	m.retries.Add(msg.Context(), 1, metric.WithAttributes(topicAttr(msg),
		attribute.String("code", string(failure.CodeOf(err)))))
}

func (m *Metrics) poisoned(msg *message.Message, reason failure.Code) {
	if m == nil {
		return
	}
	m.poisonedC.Add(msg.Context(), 1, metric.WithAttributes(topicAttr(msg),
		attribute.String("reason", string(reason))))
}

// PublisherDecorator counts published messages and bytes per topic (the
// producer side). Only successful publishes are counted.
func (m *Metrics) PublisherDecorator() message.PublisherDecorator {
	return func(pub message.Publisher) (message.Publisher, error) {
		if m == nil {
			return pub, nil
		}
		return &metricsPublisher{Publisher: pub, m: m}, nil
	}
}

type metricsPublisher struct {
	message.Publisher
	m *Metrics
}

func (p *metricsPublisher) Publish(topic string, msgs ...*message.Message) error {
	if err := p.Publisher.Publish(topic, msgs...); err != nil {
		return err
	}
	var n int64
	for _, msg := range msgs {
		n += int64(len(msg.Payload))
	}
	attrs := metric.WithAttributes(attribute.String("topic", topic))
	p.m.published.Add(context.Background(), int64(len(msgs)), attrs)
	p.m.publishedBytes.Add(context.Background(), n, attrs)
	return nil
}
