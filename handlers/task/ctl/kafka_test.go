package ctl

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/broker"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
)

// TestLargeAnswerCrossesKafka: an answer of several MB (a big revisions
// list) is fragmented by the transport and reaches its waiter whole.
func TestLargeAnswerCrossesKafka(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	br, err := broker.Start(ctx, broker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	kc := kafka.Config{Brokers: br.Addrs()}
	const topic = "dc2dc.s.ctl.down"
	if err := kafka.EnsureTopics(ctx, kc, []kafka.TopicSpec{{Name: topic, Partitions: 1}}); err != nil {
		t.Fatal(err)
	}
	lk := kc
	lk.Consumer.Group = "dc2dc.s.ctl.test"
	l, err := NewListener(ListenerConfig{Kafka: lk, Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	lctx, lcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- l.Run(lctx) }()
	defer func() {
		lcancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	ch, stop := l.Expect("big")
	defer stop()

	revs := make([]events.KeyRev, 100000)
	for i := range revs {
		revs[i] = events.KeyRev{Key: fmt.Sprintf("key-%08d", i), Rev: fmt.Sprintf("_rev%012d", i)}
	}
	msg, err := Message("s", shard, 9, TypeRevisions, "B", Answer{ID: "big", Revisions: revs})
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Payload) < 3<<20 {
		t.Fatalf("payload %d bytes: the test wants several MB", len(msg.Payload))
	}
	pub, err := kafka.NewPublisher(kc)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.Publish(topic, msg); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-ch:
		if len(a.Revisions) != len(revs) || a.Revisions[99999] != revs[99999] {
			t.Fatalf("answer with %d revisions", len(a.Revisions))
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the answer did not arrive")
	}
}
