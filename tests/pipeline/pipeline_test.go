package pipeline

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dc2dc/dc2dc/pipeline/loadgen"
	"github.com/dc2dc/dc2dc/tests/harness"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { harness.RemoveBuilds() }))
}

func readProgress(path string, v any) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	return json.Unmarshal(b, v) == nil
}

// TestExactlyOnceThroughKills publishes 1,000,000 events (8 shards) through
// Kafka A, the mirror and Kafka B into the ledger, killing the producer, the
// mirror and the consumer with SIGKILL once each mid-stream, and checks that
// every event was applied exactly once, in per-shard order. With -short it
// moves 100,000 events.
func TestExactlyOnceThroughKills(t *testing.T) {
	const shards = 8
	perShard := uint64(125_000)
	if testing.Short() {
		perShard = 12_500
	}
	total := shards * perShard
	bin := harness.Binary(t, "dc2dc")
	dir := t.TempDir()
	const sync = "e2e"

	brokerA := harness.StartKafka(t, "kafka-a").Addr
	brokerB := harness.StartKafka(t, "kafka-b").Addr

	produceProgress := filepath.Join(dir, "produce.json")
	producer := harness.Start(t, harness.Spec{Name: "producer", Path: bin, Args: []string{
		"loadgen", "produce", "--brokers", brokerA, "--sync", sync, "--shards", strconv.Itoa(shards),
		"--events", strconv.FormatUint(perShard, 10), "--doc-bytes", "256",
		"--store", filepath.Join(dir, "producer-store"), "--progress-file", produceProgress,
	}})
	producer.MustReady(30 * time.Second)

	// The mirror needs the source topic; the producer creates it first.
	harness.Eventually(t, 30*time.Second, 20*time.Millisecond, func() (bool, string) {
		var p struct{ Acked uint64 }
		ok := readProgress(produceProgress, &p) && p.Acked > 0
		return ok, "waiting for the producer's first acknowledged batch"
	})
	mirror := harness.Start(t, harness.Spec{Name: "mirror", Path: bin, Args: []string{
		"mirror", "--from.brokers", brokerA, "--to.brokers", brokerB, "--sync-id", sync,
		"--metrics.addr", "", "--instance-id", "e2e-mirror",
	}})
	mirror.MustReady(30 * time.Second)

	consumeProgress := filepath.Join(dir, "consume.json")
	consumer := harness.Start(t, harness.Spec{Name: "consumer", Path: bin, Args: []string{
		"loadgen", "consume", "--brokers", brokerB, "--sync", sync,
		"--store", filepath.Join(dir, "consumer-store"), "--ledger", filepath.Join(dir, "ledger"),
		"--progress-file", consumeProgress,
	}})
	consumer.MustReady(30 * time.Second)

	acked := func() uint64 {
		var p struct{ Acked uint64 }
		readProgress(produceProgress, &p)
		return p.Acked
	}
	applied := func() loadgen.Progress {
		var p loadgen.Progress
		readProgress(consumeProgress, &p)
		return p
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		harness.Eventually(t, 5*time.Minute, 20*time.Millisecond, func() (bool, string) {
			return cond(), fmt.Sprintf("waiting for %s: producer acked %d, consumer %+v", what, acked(), applied())
		})
	}

	// 1. Kill the producer at a quarter; it resumes from its checkpoints.
	waitFor("a quarter produced", func() bool { return acked() >= total/4 })
	producer.Kill9()
	producer.Restart()
	producer.MustReady(30 * time.Second)

	// 2. Kill the mirror once the consumer has applied something past a
	// quarter; it resumes from the last record it wrote to Kafka B.
	waitFor("a quarter applied", func() bool { return applied().Applied >= total/4 })
	mirror.Kill9()
	mirror.Restart()
	mirror.MustReady(30 * time.Second)

	// 3. Kill the consumer at half; it resumes from the ledger's positions.
	waitFor("half applied", func() bool { return applied().Applied >= total/2 })
	consumer.Kill9()
	consumer.Restart()
	consumer.MustReady(30 * time.Second)

	waitFor("everything applied", func() bool { return applied().Applied >= total })
	if err := producer.Stop(30 * time.Second); err != nil {
		t.Fatalf("producer: %v\n%s", err, producer.Stderr())
	}
	if err := consumer.Stop(30 * time.Second); err != nil {
		t.Fatalf("consumer: %v\n%s", err, consumer.Stderr())
	}
	if err := mirror.Stop(30 * time.Second); err != nil {
		t.Fatalf("mirror: %v\n%s", err, mirror.Stderr())
	}

	l, err := loadgen.OpenLedger(filepath.Join(dir, "ledger"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	res, err := loadgen.Verify(l, shards, perShard)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() {
		t.Fatalf("after kills of producer, mirror and consumer: %s", res)
	}
	t.Logf("all %d events applied exactly once in per-shard order: %s", total, res)
}
