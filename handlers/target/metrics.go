package target

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// MeterName is the instrumentation scope of the target's metrics.
const MeterName = "github.com/dc2dc/dc2dc/handlers/target"

// Metric names (OpenTelemetry; the Prometheus exporter turns dots into
// underscores and adds unit and _total suffixes). Lag per shard is measured
// by pipeline/middleware (dc2dc.pipeline.lag.*).
const (
	MetricApplyDuration = "dc2dc.target.apply.duration"  // seconds per applied batch
	MetricWrites        = "dc2dc.target.writes"          // {op=document|remove}
	MetricWrittenBytes  = "dc2dc.target.written.bytes"   // document bytes sent to B
	MetricTransactions  = "dc2dc.target.transactions"    // {outcome=committed|aborted|failed}
	MetricUniqueRepairs = "dc2dc.target.unique.repairs"  // conflicting documents removed
	MetricBufferedBytes = "dc2dc.target.buffered.bytes"  // bytes held for open transactions
	MetricResyncs       = "dc2dc.target.resync.requests" // {reason}
)

// Metrics measures the apply stage. A nil *Metrics records nothing.
type Metrics struct {
	duration             metric.Float64Histogram
	writes, bytes        metric.Int64Counter
	txns, repairs, resyn metric.Int64Counter
	buffered             metric.Int64UpDownCounter
}

// NewMetrics creates the instruments on mp; a nil mp gives nil (off).
func NewMetrics(mp metric.MeterProvider) (*Metrics, error) {
	if mp == nil {
		return nil, nil
	}
	m := mp.Meter(MeterName)
	var x Metrics
	var err error
	if x.duration, err = m.Float64Histogram(MetricApplyDuration, metric.WithUnit("s"),
		metric.WithDescription("time to apply one batch to cluster B")); err != nil {
		return nil, err
	}
	if x.writes, err = m.Int64Counter(MetricWrites, metric.WithDescription("documents written and removed in cluster B")); err != nil {
		return nil, err
	}
	if x.bytes, err = m.Int64Counter(MetricWrittenBytes, metric.WithUnit("By"), metric.WithDescription("document bytes sent to cluster B")); err != nil {
		return nil, err
	}
	if x.txns, err = m.Int64Counter(MetricTransactions, metric.WithDescription("source transactions by outcome")); err != nil {
		return nil, err
	}
	if x.repairs, err = m.Int64Counter(MetricUniqueRepairs, metric.WithDescription("documents removed in B to repair a unique-constraint conflict")); err != nil {
		return nil, err
	}
	if x.resyn, err = m.Int64Counter(MetricResyncs, metric.WithDescription("shard resyncs requested by the apply stage")); err != nil {
		return nil, err
	}
	if x.buffered, err = m.Int64UpDownCounter(MetricBufferedBytes, metric.WithUnit("By"),
		metric.WithDescription("bytes of open transactions held until their commit")); err != nil {
		return nil, err
	}
	return &x, nil
}

var (
	attrDocument  = metric.WithAttributes(attribute.String("op", "document"))
	attrRemove    = metric.WithAttributes(attribute.String("op", "remove"))
	attrCommitted = metric.WithAttributes(attribute.String("outcome", "committed"))
	attrAborted   = metric.WithAttributes(attribute.String("outcome", "aborted"))
	attrFailed    = metric.WithAttributes(attribute.String("outcome", "failed"))
)

func (m *Metrics) applied(d time.Duration) {
	if m != nil {
		m.duration.Record(context.Background(), d.Seconds())
	}
}

func (m *Metrics) wrote(docs, removes int, bytes int64) {
	if m == nil {
		return
	}
	ctx := context.Background()
	if docs > 0 {
		m.writes.Add(ctx, int64(docs), attrDocument)
		m.bytes.Add(ctx, bytes)
	}
	if removes > 0 {
		m.writes.Add(ctx, int64(removes), attrRemove)
	}
}

func (m *Metrics) transaction(outcome string) {
	if m == nil {
		return
	}
	switch outcome {
	case "committed":
		m.txns.Add(context.Background(), 1, attrCommitted)
	case "aborted":
		m.txns.Add(context.Background(), 1, attrAborted)
	default:
		m.txns.Add(context.Background(), 1, attrFailed)
	}
}

func (m *Metrics) repaired() {
	if m != nil {
		m.repairs.Add(context.Background(), 1)
	}
}

func (m *Metrics) resync(reason string) {
	if m != nil {
		m.resyn.Add(context.Background(), 1, metric.WithAttributes(attribute.String("reason", reason)))
	}
}

func (m *Metrics) bufferedDelta(n int64) {
	if m != nil && n != 0 {
		m.buffered.Add(context.Background(), n)
	}
}
