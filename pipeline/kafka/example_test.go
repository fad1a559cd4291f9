package kafka_test

import (
	"context"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/dc2dc/dc2dc/pipeline/broker"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
)

// Example shows the transport end to end: name a sync's topics, create
// them, publish a message keyed by its shard, consume it in a group, ack.
func Example() {
	ctx := context.Background()
	cluster, err := broker.Start(ctx, broker.Config{}) // or a real Kafka
	if err != nil {
		panic(err)
	}
	defer func() { _ = cluster.Close() }()

	cfg := kafka.Config{Brokers: cluster.Addrs()}
	topics, err := kafka.TopicsFor(kafka.DefaultTopicPrefix, "example")
	if err != nil {
		panic(err)
	}
	if err := kafka.EnsureTopics(ctx, cfg, []kafka.TopicSpec{{Name: topics.Data, Partitions: 4}}); err != nil {
		panic(err)
	}

	pub, err := kafka.NewPublisher(cfg)
	if err != nil {
		panic(err)
	}
	defer func() { _ = pub.Close() }()
	msg := message.NewMessage("m-1", []byte("hello"))
	msg.Metadata.Set(kafka.MetaShard, "shop/42/0") // the partition key
	if err := pub.Publish(topics.Data, msg); err != nil {
		panic(err)
	}

	cfg.Consumer.Group = "dc2dc.example.apply"
	sub, err := kafka.NewSubscriber(cfg)
	if err != nil {
		panic(err)
	}
	defer func() { _ = sub.Close() }()
	ch, err := sub.Subscribe(ctx, topics.Data)
	if err != nil {
		panic(err)
	}
	got := <-ch
	if err := kafka.BrokenFragments(got); err != nil { // a broken fragment run: poison it
		panic(err)
	}
	fmt.Println(topics.Data, got.Metadata.Get(kafka.MetaShard), string(got.Payload))
	got.Ack() // marks the offset; committed within Consumer.AutoCommitInterval and on Close
	// Output: dc2dc.example.data shop/42/0 hello
}
