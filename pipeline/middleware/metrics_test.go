package middleware

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// collected is a flattened view of one collection: metric name → attribute
// set (as "k=v,k=v") → value (sums and gauges; histogram counts under
// "count:" keys and sums under "sum:").
type collected map[string]map[string]float64

func collect(t testing.TB, r *sdkmetric.ManualReader) collected {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := collected{}
	key := func(s attribute.Set) string {
		k := ""
		for _, kv := range s.ToSlice() {
			if k != "" {
				k += ","
			}
			k += string(kv.Key) + "=" + kv.Value.String()
		}
		return k
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			vals := map[string]float64{}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					vals[key(p.Attributes)] = float64(p.Value)
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					vals[key(p.Attributes)] = float64(p.Value)
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					vals[key(p.Attributes)] = p.Value
				}
			case metricdata.Histogram[int64]:
				for _, p := range d.DataPoints {
					vals["count:"+key(p.Attributes)] = float64(p.Count)
					vals["sum:"+key(p.Attributes)] = float64(p.Sum)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					vals["count:"+key(p.Attributes)] = float64(p.Count)
					vals["sum:"+key(p.Attributes)] = p.Sum
				}
			}
			out[m.Name] = vals
		}
	}
	return out
}

func newTestMetrics(t *testing.T) (*Metrics, *sdkmetric.ManualReader) {
	t.Helper()
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	m, err := NewMetrics(mp)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m, r
}

// consumed returns msg as the router hands it over, from topic.
func consumed(t testing.TB, b *events.Batch) *message.Message {
	msg := msgFor(t, b)
	return msg
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func TestMetricsCounters(t *testing.T) {
	m, r := newTestMetrics(t)
	d := NewDedupe(nil, m)
	h := m.Middleware(Decode(d.Middleware(func(msg *message.Message) ([]*message.Message, error) {
		if b, _ := BatchFrom(msg); b.Pos.Tick == 30 {
			return nil, failure.WithCode(failure.CodeArangoUnreachable, errors.New("refused"))
		}
		return nil, nil
	})))
	b1 := batchAt(testShard, 1, 10, 0, 3)
	b2 := after(batchAt(testShard, 1, 20, 0, 5), b1)
	b3 := after(batchAt(testShard, 1, 30, 0, 1), b2)
	var bytes int
	for _, b := range []*events.Batch{b1, b2, b1, b3} { // b1 twice: one duplicate
		msg := consumed(t, b)
		bytes += len(msg.Payload)
		_, _ = h(msg)
	}
	foreign := message.NewMessage("f", []byte("hello"))
	bytes += 5
	_, _ = h(foreign)

	got := collect(t, r)
	if v := got[MetricMessages]["topic="]; v != 5 {
		t.Errorf("messages %v", v)
	}
	if v := got[MetricBytes]["topic="]; v != float64(bytes) {
		t.Errorf("bytes %v, want %d", v, bytes)
	}
	if c, s := got[MetricBatchRecords]["count:topic="], got[MetricBatchRecords]["sum:topic="]; c != 4 || s != 3+5+3+1 {
		t.Errorf("batch records count %v sum %v", c, s)
	}
	if c := got[MetricHandlerDuration]["count:topic="]; c != 5 {
		t.Errorf("durations %v", c)
	}
	if v := got[MetricDuplicates]["topic="]; v != 1 {
		t.Errorf("duplicates %v", v)
	}
	if v := got[MetricErrors]["class=retryable,code=DC2DC-E3001,topic="]; v != 1 {
		t.Errorf("errors %v", got[MetricErrors])
	}
	if v := got[MetricErrors]["class=permanent,code=DC2DC-E2004,topic="]; v != 1 {
		t.Errorf("foreign errors %v", got[MetricErrors])
	}
}

func TestMetricsLagAndRelease(t *testing.T) {
	m, r := newTestMetrics(t)
	clock := &fakeClock{}
	m.now = clock.now
	h := m.Middleware(Decode(func(msg *message.Message) ([]*message.Message, error) {
		if b, _ := BatchFrom(msg); b.Pos.Tick == 99 {
			return nil, failure.Retryable(errors.New("down"))
		}
		return nil, nil
	}))
	sent := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	other := events.ShardRef{Database: "db", CollectionID: "1002", Index: 3}

	b1 := batchAt(testShard, 1, 50, 0, 2)
	b1.SentAt = sent
	b1.Records = append(b1.Records, events.Record{Event: &events.Heartbeat{SourceTime: sent, LeaderTick: 80}})
	_, _ = h(consumed(t, b1))
	b2 := batchAt(other, 1, 7, 0, 1)
	b2.SentAt = sent.Add(-time.Minute)
	_, _ = h(consumed(t, b2))

	clock.set(sent.Add(1500 * time.Millisecond))
	got := collect(t, r)
	if v := got[MetricLagSeconds]["shard="+testShard.String()]; v != 1.5 {
		t.Errorf("lag seconds %v", got[MetricLagSeconds])
	}
	if v := got[MetricLagSeconds]["shard="+other.String()]; v != 61.5 {
		t.Errorf("lag seconds of the other shard %v", got[MetricLagSeconds])
	}
	if v := got[MetricLagTicks]["shard="+testShard.String()]; v != 30 {
		t.Errorf("lag ticks %v", got[MetricLagTicks])
	}
	if _, ok := got[MetricLagTicks]["shard="+other.String()]; ok {
		t.Error("lag in ticks reported before any heartbeat")
	}

	// A failed batch carries a newer heartbeat: the leader tick counts, the
	// applied position and send time do not move.
	b3 := after(batchAt(testShard, 1, 99, 0, 1), b1)
	b3.SentAt = sent.Add(time.Second)
	b3.Records = append(b3.Records, events.Record{Event: &events.Heartbeat{LeaderTick: 120}})
	_, _ = h(consumed(t, b3))
	got = collect(t, r)
	if v := got[MetricLagTicks]["shard="+testShard.String()]; v != 70 {
		t.Errorf("lag ticks after failed batch %v", v)
	}
	if v := got[MetricLagSeconds]["shard="+testShard.String()]; v != 1.5 {
		t.Errorf("lag seconds moved on a failed batch: %v", v)
	}

	// A heartbeat-only batch at the same tick, newer sub: lag seconds shrink.
	b4 := after(batchAt(testShard, 1, 50, 1, 0), b1)
	b4.SentAt = sent.Add(1400 * time.Millisecond)
	b4.Records = []events.Record{{Event: &events.Heartbeat{LeaderTick: 60}}}
	_, _ = h(consumed(t, b4))
	got = collect(t, r)
	if v := got[MetricLagSeconds]["shard="+testShard.String()]; v < 0.099 || v > 0.101 {
		t.Errorf("lag seconds after heartbeat %v", v)
	}
	if v := got[MetricLagTicks]["shard="+testShard.String()]; v != 70 {
		t.Errorf("an older heartbeat lowered the leader tick: %v", v)
	}

	m.ReleaseShard(testShard.String())
	got = collect(t, r)
	if _, ok := got[MetricLagSeconds]["shard="+testShard.String()]; ok {
		t.Error("released shard still reports lag seconds")
	}
	if _, ok := got[MetricLagTicks]["shard="+testShard.String()]; ok {
		t.Error("released shard still reports lag ticks")
	}
	if _, ok := got[MetricLagSeconds]["shard="+other.String()]; !ok {
		t.Error("the other shard's series vanished")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if got := collect(t, r); len(got[MetricLagSeconds]) != 0 {
		t.Errorf("gauges still observed after Close: %v", got[MetricLagSeconds])
	}
}

func TestMetricsPublisherAndNil(t *testing.T) {
	m, r := newTestMetrics(t)
	wire := newRecordingPublisher()
	pub, _ := DecoratePublisher(wire, m.PublisherDecorator())
	if err := pub.Publish("dc2dc.s1.data", message.NewMessage("a", []byte("12345")), message.NewMessage("b", []byte("678"))); err != nil {
		t.Fatal(err)
	}
	wire.failures = 1
	_ = pub.Publish("dc2dc.s1.data", message.NewMessage("c", []byte("lost")))
	got := collect(t, r)
	if got[MetricPublished]["topic=dc2dc.s1.data"] != 2 || got[MetricPublishedBytes]["topic=dc2dc.s1.data"] != 8 {
		t.Errorf("published %v %v", got[MetricPublished], got[MetricPublishedBytes])
	}

	// A nil *Metrics and a nil provider record nothing and do not fail.
	var nilM *Metrics
	h := nilM.Middleware(func(*message.Message) ([]*message.Message, error) { return nil, nil })
	if _, err := h(message.NewMessage("u", nil)); err != nil {
		t.Fatal(err)
	}
	nilM.ReleaseShard("x")
	if err := nilM.Close(); err != nil {
		t.Fatal(err)
	}
	noop, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noop.Middleware(Decode(func(*message.Message) ([]*message.Message, error) { return nil, nil }))(msgFor(t, batchAt(testShard, 1, 1, 0, 1))); err != nil {
		t.Fatal(err)
	}
	_ = noop.Close()
}
