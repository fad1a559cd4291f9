package kafka_test

import (
	"context"
	"crypto/rand"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	wmkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/dc2dc/dc2dc/pipeline/broker"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
	"github.com/dc2dc/dc2dc/pipeline/kafka/kafkatest"
)

// Benchmarks of the transport on an in-process kfake broker (memory only),
// 1 KiB records, 12 partitions. Run with:
//
//	go test -run '^$' -bench . -benchtime 20000x ./pipeline/kafka/
//
// The sarama ones are the ceiling the transport can reach on this broker;
// the watermill ones go through NewPublisher/NewSubscriber.

const benchRecord = 1024

func benchSetup(b *testing.B) (kafka.Config, string) {
	b.Helper()
	c := startBroker(b, broker.Config{})
	cfg := testConfig(c)
	cfg.Compression = "none"
	return cfg, kafkatest.NewTopic(b, cfg, 12)
}

func reportRate(b *testing.B, n int, d time.Duration) {
	b.ReportMetric(float64(n)/d.Seconds(), "msg/s")
	b.ReportMetric(float64(n)*benchRecord/d.Seconds()/1e6, "MB/s")
}

func saramaBase() *sarama.Config {
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_8_0_0
	sc.Producer.Return.Successes = true
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	return sc
}

func payload() []byte {
	p := make([]byte, benchRecord)
	_, _ = rand.Read(p)
	return p
}

// produceRaw writes n records with sarama's AsyncProducer and waits for
// every acknowledgement.
func produceRaw(b *testing.B, brokers []string, topic string, n int) time.Duration {
	b.Helper()
	p, err := sarama.NewAsyncProducer(brokers, saramaBase())
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = p.Close() }()
	value := sarama.ByteEncoder(payload())
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(1)
	errs := 0
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			select {
			case <-p.Successes():
			case perr := <-p.Errors():
				if perr != nil {
					errs++
				}
			}
		}
	}()
	for i := 0; i < n; i++ {
		p.Input() <- &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder("db/c/" + strconv.Itoa(i%64)), Value: value}
	}
	wg.Wait()
	if errs > 0 {
		b.Fatalf("%d produce errors", errs)
	}
	return time.Since(start)
}

func BenchmarkSaramaAsyncProducer(b *testing.B) {
	cfg, topic := benchSetup(b)
	b.SetBytes(benchRecord)
	b.ResetTimer()
	reportRate(b, b.N, produceRaw(b, cfg.Brokers, topic, b.N))
}

type countingHandler struct {
	first *sync.Once
	start *time.Time
	left  *atomic.Int64
	done  chan struct{}
	once  *sync.Once
}

func (countingHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (countingHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h countingHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.first.Do(func() { *h.start = time.Now() })
		s.MarkMessage(m, "")
		if h.left.Add(-1) == 0 {
			h.once.Do(func() { close(h.done) })
		}
	}
	return nil
}

func BenchmarkSaramaConsumerGroup(b *testing.B) {
	cfg, topic := benchSetup(b)
	produceRaw(b, cfg.Brokers, topic, b.N)
	sc := saramaBase()
	sc.Consumer.Offsets.AutoCommit.Enable = true
	g, err := sarama.NewConsumerGroup(cfg.Brokers, "bench-"+kafkatest.RandomID(), sc)
	if err != nil {
		b.Fatal(err)
	}
	// The clock starts at the first record: the group join is not measured.
	var first time.Time
	h := countingHandler{first: new(sync.Once), start: &first, left: new(atomic.Int64), done: make(chan struct{}), once: new(sync.Once)}
	h.left.Store(int64(b.N))
	ctx, cancel := context.WithCancel(context.Background())
	b.SetBytes(benchRecord)
	b.ResetTimer()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if err := g.Consume(ctx, []string{topic}, h); err != nil {
				return
			}
		}
	}()
	select {
	case <-h.done:
	case <-time.After(5 * time.Minute):
		b.Fatal("timeout")
	}
	reportRate(b, b.N, time.Since(first))
	b.StopTimer()
	cancel()
	wg.Wait()
	_ = g.Close()
}

func benchWatermillPublish(b *testing.B, goroutines int, codec string) {
	benchWatermillPublishBatch(b, goroutines, 1, codec)
}

// benchWatermillPublishBatch publishes batch messages per Publish call.
func benchWatermillPublishBatch(b *testing.B, goroutines, batch int, codec string) {
	cfg, topic := benchSetup(b)
	cfg.Compression = codec
	pub := kafkatest.NewPublisher(b, cfg)
	p := payload()
	var next atomic.Int64
	b.SetBytes(benchRecord)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msgs := make([]*message.Message, 0, batch)
			for {
				i := next.Add(int64(batch)) - int64(batch)
				if i >= int64(b.N) {
					return
				}
				msgs = msgs[:0]
				for j := i; j < min(i+int64(batch), int64(b.N)); j++ {
					m := message.NewMessage("m", p)
					m.Metadata.Set(kafka.MetaShard, "db/c/"+strconv.Itoa(int(j%64)))
					msgs = append(msgs, m)
				}
				if err := pub.Publish(topic, msgs...); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	reportRate(b, b.N, time.Since(start))
}

func BenchmarkWatermillPublish(b *testing.B) {
	b.Run("1goroutine", func(b *testing.B) { benchWatermillPublish(b, 1, "none") })
	b.Run("32goroutines", func(b *testing.B) { benchWatermillPublish(b, 32, "none") })
	b.Run("32goroutines-lz4", func(b *testing.B) { benchWatermillPublish(b, 32, "lz4") })
	b.Run("1goroutine-100perCall", func(b *testing.B) { benchWatermillPublishBatch(b, 1, 100, "none") })
	b.Run("4goroutines-100perCall", func(b *testing.B) { benchWatermillPublishBatch(b, 4, 100, "none") })
}

func BenchmarkWatermillSubscribe(b *testing.B) {
	benchSubscribe(b, func(b *testing.B, cfg kafka.Config) message.Subscriber {
		return kafkatest.NewSubscriber(b, cfg, "bench-"+kafkatest.RandomID())
	})
}

// BenchmarkWatermillSubscribeRaw is BenchmarkWatermillSubscribe with
// watermill-kafka's own subscriber (no reassembly, no ack tracking): the
// difference is the cost of our layer.
func BenchmarkWatermillSubscribeRaw(b *testing.B) {
	benchSubscribe(b, func(b *testing.B, cfg kafka.Config) message.Subscriber {
		sc := saramaBase()
		sc.Consumer.Offsets.AutoCommit.Enable = true
		sub, err := wmkafka.NewSubscriber(wmkafka.SubscriberConfig{
			Brokers: cfg.Brokers, Unmarshaler: wmkafka.DefaultMarshaler{}, OverwriteSaramaConfig: sc,
			ConsumerGroup: "bench-" + kafkatest.RandomID(),
		}, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = sub.Close() })
		return sub
	})
}

func benchSubscribe(b *testing.B, newSub func(*testing.B, kafka.Config) message.Subscriber) {
	cfg, topic := benchSetup(b)
	// Records as our publisher writes them (with the UUID header).
	pub := kafkatest.NewPublisher(b, cfg)
	p := payload()
	batch := make([]*message.Message, 0, 100)
	for i := 0; i < b.N; i++ {
		m := message.NewMessage("m"+strconv.Itoa(i), p)
		m.Metadata.Set(kafka.MetaShard, "db/c/"+strconv.Itoa(i%64))
		batch = append(batch, m)
		if len(batch) == cap(batch) || i == b.N-1 {
			if err := pub.Publish(topic, batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	sub := newSub(b, cfg)
	b.SetBytes(benchRecord)
	b.ResetTimer()
	ch := kafkatest.Subscribe(b, sub, topic)
	deadline := time.After(5 * time.Minute)
	var start time.Time // the clock starts at the first message: the group join is not measured
	for i := 0; i < b.N; i++ {
		select {
		case m := <-ch:
			if i == 0 {
				start = time.Now()
			}
			m.Ack()
		case <-deadline:
			b.Fatalf("received %d of %d", i, b.N)
		}
	}
	reportRate(b, b.N, time.Since(start))
}
