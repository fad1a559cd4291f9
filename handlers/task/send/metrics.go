package send

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/dc2dc/dc2dc/handlers/source"
)

// MeterName is the instrumentation scope of the send task's metrics.
const MeterName = "github.com/dc2dc/dc2dc/handlers/task/send"

// Metric names of the WAL tail hop (ARCHITECTURE §9).
const (
	MetricTailRecords = "dc2dc.source.tail.records"         // {shard}
	MetricTicksBehind = "dc2dc.source.ticks_behind"         // {shard}: leader's last tick − tailed tick
	MetricTailRequest = "dc2dc.source.tail.request.seconds" // histogram
)

// Metrics are the send tasks' metrics, shared by the tasks of a worker.
// Release deletes a shard's series when its task ends. A nil *Metrics
// records nothing.
type Metrics struct {
	records  metric.Int64Counter
	request  metric.Float64Histogram
	behind   metric.Int64ObservableGauge
	reg      metric.Registration
	mu       sync.Mutex
	behindBy map[string]int64
}

// NewMetrics creates the instruments on mp (nil: a no-op provider).
func NewMetrics(mp metric.MeterProvider) (*Metrics, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	meter := mp.Meter(MeterName)
	m := &Metrics{behindBy: make(map[string]int64)}
	var err error
	if m.records, err = meter.Int64Counter(MetricTailRecords, metric.WithUnit("{record}"), metric.WithDescription("records read from the shard leader's WAL")); err != nil {
		return nil, err
	}
	if m.request, err = meter.Float64Histogram(MetricTailRequest, metric.WithUnit("s"), metric.WithDescription("duration of one WAL tail request")); err != nil {
		return nil, err
	}
	if m.behind, err = meter.Int64ObservableGauge(MetricTicksBehind, metric.WithUnit("{tick}"), metric.WithDescription("shard leader's latest tick minus the tailed tick")); err != nil {
		return nil, err
	}
	m.reg, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		for shard, v := range m.behindBy {
			o.ObserveInt64(m.behind, v, metric.WithAttributes(attribute.String("shard", shard)))
		}
		return nil
	}, m.behind)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Close unregisters the gauge callback.
func (m *Metrics) Close() error {
	if m == nil || m.reg == nil {
		return nil
	}
	return m.reg.Unregister()
}

func (m *Metrics) tail(s source.TailStats) {
	if m == nil {
		return
	}
	shard := s.Shard.String()
	attrs := metric.WithAttributes(attribute.String("shard", shard))
	m.records.Add(context.Background(), int64(s.Records), attrs)
	m.request.Record(context.Background(), s.Duration.Seconds())
	behind := int64(0)
	if s.LastTick > s.From {
		behind = int64(s.LastTick - s.From)
	}
	m.mu.Lock()
	m.behindBy[shard] = behind
	m.mu.Unlock()
}

// Release deletes a shard's gauge series.
func (m *Metrics) Release(shard string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	delete(m.behindBy, shard)
	m.mu.Unlock()
}
