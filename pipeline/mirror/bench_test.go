package mirror

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// BenchmarkMirror1KiB measures forwarding throughput: b.N records of 1 KiB
// (16-byte key, one traceparent header) are written into an in-process kfake
// cluster A first; the timer covers starting the mirror until the in-process
// kfake cluster B has acknowledged all of them (resume reads, group join and
// topic creation included); steady-records/s leaves the start-up out (from
// the moment B holds a tenth of the records).
func BenchmarkMirror1KiB(b *testing.B) {
	for _, parts := range []int32{1, 12} {
		b.Run(fmt.Sprintf("partitions=%d", parts), func(b *testing.B) {
			benchMirror(b, parts)
		})
	}
}

func benchMirror(b *testing.B, parts int32) {
	a := newKfake(b, map[string]int32{dataTopic: parts})
	dst := newKfake(b, nil)
	value := make([]byte, 1024-16)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_8_0_0
	sc.Producer.Return.Successes = true
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	sc.Producer.Flush.Messages = 500
	sc.Producer.Flush.Frequency = time.Millisecond
	p, err := sarama.NewAsyncProducer(a.ListenAddrs(), sc)
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for i := range b.N {
			p.Input() <- &sarama.ProducerMessage{Topic: dataTopic, Partition: int32(i) % parts,
				Key:     sarama.StringEncoder(fmt.Sprintf("shard-%010d", i%64)),
				Value:   sarama.ByteEncoder(value),
				Headers: []sarama.RecordHeader{{Key: []byte("traceparent"), Value: []byte("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")}}}
		}
	}()
	for range b.N {
		select {
		case <-p.Successes():
		case err := <-p.Errors():
			b.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		b.Fatal(err)
	}

	cfg := testConfig(a, dst, Route{From: "A", To: "B", Topics: []string{dataTopic}})
	m, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	client, err := sarama.NewClient(dst.ListenAddrs(), saramaCfg())
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()

	b.SetBytes(1024)
	b.ResetTimer()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(10 * time.Minute)
	var tenth time.Time // when B first held a tenth of the records
	tenthN := int64(0)
	for {
		<-tick.C
		var n int64
		_ = client.RefreshMetadata(dataTopic)
		for part := range parts {
			if o, err := client.GetOffset(dataTopic, part, sarama.OffsetNewest); err == nil {
				n += o
			}
		}
		if tenth.IsZero() && n >= int64(b.N)/10 {
			tenth, tenthN = time.Now(), n
		}
		if n >= int64(b.N) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("B holds %d of %d records after 10 minutes", n, b.N)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	// Steady state: from a tenth of the records on, start-up excluded.
	if d := time.Since(tenth).Seconds(); d > 0 {
		b.ReportMetric(float64(int64(b.N)-tenthN)/d, "steady-records/s")
	}
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
