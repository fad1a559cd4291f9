package mirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/dc2dc/dc2dc/tests/harness"
)

// newKfake starts an in-process single-broker kfake cluster with the given
// topics (name -> partitions), closed when the test ends.
func newKfake(t testing.TB, topics map[string]int32) *kfake.Cluster {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100 * time.Millisecond)}
	for name, n := range topics {
		opts = append(opts, kfake.SeedTopics(n, name))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// testConfig mirrors the routes between kfake clusters A and B with timings
// fit for tests.
func testConfig(a, b *kfake.Cluster, routes ...Route) Config {
	c := Config{
		Clusters: map[string]ClusterConfig{
			"A": {Brokers: a.ListenAddrs()},
			"B": {Brokers: b.ListenAddrs()},
		},
		Routes:            routes,
		TopicRefresh:      Duration(200 * time.Millisecond),
		SessionTimeout:    Duration(2 * time.Second),
		HeartbeatInterval: Duration(300 * time.Millisecond),
		ShutdownTimeout:   Duration(5 * time.Second),
		RetryBackoffMax:   Duration(500 * time.Millisecond),
	}
	return c
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() && os.Getenv("MIRROR_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// running is a Mirror running in the background.
type running struct {
	m      *Mirror
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func startMirror(t testing.TB, cfg Config, opts ...Option) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := New(cfg, append([]Option{WithLogger(testLogger(t)), WithRegisterer(reg)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{m: m, reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- m.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the mirror and waits for Run (bounded); idempotent.
func (r *running) stop(t testing.TB) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		begin := time.Now()
		defer func() { t.Logf("mirror stopped in %s", time.Since(begin)) }()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run returned %v after cancel", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Run did not return within 30s of cancel")
		}
	})
}

func saramaCfg() *sarama.Config {
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_8_0_0
	sc.Producer.Return.Successes = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Idempotent = true
	sc.Net.MaxOpenRequests = 1
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	sc.Consumer.MaxWaitTime = 20 * time.Millisecond
	return sc
}

// rec is one test record: partition, key, value, headers.
type rec struct {
	partition int32
	key       []byte
	value     []byte
	headers   []sarama.RecordHeader
	ts        time.Time
}

// produce writes records in order with an idempotent producer and waits
// for all acknowledgements.
func produce(t testing.TB, addrs []string, topic string, recs []rec) {
	t.Helper()
	p, err := sarama.NewAsyncProducer(addrs, saramaCfg())
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for _, r := range recs {
			m := &sarama.ProducerMessage{Topic: topic, Partition: r.partition, Headers: r.headers, Timestamp: r.ts}
			if r.key != nil {
				m.Key = sarama.ByteEncoder(r.key)
			}
			if r.value != nil {
				m.Value = sarama.ByteEncoder(r.value)
			}
			p.Input() <- m
		}
	}()
	for range recs {
		select {
		case <-p.Successes():
		case err := <-p.Errors():
			t.Fatalf("produce: %v", err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

// seqRecords makes n records per partition with key "p<partition>" and
// value "<partition>:<i>" for i in [from, from+n).
func seqRecords(partitions int32, from, n int) []rec {
	var out []rec
	for i := from; i < from+n; i++ {
		for p := range partitions {
			out = append(out, rec{
				partition: p,
				key:       []byte("p" + strconv.Itoa(int(p))),
				value:     []byte(fmt.Sprintf("%d:%d", p, i)),
				headers:   []sarama.RecordHeader{{Key: []byte("traceparent"), Value: []byte(fmt.Sprintf("00-%032x-%016x-01", i+1, int(p)+1))}},
			})
		}
	}
	return out
}

// readAll reads every record of topic/partition up to its high-water mark.
func readAll(t testing.TB, addrs []string, topic string, partition int32) []*sarama.ConsumerMessage {
	t.Helper()
	c, err := sarama.NewClient(addrs, saramaCfg())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hwm, err := c.GetOffset(topic, partition, sarama.OffsetNewest)
	if err != nil {
		t.Fatal(err)
	}
	if hwm == 0 {
		return nil
	}
	cons, err := sarama.NewConsumerFromClient(c)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, partition, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var out []*sarama.ConsumerMessage
	timeout := time.After(30 * time.Second)
	for {
		select {
		case m := <-pc.Messages():
			out = append(out, m)
			if m.Offset >= hwm-1 {
				return out
			}
		case err := <-pc.Errors():
			t.Fatal(err)
		case <-timeout:
			t.Fatalf("read %s/%d: timed out after %d of %d records", topic, partition, len(out), hwm)
		}
	}
}

// hwm returns the high-water mark of a partition, or -1 when unknown.
func hwm(addrs []string, topic string, partition int32) int64 {
	c, err := sarama.NewClient(addrs, saramaCfg())
	if err != nil {
		return -1
	}
	defer c.Close()
	o, err := c.GetOffset(topic, partition, sarama.OffsetNewest)
	if err != nil {
		return -1
	}
	return o
}

// waitMirrored waits until every partition of topic on B has as many
// records as on A.
func waitMirrored(t testing.TB, a, b *kfake.Cluster, topic string, partitions int32, deadline time.Duration) {
	t.Helper()
	harness.Eventually(t, deadline, 50*time.Millisecond, func() (bool, string) {
		for p := range partitions {
			ha, hb := hwm(a.ListenAddrs(), topic, p), hwm(b.ListenAddrs(), topic, p)
			if ha < 0 || hb != ha {
				return false, fmt.Sprintf("%s/%d: A holds %d records, B %d", topic, p, ha, hb)
			}
		}
		return true, ""
	})
}

// compareExactlyOnce checks that B's partition holds A's records exactly
// once, in order, with the source header of each, and reports the first
// difference by offsets.
func compareExactlyOnce(t testing.TB, a, b *kfake.Cluster, topic string, partitions int32) {
	t.Helper()
	for p := range partitions {
		as := readAll(t, a.ListenAddrs(), topic, p)
		bs := readAll(t, b.ListenAddrs(), topic, p)
		for i := 0; i < len(as) && i < len(bs); i++ {
			src := sourceHeader(bs[i])
			if src != (SourcePos{"A", topic, p, as[i].Offset}).String() {
				t.Fatalf("%s/%d: B offset %d carries source %q, want A offset %d (a gap or a duplicate there)", topic, p, bs[i].Offset, src, as[i].Offset)
			}
			if string(bs[i].Key) != string(as[i].Key) || string(bs[i].Value) != string(as[i].Value) {
				t.Fatalf("%s/%d: B offset %d = %q/%q, A offset %d = %q/%q", topic, p, bs[i].Offset, bs[i].Key, bs[i].Value, as[i].Offset, as[i].Key, as[i].Value)
			}
		}
		if len(as) != len(bs) {
			t.Fatalf("%s/%d: A holds %d records, B %d", topic, p, len(as), len(bs))
		}
	}
}

func sourceHeader(m *sarama.ConsumerMessage) string {
	for _, h := range m.Headers {
		if string(h.Key) == SourceHeader {
			return string(h.Value)
		}
	}
	return ""
}

func asStop(err error, target **StopError) bool { return errors.As(err, target) }

// gathered sums the samples of metric name whose label (if given) has
// value, and counts the series.
func gathered(t testing.TB, reg *prometheus.Registry, name, label, value string) (sum float64, series int) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					match = true
				}
			}
			if !match {
				continue
			}
			series++
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum, series
}

// registryOf returns the registry startMirror put the mirror's metrics on
// (unless the caller passed its own WithRegisterer, which then wins).
func registryOf(r *running) *prometheus.Registry { return r.reg }

func newClient(addrs []string, sc *sarama.Config) (sarama.Client, error) {
	return sarama.NewClient(addrs, sc)
}

// waitCount waits until topic's partitions hold want records in total,
// reading high-water marks through a client built from sc.
func waitCount(t testing.TB, addrs []string, sc *sarama.Config, topic string, parts int32, want int64) {
	t.Helper()
	c, err := sarama.NewClient(addrs, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	harness.Eventually(t, 30*time.Second, 20*time.Millisecond, func() (bool, string) {
		_ = c.RefreshMetadata(topic)
		var n int64
		for p := range parts {
			if o, err := c.GetOffset(topic, p, sarama.OffsetNewest); err == nil {
				n += o
			}
		}
		return n == want, fmt.Sprintf("%s holds %d of %d records", topic, n, want)
	})
}
