package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	metrics "github.com/rcrowley/go-metrics"
	"go.uber.org/goleak"

	"github.com/dc2dc/dc2dc/pipeline/batcher"
	"github.com/dc2dc/dc2dc/pipeline/broker"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
	"github.com/dc2dc/dc2dc/pipeline/loadgen"
	"github.com/dc2dc/dc2dc/pipeline/mirror"
)

func TestMain(m *testing.M) {
	if os.Getenv("DC2DC_BENCH_SARAMA_METRICS") == "" {
		metrics.UseNilMetrics = true
	}
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"))
}

const docBytes = 1024

// benchLinger is the batcher's linger for the run (DC2DC_BENCH_LINGER, else
// the batcher's default).
func benchLinger() time.Duration {
	d, _ := time.ParseDuration(os.Getenv("DC2DC_BENCH_LINGER"))
	return d
}

// BenchmarkPipelineVsTransport measures, in one run on the same two
// in-process kfake clusters: the raw sarama produce+consume rate of 1 KiB
// records on cluster A (the transport ceiling), dc2dc's end-to-end pipeline
// rate (batcher → Watermill publisher → Kafka A → mirror → Kafka B →
// Watermill subscriber → middleware chain → ledger apply with synced
// checkpoints), and the pipeline's end-to-end latency p50/p99 at half of its
// maximum rate. Everything shares the machine's cores: the figures are a
// floor for separate machines.
func BenchmarkPipelineVsTransport(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	a, err := broker.Start(ctx, broker.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	bb, err := broker.Start(ctx, broker.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer bb.Close()

	records := 200_000
	if v, err := strconv.Atoi(os.Getenv("DC2DC_BENCH_RECORDS")); err == nil && v > 0 {
		records = v
	}
	logger := slog.New(slog.DiscardHandler)
	if testing.Verbose() && os.Getenv("DC2DC_BENCH_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	rep := newReport("Pipeline vs transport ceiling",
		"In-process kfake clusters A and B (memory), 1 KiB records/documents, 12 partitions, 8 shard streams; "+
			"ceiling: sarama AsyncProducer (acks=all) + partition consumers on A, time from first send to last receive; "+
			"pipeline: dc2dc loadgen producer on A, dc2dc mirror A→B, loadgen consumer on B with the full middleware chain, "+
			"time from first send to last apply; latency: the same pipeline paced at half the measured pipeline rate for 10 s, "+
			"lag = apply time of an event − its creation time in the producer (linger and queueing included).")

	ceiling := measureCeiling(b, a.Addrs(), records)
	rep.add("transport ceiling (sarama produce+consume, A)", ceiling, "records/s", fmt.Sprintf("%d records", records))
	rep.add("transport ceiling", ceiling*docBytes/1e6, "MB/s", "")

	pipe, _ := measurePipeline(b, ctx, logger, a.Addrs(), bb.Addrs(), "bench-max", 8, uint64(records/8), 0)
	rep.add("pipeline end to end (A → mirror → B → apply)", pipe, "events/s", fmt.Sprintf("%d events", records))
	rep.add("pipeline end to end", pipe*docBytes/1e6, "MB/s", "")
	ratio := pipe / ceiling
	rep.add("pipeline / ceiling", ratio, "ratio", "target ≥ 0.5")

	half := pipe / 2
	perShard := uint64(half * 10 / 8)
	_, lags := measurePipeline(b, ctx, logger, a.Addrs(), bb.Addrs(), "bench-half", 8, perShard, half)
	slices.Sort(lags)
	p50, p99 := percentile(lags, 0.50), percentile(lags, 0.99)
	rep.add("lag p50 at half load", float64(p50.Microseconds())/1000, "ms", fmt.Sprintf("%.0f events/s offered", half))
	rep.add("lag p99 at half load", float64(p99.Microseconds())/1000, "ms", "target ≤ 1000 ms")

	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	rep.verdict("pipeline ≥ 0.5 × ceiling: %s (%.2f)", verdict(ratio >= 0.5), ratio)
	rep.verdict("lag p99 ≤ 1 s at half load: %s (%v)", verdict(p99 <= time.Second), p99)
	path, err := rep.write("pipeline")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(ceiling, "ceiling-records/s")
	b.ReportMetric(pipe, "pipeline-events/s")
	b.ReportMetric(ratio, "ratio")
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.Logf("report: %s", path)
}

// measureCeiling returns records/s for producing and consuming n records
// concurrently with plain sarama.
func measureCeiling(b *testing.B, brokers []string, n int) float64 {
	b.Helper()
	ctx := context.Background()
	const topic = "bench.raw"
	if err := kafka.EnsureTopics(ctx, kafka.Config{Brokers: brokers}, []kafka.TopicSpec{{Name: topic, Partitions: 12}}); err != nil {
		b.Fatal(err)
	}
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Flush.Bytes = 1 << 20
	cfg.Producer.Flush.Frequency = time.Millisecond
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		b.Fatal(err)
	}
	defer consumer.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		b.Fatal(err)
	}
	var received atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range parts {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.Close()
			for {
				select {
				case <-pc.Messages():
					if received.Add(1) == int64(n) {
						close(done)
					}
				case <-done:
					return
				}
			}
		}()
	}
	producer, err := sarama.NewAsyncProducerFromClient(client)
	if err != nil {
		b.Fatal(err)
	}
	value := make([]byte, docBytes)
	start := time.Now()
	go func() {
		for range producer.Successes() {
		}
	}()
	go func() {
		for err := range producer.Errors() {
			b.Error(err)
		}
	}()
	for i := 0; i < n; i++ {
		producer.Input() <- &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprint(i % 64)), Value: sarama.ByteEncoder(value)}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("ceiling: received %d of %d", received.Load(), n)
	}
	elapsed := time.Since(start)
	producer.Close()
	wg.Wait()
	return float64(n) / elapsed.Seconds()
}

// measurePipeline runs producer (on A), mirror (A→B) and consumer (on B) in
// this process and returns events/s from the first send to the last apply,
// and the lag of every applied event (approximated per batch).
func measurePipeline(b *testing.B, ctx context.Context, logger *slog.Logger, brokersA, brokersB []string, syncID string, shards int, perShard uint64, rate float64) (float64, []time.Duration) {
	b.Helper()
	dir := b.TempDir()
	total := uint64(shards) * perShard
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		mu      sync.Mutex
		lags    []time.Duration
		applied atomic.Uint64
		// per batch: built → Kafka A record time, Kafka A → applied in B
		toKafka, fromKafka []time.Duration
		allDone            = make(chan time.Time, 1)
	)
	// Set the topology up before timing: the data topic on A, the mirror
	// (which creates it on B), then the consumer.
	topics, err := kafka.TopicsFor(kafka.DefaultTopicPrefix, syncID)
	if err != nil {
		b.Fatal(err)
	}
	kA, kB := kafka.Config{Brokers: brokersA}, kafka.Config{Brokers: brokersB}
	if err := kafka.EnsureTopics(ctx, kA, []kafka.TopicSpec{{Name: topics.Data, Partitions: 12}}); err != nil {
		b.Fatal(err)
	}
	mcfg := mirror.DefaultConfig()
	mcfg.Clusters = map[string]mirror.ClusterConfig{"a": {Brokers: brokersA}, "b": {Brokers: brokersB}}
	mcfg.Routes = mirror.SyncRoutes(syncID, "a", "b")[:1]
	m, err := mirror.New(mcfg, mirror.WithLogger(logger))
	if err != nil {
		b.Fatal(err)
	}
	mirrorErr := make(chan error, 1)
	go func() { mirrorErr <- m.Run(ctx) }()
	if _, err := kafka.WaitTopics(ctx, kB, 0, topics.Data); err != nil {
		b.Fatal(err)
	}
	consumeErr := make(chan error, 1)
	go func() {
		consumeErr <- loadgen.Consume(ctx, loadgen.ConsumeConfig{
			Kafka: kB, Sync: syncID, Logger: logger,
			StoreDir: filepath.Join(dir, "consumer"), LedgerDir: filepath.Join(dir, "ledger"),
			OnApply: func(a loadgen.Applied) {
				mu.Lock()
				for _, c := range a.Created {
					lags = append(lags, a.AppliedAt.Sub(c))
				}
				if !a.KafkaTime.IsZero() {
					toKafka = append(toKafka, a.KafkaTime.Sub(a.SentAt))
					fromKafka = append(fromKafka, a.AppliedAt.Sub(a.KafkaTime))
				}
				mu.Unlock()
				if applied.Add(uint64(a.Events)) == total {
					allDone <- time.Now()
				}
			},
		})
	}()

	start := time.Now()
	produceErr := make(chan error, 1)
	go func() {
		produceErr <- loadgen.Produce(ctx, loadgen.ProduceConfig{
			Kafka: kA, Sync: syncID, Shards: shards, Events: perShard,
			DocBytes: docBytes, Rate: rate, StoreDir: filepath.Join(dir, "producer"), Logger: logger,
			Batch: batcher.Config{Linger: benchLinger()},
		})
	}()

	timeout := 5 * time.Minute
	if rate > 0 {
		timeout = time.Duration(float64(total)/rate*float64(time.Second)) + time.Minute
	}
	var end time.Time
	select {
	case end = <-allDone:
	case err := <-produceErr:
		if err != nil {
			b.Fatalf("producer: %v", err)
		}
		select {
		case end = <-allDone:
		case <-time.After(timeout):
			b.Fatalf("applied %d of %d", applied.Load(), total)
		}
	case err := <-consumeErr:
		b.Fatalf("consumer stopped: %v", err)
	case err := <-mirrorErr:
		b.Fatalf("mirror stopped: %v", err)
	case <-time.After(timeout):
		b.Fatalf("applied %d of %d", applied.Load(), total)
	}
	cancel()
	<-consumeErr
	<-mirrorErr
	mu.Lock()
	defer mu.Unlock()
	if len(toKafka) > 0 {
		slices.Sort(toKafka)
		slices.Sort(fromKafka)
		b.Logf("%s: per batch, built → Kafka A p50 %v p99 %v; Kafka A → applied p50 %v p99 %v (%d batches)", syncID,
			percentile(toKafka, .5), percentile(toKafka, .99), percentile(fromKafka, .5), percentile(fromKafka, .99), len(toKafka))
	}
	return float64(total) / end.Sub(start).Seconds(), lags
}
