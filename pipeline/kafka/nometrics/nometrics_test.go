package nometrics

import (
	"testing"

	"github.com/IBM/sarama"
	"github.com/rcrowley/go-metrics"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"))
}

// TestRegistryHandsOutNoOpMetrics: what sarama asks for comes back as the
// no-op metric of its type, and no constructor runs (a real meter would
// start go-metrics' ticking arbiter).
func TestRegistryHandsOutNoOpMetrics(t *testing.T) {
	r := Registry()
	called := false
	m := r.GetOrRegister("m", func() metrics.Meter { called = true; return metrics.NewMeter() })
	if _, ok := m.(metrics.NilMeter); !ok || called {
		t.Fatalf("meter: %T, constructor called %v", m, called)
	}
	if _, ok := metrics.GetOrRegisterMeter("x", r).(metrics.NilMeter); !ok {
		t.Fatal("GetOrRegisterMeter: not a NilMeter")
	}
	if _, ok := metrics.GetOrRegisterCounter("x", r).(metrics.NilCounter); !ok {
		t.Fatal("counter: not a NilCounter")
	}
	if _, ok := metrics.GetOrRegisterGauge("x", r).(metrics.NilGauge); !ok {
		t.Fatal("gauge: not a NilGauge")
	}
	if _, ok := metrics.GetOrRegisterHistogram("x", r, metrics.NewUniformSample(1)).(metrics.NilHistogram); !ok {
		t.Fatal("histogram: not a NilHistogram")
	}
	h := r.GetOrRegister("h", func() metrics.Histogram { return metrics.NewHistogram(metrics.NewUniformSample(1)) })
	if _, ok := h.(metrics.NilHistogram); !ok {
		t.Fatalf("sarama-style histogram constructor: %T", h)
	}
	if v := r.GetOrRegister("other", 42); v != 42 {
		t.Fatalf("unknown value: %v", v)
	}
	if r.Get("m") != nil || len(r.GetAll()) != 0 {
		t.Fatal("the registry holds something")
	}
	// sarama accepts it.
	sc := sarama.NewConfig()
	sc.MetricRegistry = r
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
}
