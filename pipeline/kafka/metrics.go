package kafka

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// MeterName is the instrumentation scope of the transport's metrics.
const MeterName = "github.com/dc2dc/dc2dc/pipeline/kafka"

// Metric names (OpenTelemetry; the Prometheus exporter turns dots into
// underscores and adds unit and _total suffixes). They measure the Kafka hop
// itself; messages and bytes per topic are counted by pipeline/middleware.
const (
	MetricPublishDuration = "dc2dc.kafka.publish.duration"     // {topic}, seconds from send to Kafka's ack, per record
	MetricRecords         = "dc2dc.kafka.published.records"    // {topic}, Kafka records written (fragments count one each)
	MetricRecordBytes     = "dc2dc.kafka.published.bytes"      // {topic}, payload bytes written
	MetricPublishErrors   = "dc2dc.kafka.publish.errors"       // {topic, code}
	MetricFragmented      = "dc2dc.kafka.fragmented.messages"  // {topic}, messages split into fragments
	MetricReassembled     = "dc2dc.kafka.reassembled.messages" // {topic}, fragment runs delivered whole
	MetricBrokenRuns      = "dc2dc.kafka.broken.fragment_runs" // {topic}, fragment runs delivered as broken
)

// metrics are the transport's instruments; the zero value (from a nil
// provider) records nothing.
type metrics struct {
	topics sync.Map // topic → metric.MeasurementOption, to build each once

	duration                            metric.Float64Histogram
	records, bytes, errors              metric.Int64Counter
	fragmented, reassembled, brokenRuns metric.Int64Counter
}

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	meter := mp.Meter(MeterName)
	m := &metrics{}
	var err error
	if m.duration, err = meter.Float64Histogram(MetricPublishDuration, metric.WithUnit("s"),
		metric.WithDescription("Time from sending one record to Kafka's acknowledgement (acks=all), by topic."),
		metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)); err != nil {
		return nil, err
	}
	counters := []struct {
		dst              *metric.Int64Counter
		name, unit, desc string
	}{
		{&m.records, MetricRecords, "{record}", "Kafka records written, fragments included, by topic."},
		{&m.bytes, MetricRecordBytes, "By", "Payload bytes written to Kafka, by topic."},
		{&m.errors, MetricPublishErrors, "{error}", "Failed record sends, by topic and DC2DC error code."},
		{&m.fragmented, MetricFragmented, "{message}", "Messages split into fragments because they exceed the record size limit, by topic."},
		{&m.reassembled, MetricReassembled, "{message}", "Fragment runs reassembled and delivered whole, by topic."},
		{&m.brokenRuns, MetricBrokenRuns, "{run}", "Fragment runs that could not be reassembled (delivered with dc2dc-frag-error), by topic."},
	}
	for _, c := range counters {
		if *c.dst, err = meter.Int64Counter(c.name, metric.WithUnit(c.unit), metric.WithDescription(c.desc)); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func topicAttr(topic string) metric.MeasurementOption {
	return metric.WithAttributes(attribute.String("topic", topic))
}

// topic returns the topic attribute option, built once per topic.
func (m *metrics) topic(topic string) metric.MeasurementOption {
	if o, ok := m.topics.Load(topic); ok {
		return o.(metric.MeasurementOption)
	}
	o, _ := m.topics.LoadOrStore(topic, topicAttr(topic))
	return o.(metric.MeasurementOption)
}

func (m *metrics) published(topic string, payload int, took time.Duration, err error) {
	ctx := context.Background()
	if err != nil {
		m.errors.Add(ctx, 1, metric.WithAttributes(attribute.String("topic", topic), attribute.String("code", string(failure.CodeOf(err)))))
		return
	}
	attrs := m.topic(topic)
	m.duration.Record(ctx, took.Seconds(), attrs)
	m.records.Add(ctx, 1, attrs)
	m.bytes.Add(ctx, int64(payload), attrs)
}
