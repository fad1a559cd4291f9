package middleware_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/middleware"
)

// A receive-shard task wires the chain into a Watermill router; its handler
// reads the decoded batch and applies it.
func Example() {
	pubsub := gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, watermill.NopLogger{})
	defer pubsub.Close()

	chain, err := middleware.New(middleware.Config{
		PoisonTopic:     "dc2dc.s1.poison",
		PoisonPublisher: pubsub,
		// Applied: the checkpoint store (middleware.AppliedFunc over it).
		// TracerProvider, MeterProvider: the process's providers (nil = off).
	})
	if err != nil {
		panic(err)
	}
	defer chain.Close()

	router, _ := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	router.AddMiddleware(chain.Middlewares()...)
	applied := make(chan string, 10)
	router.AddConsumerHandler("apply", "dc2dc.s1.data", pubsub, func(msg *message.Message) error {
		b, _ := middleware.BatchFrom(msg)
		applied <- fmt.Sprintf("%s at %s: %d records", b.Shard, b.Pos, len(b.Records))
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = router.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	<-router.Running()

	shard := events.ShardRef{Database: "db", CollectionID: "1001", Index: 0}
	b := &events.Batch{Sync: "s1", Shard: shard,
		Pos: events.Position{Epoch: 1, Tick: 12}, Prev: events.Position{Epoch: 1},
		Records: []events.Record{
			{Tick: 11, Event: &events.Document{Key: "a", Rev: "_r1", Doc: json.RawMessage(`{"_key":"a"}`)}},
			{Tick: 12, Event: &events.Remove{Key: "b", Rev: "_r2"}},
		}}
	payload, _ := events.Encode(b)
	msg := message.NewMessage(watermill.NewUUID(), payload)
	for k, v := range b.Metadata() {
		msg.Metadata.Set(k, v)
	}
	_ = pubsub.Publish("dc2dc.s1.data", msg)
	_ = pubsub.Publish("dc2dc.s1.data", msg.Copy()) // a replay: skipped

	select {
	case s := <-applied:
		fmt.Println(s)
	case <-time.After(10 * time.Second):
		fmt.Println("nothing applied")
	}
	// Output: db/1001/0 at 1:12.0: 2 records
}
