package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
	"github.com/dc2dc/dc2dc/tests/harness"
)

func TestMain(m *testing.M) {
	if os.Getenv("DC2DC_BENCH_SARAMA_METRICS") == "" {
		metrics.UseNilMetrics = true
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { harness.RemoveBuilds() }),
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"))
}

const docBytes = 1024

// benchLingers are the batcher lingers of the latency phase
// (DC2DC_BENCH_LINGER, a comma-separated list of durations, e.g.
// "5ms,20ms,50ms"; else the batcher's default). Each is measured in every
// round, side by side; the verdict is about the first.
func benchLingers(b *testing.B) []time.Duration {
	v := os.Getenv("DC2DC_BENCH_LINGER")
	if v == "" {
		return []time.Duration{batcher.DefaultLinger}
	}
	var out []time.Duration
	for _, f := range strings.Split(v, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil || d <= 0 {
			b.Fatalf("DC2DC_BENCH_LINGER=%q: give positive durations separated by commas, e.g. 5ms,50ms", v)
		}
		out = append(out, d)
	}
	return out
}

// benchCompression names the pipeline producer's codec.
func benchCompression() string {
	if c := os.Getenv("DC2DC_BENCH_COMPRESSION"); c != "" {
		return c + " (DC2DC_BENCH_COMPRESSION)"
	}
	return kafka.DefaultCompression + " (pipeline/kafka's default)"
}

// envInt reads a positive integer from the environment, else def.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkPipelineVsTransport measures, in one run: the raw sarama
// produce+consume rate of 1 KiB records on cluster A (the transport
// ceiling), dc2dc's end-to-end pipeline rate (batcher → Watermill publisher
// → Kafka A → mirror → Kafka B → Watermill subscriber → middleware chain →
// ledger apply with synced checkpoints), and the pipeline's end-to-end
// latency p50/p99 at half of its maximum rate. Everything shares the
// machine's cores: the figures are a floor for separate machines.
//
// The machine is shared, so single figures are noisy. The run has
// DC2DC_BENCH_ROUNDS rounds (default 3); each round starts two fresh
// in-process kfake clusters and measures the ceiling and then the pipeline
// on them, back to back, and the ratio of the two; the report gives the
// medians (the ratio is the median of the rounds' ratios). The latency phase
// then offers half of the median pipeline rate for DC2DC_BENCH_HALF_SECONDS
// (default 10) per round and linger, on fresh clusters again; its p50/p99
// pool the events of all rounds.
func BenchmarkPipelineVsTransport(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	records := envInt("DC2DC_BENCH_RECORDS", 200_000)
	rounds := envInt("DC2DC_BENCH_ROUNDS", 3)
	halfSecs := envInt("DC2DC_BENCH_HALF_SECONDS", 10)
	lingers := benchLingers(b)
	logger := slog.New(slog.DiscardHandler)
	if testing.Verbose() && os.Getenv("DC2DC_BENCH_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	rep := newReport("Pipeline vs transport ceiling",
		fmt.Sprintf("In-process kfake clusters A and B (memory), 1 KiB records/documents, 12 partitions, 8 shard streams; "+
			"%d rounds, each on two fresh clusters: ceiling (sarama AsyncProducer, acks=all, + partition consumers on A, "+
			"time from first send to last receive of %d records), then the pipeline on the same clusters (dc2dc loadgen producer on A, "+
			"dc2dc mirror A→B, loadgen consumer on B with the full middleware chain, time from first send to last apply); "+
			"figures are medians over the rounds, the ratio the median of the rounds' ratios. "+
			"Latency: the same pipeline paced at half the median pipeline rate for %d s per round and linger, on fresh clusters; "+
			"lag = apply time of an event − its creation time in the producer (linger and queueing included), pooled over the rounds. "+
			"Documents are padded with random letters and digits, so they hardly compress (lz4 about 1.1×) and Kafka carries their full size, "+
			"as it carries the ceiling's uncompressed records; each round also runs the pipeline with the padding a run of 'x' "+
			"(lz4 shrinks those documents about 80×, the workload before 2026-11-26), reported apart. "+
			"The pipeline's producer compresses with %s. Load average (1 min) at start: %s.", rounds, records, halfSecs, benchCompression(), loadAvg()))

	var ceilings, pipes, ratios, xPipes, xRatios, cpuRatios []float64
	var ceilingCPU, pipeCPU []float64 // µs per record / event
	for r := range rounds {
		a, bb := startClusters(b, ctx)
		ceiling, cCPU := measureCeiling(b, a.Addrs(), records)
		pipe := measurePipeline(b, ctx, logger, a.Addrs(), bb.Addrs(), fmt.Sprintf("bench-max-%d", r), 8, uint64(records/8), 0, lingers[0], true)
		xPipe := measurePipeline(b, ctx, logger, a.Addrs(), bb.Addrs(), fmt.Sprintf("bench-max-x-%d", r), 8, uint64(records/8), 0, lingers[0], false)
		_ = a.Close()
		_ = bb.Close()
		ceilings = append(ceilings, ceiling)
		pipes = append(pipes, pipe.rate)
		ratios = append(ratios, pipe.rate/ceiling)
		xPipes = append(xPipes, xPipe.rate)
		xRatios = append(xRatios, xPipe.rate/ceiling)
		ceilingCPU = append(ceilingCPU, float64(cCPU.Nanoseconds())/1000)
		pipeCPU = append(pipeCPU, float64(pipe.cpu.Nanoseconds())/1000)
		cpuRatios = append(cpuRatios, float64(cCPU)/float64(pipe.cpu))
		b.Logf("round %d: ceiling %.0f records/s (CPU %v/record), pipeline %.0f events/s (CPU %v/event), ratio %.2f (compressible documents: %.0f events/s, %.2f); %s",
			r+1, ceiling, cCPU, pipe.rate, pipe.cpu, pipe.rate/ceiling, xPipe.rate, xPipe.rate/ceiling, pipe.split)
	}
	ceiling, pipe, ratio := median(ceilings), median(pipes), median(ratios)
	rep.add("transport ceiling (sarama produce+consume, A)", ceiling, "records/s", fmt.Sprintf("median; rounds %s", listFloats(ceilings, "%.0f")))
	rep.add("transport ceiling", ceiling*docBytes/1e6, "MB/s", "")
	rep.add("pipeline end to end (A → mirror → B → apply)", pipe, "events/s", fmt.Sprintf("median of %d events per round; rounds %s", records, listFloats(pipes, "%.0f")))
	rep.add("pipeline end to end", pipe*docBytes/1e6, "MB/s", "")
	rep.add("pipeline / ceiling", ratio, "ratio", fmt.Sprintf("target ≥ 0.5; rounds %s", listFloats(ratios, "%.2f")))
	rep.add("CPU per record, ceiling", median(ceilingCPU), "µs", fmt.Sprintf("the process's user+system time over the span; rounds %s", listFloats(ceilingCPU, "%.1f")))
	rep.add("CPU per event, pipeline", median(pipeCPU), "µs", fmt.Sprintf("rounds %s", listFloats(pipeCPU, "%.1f")))
	rep.add("ceiling CPU / pipeline CPU", median(cpuRatios), "ratio", fmt.Sprintf("what the rate ratio tends to when CPU-bound; less sensitive to other load; rounds %s", listFloats(cpuRatios, "%.2f")))
	rep.add("pipeline end to end, compressible documents", median(xPipes), "events/s", fmt.Sprintf("rounds %s", listFloats(xPipes, "%.0f")))
	rep.add("pipeline / ceiling, compressible documents", median(xRatios), "ratio", fmt.Sprintf("rounds %s", listFloats(xRatios, "%.2f")))

	half := pipe / 2
	perShard := uint64(half * float64(halfSecs) / 8)
	var p50, p99 time.Duration
	for li, linger := range lingers {
		var lags []time.Duration
		var roundP99 []float64
		for r := range rounds {
			a, bb := startClusters(b, ctx)
			res := measurePipeline(b, ctx, logger, a.Addrs(), bb.Addrs(), fmt.Sprintf("bench-half-%d-%d", li, r), 8, perShard, half, linger, true)
			_ = a.Close()
			_ = bb.Close()
			slices.Sort(res.lags)
			roundP99 = append(roundP99, float64(percentile(res.lags, .99).Microseconds())/1000)
			b.Logf("half load, linger %v, round %d: %.0f events/s offered, lag p50 %v p99 %v; %s", linger, r+1, half,
				percentile(res.lags, .5), percentile(res.lags, .99), res.split)
			lags = append(lags, res.lags...)
		}
		slices.Sort(lags)
		l50, l99 := percentile(lags, 0.50), percentile(lags, 0.99)
		if li == 0 {
			p50, p99 = l50, l99
		}
		rep.add(fmt.Sprintf("lag p50 at half load, linger %v", linger), float64(l50.Microseconds())/1000, "ms", fmt.Sprintf("%.0f events/s offered", half))
		rep.add(fmt.Sprintf("lag p99 at half load, linger %v", linger), float64(l99.Microseconds())/1000, "ms", fmt.Sprintf("target ≤ 1000 ms; rounds %s", listFloats(roundP99, "%.0f")))
	}

	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	rep.verdict("pipeline ≥ 0.5 × ceiling: %s (%.2f)", verdict(ratio >= 0.5), ratio)
	rep.verdict("lag p99 ≤ 1 s at half load (linger %v): %s (%v)", lingers[0], verdict(p99 <= time.Second), p99)
	rep.verdict("load average (1 min) at the end: %s", loadAvg())
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

// startClusters starts the clusters A and B of one round.
func startClusters(b *testing.B, ctx context.Context) (*broker.Cluster, *broker.Cluster) {
	b.Helper()
	a, err := broker.Start(ctx, broker.Config{})
	if err != nil {
		b.Fatal(err)
	}
	bb, err := broker.Start(ctx, broker.Config{})
	if err != nil {
		_ = a.Close()
		b.Fatal(err)
	}
	return a, bb
}

// measureCeiling returns records/s for producing and consuming n records
// concurrently with plain sarama, and the process's CPU time per record.
func measureCeiling(b *testing.B, brokers []string, n int) (float64, time.Duration) {
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
	start, cpu0 := time.Now(), cpuTime()
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
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	producer.Close()
	wg.Wait()
	return float64(n) / elapsed.Seconds(), cpu / time.Duration(n)
}

// pipelineResult is what one pipeline run measured.
type pipelineResult struct {
	rate  float64         // events/s from the first send to the last apply
	cpu   time.Duration   // the process's CPU time per event over the same span
	lags  []time.Duration // per applied event
	split string          // per event, where the time went
}

// measurePipeline runs producer (on A), mirror (A→B) and consumer (on B) in
// this process at rate events/s (0: as fast as possible) with the batcher's
// linger, with documents padded randomly (randomPad) or with a run of 'x'.
func measurePipeline(b *testing.B, ctx context.Context, logger *slog.Logger, brokersA, brokersB []string, syncID string, shards int, perShard uint64, rate float64, linger time.Duration, randomPad bool) pipelineResult {
	b.Helper()
	dir := b.TempDir()
	total := uint64(shards) * perShard
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		mu      sync.Mutex
		lags    []time.Duration
		applied atomic.Uint64
		// per event (each batch's hop counted once per event in it):
		// created → batch built (the producer's queue and linger); built →
		// Kafka A record time; Kafka A → the handler (mirror, Kafka B, the
		// consumer's queue, decode); the ledger's apply (cluster B's
		// stand-in); the checkpoint.
		toBatch, toKafka, toHandler, ledgerApply, checkpoint []time.Duration
		allDone                                              = make(chan time.Time, 1)
	)
	// Set the topology up before timing: the data topic on A, the mirror
	// (which creates it on B), then the consumer.
	topics, err := kafka.TopicsFor(kafka.DefaultTopicPrefix, syncID)
	if err != nil {
		b.Fatal(err)
	}
	// The producer's codec: DC2DC_BENCH_COMPRESSION, else pipeline/kafka's
	// default.
	kA, kB := kafka.Config{Brokers: brokersA, Compression: os.Getenv("DC2DC_BENCH_COMPRESSION")}, kafka.Config{Brokers: brokersB}
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
					toBatch = append(toBatch, a.SentAt.Sub(c))
					if !a.KafkaTime.IsZero() {
						toKafka = append(toKafka, a.KafkaTime.Sub(a.SentAt))
						toHandler = append(toHandler, a.HandledAt.Sub(a.KafkaTime))
					}
					ledgerApply = append(ledgerApply, a.LedgerAt.Sub(a.HandledAt))
					checkpoint = append(checkpoint, a.AppliedAt.Sub(a.LedgerAt))
				}
				mu.Unlock()
				if applied.Add(uint64(a.Events)) == total {
					allDone <- time.Now()
				}
			},
		})
	}()

	start, cpu0 := time.Now(), cpuTime()
	produceErr := make(chan error, 1)
	go func() {
		produceErr <- loadgen.Produce(ctx, loadgen.ProduceConfig{
			Kafka: kA, Sync: syncID, Shards: shards, Events: perShard,
			DocBytes: docBytes, RandomPad: randomPad, Rate: rate, StoreDir: filepath.Join(dir, "producer"), Logger: logger,
			Batch: batcher.Config{Linger: linger},
		})
	}()

	timeout := 5 * time.Minute
	if rate > 0 {
		timeout = time.Duration(float64(total)/rate*float64(time.Second)) + time.Minute
	}
	var end time.Time
	var cpu time.Duration
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
	cpu = cpuTime() - cpu0
	cancel()
	<-consumeErr
	<-mirrorErr
	mu.Lock()
	defer mu.Unlock()
	hop := func(name string, d []time.Duration) string {
		if len(d) == 0 {
			return name + " n/a"
		}
		slices.Sort(d)
		return fmt.Sprintf("%s p50 %v p99 %v", name, percentile(d, .5).Round(10*time.Microsecond), percentile(d, .99).Round(10*time.Microsecond))
	}
	split := fmt.Sprintf("per event: %s; %s; %s; %s; %s", hop("created → batch built", toBatch),
		hop("built → Kafka A", toKafka), hop("Kafka A → handler", toHandler), hop("ledger apply", ledgerApply), hop("checkpoint", checkpoint))
	return pipelineResult{rate: float64(total) / end.Sub(start).Seconds(), cpu: cpu / time.Duration(total), lags: lags, split: split}
}
