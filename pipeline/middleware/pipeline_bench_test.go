package middleware_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	wkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/batcher"
	"github.com/dc2dc/dc2dc/pipeline/middleware"
)

// BenchmarkPipelineKafka: b.N documents of 1 KiB through the whole path on
// in-process kfake: batcher (default limits: 1000 records, 900 KiB) →
// events.Encode → watermill-kafka publisher (sync, one goroutine) → kfake →
// watermill-kafka consumer group (autocommit) → the full chain → a handler
// that counts records. Reports records/s end to end.
func BenchmarkPipelineKafka(b *testing.B) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, dataTopic, poisonTopic))
	if err != nil {
		b.Fatal(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	pcfg := wkafka.DefaultSaramaSyncPublisherConfig()
	pcfg.Version = sarama.V2_8_0_0
	pcfg.Producer.MaxMessageBytes = 1 << 20
	pub, err := wkafka.NewPublisher(wkafka.PublisherConfig{Brokers: brokers, OverwriteSaramaConfig: pcfg,
		Marshaler: wkafka.DefaultMarshaler{}}, watermill.NopLogger{})
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	scfg := wkafka.DefaultSaramaSubscriberConfig()
	scfg.Version = sarama.V2_8_0_0
	scfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	sub, err := wkafka.NewSubscriber(wkafka.SubscriberConfig{Brokers: brokers, ConsumerGroup: "bench",
		OverwriteSaramaConfig: scfg, Unmarshaler: wkafka.DefaultMarshaler{}}, watermill.NopLogger{})
	if err != nil {
		b.Fatal(err)
	}

	chain, err := middleware.New(middleware.Config{PoisonTopic: poisonTopic, PoisonPublisher: pub})
	if err != nil {
		b.Fatal(err)
	}
	defer chain.Close()
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	if err != nil {
		b.Fatal(err)
	}
	router.AddMiddleware(chain.Middlewares()...)
	var applied atomic.Int64
	router.AddConsumerHandler("apply", dataTopic, sub, func(msg *message.Message) error {
		bt, _ := middleware.BatchFrom(msg)
		applied.Add(int64(len(bt.Records)))
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- router.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-router.Running()

	body := json.RawMessage(`{"_key":"k","v":"` + strings.Repeat("x", 1024-17-2) + `"}`)
	bt, err := batcher.New(batcher.Config{}, batcher.Stream{Sync: "s1", Shard: shardA, Epoch: 1},
		func(_ context.Context, o batcher.Out) error {
			payload, err := events.Encode(o.Batch)
			if err != nil {
				return err
			}
			msg := message.NewMessage(watermill.NewUUID(), payload)
			for k, v := range o.Metadata() {
				msg.Metadata.Set(k, v)
			}
			return pub.Publish(dataTopic, msg)
		})
	if err != nil {
		b.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- bt.Run(context.Background()) }()

	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		r := events.Record{Tick: uint64(i + 1), Event: &events.Document{Key: "k", Rev: "_r", Doc: body}}
		if err := bt.Add(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
	bt.Close()
	if err := <-runErr; err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for applied.Load() < int64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("applied %d of %d records", applied.Load(), b.N)
		}
		time.Sleep(time.Millisecond) // polling interval
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}
