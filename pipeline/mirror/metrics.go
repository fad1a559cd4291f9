package mirror

import (
	"context"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// metrics holds the mirror's instruments. Prometheus collectors are
// registered on the registerer passed to New (none: not exported); the
// OpenTelemetry instruments come from the meter passed to New (none: off).
type metrics struct {
	records *prometheus.CounterVec // route, topic
	bytes   *prometheus.CounterVec // route, topic
	lag     *prometheus.GaugeVec   // route, topic, partition
	errors  *prometheus.CounterVec // route, kind
	resumes *prometheus.CounterVec // route, from

	otelRecords metric.Int64Counter
	otelBytes   metric.Int64Counter
	otelLag     metric.Int64Gauge
	otelErrors  metric.Int64Counter
}

// Error kinds of dc2dc_mirror_errors_total.
const (
	errKindConsume = "consume" // the source consumer group reported an error
	errKindProduce = "produce" // the target refused or lost a record
	errKindResume  = "resume"  // reading the end of a target partition failed
	errKindTopics  = "topics"  // listing or creating topics failed
	errKindRoute   = "route"   // a route stopped and is restarted
	// errKindRebalance counts consumer-group errors of a session that a
	// rebalance already ended; expected, do not alert on them.
	errKindRebalance = "rebalance"
)

func newMetrics(reg prometheus.Registerer, meter metric.Meter) (*metrics, error) {
	m := &metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dc2dc_mirror_records_forwarded_total",
			Help: "Records the target cluster acknowledged, by route and topic.",
		}, []string{"route", "topic"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dc2dc_mirror_bytes_forwarded_total",
			Help: "Key and value bytes of the records the target acknowledged, by route and topic.",
		}, []string{"route", "topic"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dc2dc_mirror_lag_records",
			Help: "Source records not yet acknowledged by the target (source high-water mark minus next offset), per partition this mirror owns.",
		}, []string{"route", "topic", "partition"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dc2dc_mirror_errors_total",
			Help: "Errors by route and kind (consume, produce, resume, topics, route; rebalance is expected noise).",
		}, []string{"route", "kind"}),
		resumes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dc2dc_mirror_resumes_total",
			Help: "Partition resumptions by where the position came from: target (last forwarded record's header) or group (committed or initial offset).",
		}, []string{"route", "from"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.records, m.bytes, m.lag, m.errors, m.resumes} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	if meter != nil {
		var err error
		if m.otelRecords, err = meter.Int64Counter("dc2dc.mirror.records_forwarded", metric.WithDescription("Records the target cluster acknowledged.")); err != nil {
			return nil, err
		}
		if m.otelBytes, err = meter.Int64Counter("dc2dc.mirror.bytes_forwarded", metric.WithUnit("By"), metric.WithDescription("Key and value bytes the target acknowledged.")); err != nil {
			return nil, err
		}
		if m.otelLag, err = meter.Int64Gauge("dc2dc.mirror.lag", metric.WithDescription("Source records not yet acknowledged by the target, per partition.")); err != nil {
			return nil, err
		}
		if m.otelErrors, err = meter.Int64Counter("dc2dc.mirror.errors", metric.WithDescription("Mirror errors by kind.")); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) unregister(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	for _, c := range []prometheus.Collector{m.records, m.bytes, m.lag, m.errors, m.resumes} {
		reg.Unregister(c)
	}
}

func (m *metrics) error(route, kind string) {
	m.errors.WithLabelValues(route, kind).Inc()
	if m.otelErrors != nil {
		m.otelErrors.Add(context.Background(), 1, metric.WithAttributes(attribute.String("route", route), attribute.String("kind", kind)))
	}
}

// partMetrics caches one partition's series so the forwarding path does no
// label lookups.
type partMetrics struct {
	m                     *metrics
	route, topic, partStr string
	records, bytes        prometheus.Counter
	lag                   prometheus.Gauge
	topicAttrs, partAttrs metric.MeasurementOption
}

func (m *metrics) partition(route, topic string, partition int32) *partMetrics {
	p := strconv.FormatInt(int64(partition), 10)
	pm := &partMetrics{
		m: m, route: route, topic: topic, partStr: p,
		records: m.records.WithLabelValues(route, topic),
		bytes:   m.bytes.WithLabelValues(route, topic),
		lag:     m.lag.WithLabelValues(route, topic, p),
	}
	if m.otelRecords != nil {
		pm.topicAttrs = metric.WithAttributeSet(attribute.NewSet(attribute.String("route", route), attribute.String("topic", topic)))
		pm.partAttrs = metric.WithAttributeSet(attribute.NewSet(attribute.String("route", route), attribute.String("topic", topic), attribute.Int("partition", int(partition))))
	}
	return pm
}

func (pm *partMetrics) acked(records, bytes int, lag int64) {
	pm.records.Add(float64(records))
	pm.bytes.Add(float64(bytes))
	pm.lag.Set(float64(lag))
	if pm.topicAttrs != nil {
		ctx := context.Background()
		pm.m.otelRecords.Add(ctx, int64(records), pm.topicAttrs)
		pm.m.otelBytes.Add(ctx, int64(bytes), pm.topicAttrs)
		pm.m.otelLag.Record(ctx, lag, pm.partAttrs)
	}
}

func (pm *partMetrics) setLag(lag int64) {
	pm.lag.Set(float64(lag))
	if pm.partAttrs != nil {
		pm.m.otelLag.Record(context.Background(), lag, pm.partAttrs)
	}
}

// release deletes the partition's lag series when this mirror no longer
// owns the partition.
func (pm *partMetrics) release() {
	pm.m.lag.DeleteLabelValues(pm.route, pm.topic, pm.partStr)
}
