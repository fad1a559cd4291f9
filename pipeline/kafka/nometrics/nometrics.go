// Package nometrics gives sarama a metrics registry that records nothing.
//
// sarama keeps rcrowley/go-metrics meters and exponentially decaying
// histograms per broker, topic and request (a lock and a heap operation per
// produce and fetch request, a ticking goroutine per meter); dc2dc reads
// none of them (its metrics are OpenTelemetry's, package pipeline/kafka and
// pipeline/mirror), so every sarama.Config dc2dc builds sets
// MetricRegistry = Registry(). Unlike go-metrics' global UseNilMetrics it
// touches nothing outside the configurations that use it.
//
// Invariant: GetOrRegister never calls the constructor it is given; it
// returns the no-op metric of the constructor's type (sarama asks for
// meters, counters, gauges and histograms), or the given value itself when
// it is a metric rather than a constructor.
package nometrics

import "github.com/rcrowley/go-metrics"

// Registry returns a registry whose metrics record nothing.
func Registry() metrics.Registry { return registry{} }

type registry struct{}

func (registry) Each(func(string, any))                 {}
func (registry) Get(string) any                         { return nil }
func (registry) GetAll() map[string]map[string]any      { return nil }
func (registry) Register(string, any) error             { return nil }
func (registry) RunHealthchecks()                       {}
func (registry) Unregister(string)                      {}
func (registry) UnregisterAll()                         {}
func (registry) GetOrRegister(_ string, metric any) any { return nilOf(metric) }

// nilOf returns the no-op metric for a constructor or metric value.
func nilOf(metric any) any {
	switch metric.(type) {
	case func() metrics.Meter, metrics.Meter:
		return metrics.NilMeter{}
	case func() metrics.Counter, metrics.Counter:
		return metrics.NilCounter{}
	case func() metrics.Gauge, metrics.Gauge:
		return metrics.NilGauge{}
	case func() metrics.GaugeFloat64, metrics.GaugeFloat64:
		return metrics.NilGaugeFloat64{}
	case func() metrics.Histogram, metrics.Histogram:
		return metrics.NilHistogram{}
	case func() metrics.Timer, metrics.Timer:
		return metrics.NilTimer{}
	case func() metrics.EWMA, metrics.EWMA:
		return metrics.NilEWMA{}
	}
	return metric
}
