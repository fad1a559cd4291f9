package kafka_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/IBM/sarama"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/dc2dc/dc2dc/pipeline/broker"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
	"github.com/dc2dc/dc2dc/pipeline/kafka/kafkatest"
)

// sums collects the reader's counters and histogram counts by metric name
// and topic.
func sums(t *testing.T, r *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out[m.Name] += p.Value
					if code, ok := p.Attributes.Value("code"); ok {
						out[m.Name+"/"+code.AsString()] += p.Value
					}
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out[m.Name] += int64(p.Count)
				}
			}
		}
	}
	return out
}

// TestMetricsAndBrokenRunEndToEnd publishes a whole and a fragmented message
// and a fragment run written by a foreign producer that lacks its head, and
// checks what is delivered and measured.
func TestMetricsAndBrokenRunEndToEnd(t *testing.T) {
	c := startBroker(t, broker.Config{})
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	cfg := testConfig(c)
	cfg.MeterProvider = mp
	cfg.MaxMessageBytes = 64 << 10
	topic := kafkatest.NewTopic(t, cfg, 1)
	pub := kafkatest.NewPublisher(t, cfg)
	big := bytes.Repeat([]byte("0123456789abcdef"), 20<<10) // 320 KiB: 6 fragments
	if err := pub.Publish(topic, kafkatest.Msg("db/c/0", 0, []byte("small")), kafkatest.Msg("db/c/0", 1, big)); err != nil {
		t.Fatal(err)
	}

	// A headless run (fragment 1 of 2) from another producer, then a whole one.
	raw, err := sarama.NewSyncProducer(c.Addrs(), func() *sarama.Config {
		sc := sarama.NewConfig()
		sc.Version = sarama.V2_8_0_0
		sc.Producer.Return.Successes = true
		return sc
	}())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = raw.Close() }()
	hdr := func(k, v string) sarama.RecordHeader { return sarama.RecordHeader{Key: []byte(k), Value: []byte(v)} }
	for _, m := range []*sarama.ProducerMessage{
		{Topic: topic, Key: sarama.StringEncoder("db/c/0"), Value: sarama.StringEncoder("tail"), Headers: []sarama.RecordHeader{
			hdr(kafka.MetaShard, "db/c/0"), hdr(kafka.MetaFragID, "x"), hdr(kafka.MetaFragIdx, "1"), hdr(kafka.MetaFragN, "2")}},
		{Topic: topic, Key: sarama.StringEncoder("db/c/0"), Value: sarama.StringEncoder("last"), Headers: []sarama.RecordHeader{hdr(kafka.MetaShard, "db/c/0")}},
	} {
		if _, _, err := raw.SendMessage(m); err != nil {
			t.Fatal(err)
		}
	}

	got := kafkatest.Receive(t, kafkatest.Subscribe(t, kafkatest.NewSubscriber(t, cfg, "g"+kafkatest.RandomID()), topic), 4)
	if string(got[0].Payload) != "small" || !bytes.Equal(got[1].Payload, big) || string(got[3].Payload) != "last" {
		t.Fatalf("deliveries: %q, %d bytes, %q, %q", got[0].Payload, len(got[1].Payload), got[2].Payload, got[3].Payload)
	}
	err = kafka.BrokenFragments(got[2])
	if !errors.Is(err, kafka.ErrBrokenFragments) || len(got[2].Payload) != 0 {
		t.Fatalf("headless run delivered as %q with BrokenFragments %v", got[2].Payload, err)
	}
	if err := pub.Publish("dc2dc.nosuch.data", kafkatest.Msg("db/c/0", 0, []byte("x"))); !errors.Is(err, kafka.ErrUnknownTopic) {
		t.Fatalf("publish to a missing topic: %v", err)
	}

	s := sums(t, reader)
	for name, want := range map[string]int64{
		kafka.MetricFragmented:                     1,
		kafka.MetricReassembled:                    1,
		kafka.MetricBrokenRuns:                     1,
		kafka.MetricPublishErrors + "/DC2DC-E1005": 1,
		kafka.MetricRecordBytes:                    int64(len(big) + len("small")),
	} {
		if s[name] != want {
			t.Errorf("%s = %d, want %d (all: %v)", name, s[name], want, s)
		}
	}
	if s[kafka.MetricRecords] < 7 || s[kafka.MetricPublishDuration] != s[kafka.MetricRecords] {
		t.Errorf("records %d, durations %d: want one of each per record (at least 7)", s[kafka.MetricRecords], s[kafka.MetricPublishDuration])
	}
}
