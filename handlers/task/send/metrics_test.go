package send

import (
	"context"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/dc2dc/dc2dc/handlers/source"
)

func TestTailMetricsAndRelease(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	m, err := NewMetrics(mp)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.tail(source.TailStats{Shard: ref, Records: 7, From: 100, LastTick: 130, Duration: time.Millisecond})
	m.tail(source.TailStats{Shard: ref, Records: 3, From: 120, LastTick: 130, Duration: time.Millisecond})
	got := collect(t, reader)
	if got[MetricTailRecords] != 10 || got[MetricTicksBehind] != 10 {
		t.Fatalf("metrics %v: want 10 records and 10 ticks behind", got)
	}
	m.Release(ref.String())
	if got := collect(t, reader); got[MetricTicksBehind] != 0 {
		t.Fatalf("ticks behind after Release: %v", got)
	}
	var none *Metrics
	none.tail(source.TailStats{}) // nil is off
	none.Release("x")
}

// collect sums the int64 data points per metric name.
func collect(t *testing.T, r *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			switch d := mt.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out[mt.Name] += p.Value
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out[mt.Name] += p.Value
				}
			}
		}
	}
	return out
}
