package mirror

import (
	"context"
	"fmt"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/dc2dc/dc2dc/tests/harness"
)

// TestOpenTelemetryMeter: with a meter, the forwarded records, bytes and
// lag are recorded there too.
func TestOpenTelemetryMeter(t *testing.T) {
	a := newKfake(t, map[string]int32{dataTopic: 2})
	b := newKfake(t, nil)
	recs := seqRecords(2, 0, 25)
	produce(t, a.ListenAddrs(), dataTopic, recs)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	startMirror(t, testConfig(a, b, Route{From: "A", To: "B", Topics: []string{dataTopic}}), WithMeter(mp.Meter("dc2dc/mirror")))

	sum := func(name string) (int64, bool) {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if m.Name != name {
					continue
				}
				var total int64
				switch d := m.Data.(type) {
				case metricdata.Sum[int64]:
					for _, p := range d.DataPoints {
						total += p.Value
					}
				case metricdata.Gauge[int64]:
					for _, p := range d.DataPoints {
						total += p.Value
					}
				}
				return total, true
			}
		}
		return 0, false
	}
	harness.Eventually(t, 30*time.Second, 20*time.Millisecond, func() (bool, string) {
		n, _ := sum("dc2dc.mirror.records_forwarded")
		return n == int64(len(recs)), fmt.Sprintf("records_forwarded = %d, want %d", n, len(recs))
	})
	var wantBytes int64
	for _, r := range recs {
		wantBytes += int64(len(r.key) + len(r.value))
	}
	if n, _ := sum("dc2dc.mirror.bytes_forwarded"); n != wantBytes {
		t.Fatalf("bytes_forwarded = %d, want %d", n, wantBytes)
	}
	if lag, ok := sum("dc2dc.mirror.lag"); !ok || lag != 0 {
		t.Fatalf("lag = %d (recorded %v), want 0 once caught up", lag, ok)
	}
}
