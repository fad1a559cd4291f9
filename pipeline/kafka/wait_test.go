package kafka_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/pipeline/broker"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
)

func TestWaitTopics(t *testing.T) {
	c := startBroker(t, broker.Config{})
	cfg := kafka.Config{Brokers: c.Addrs()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	short, scancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer scancel()
	if _, err := kafka.WaitTopics(short, cfg, 10*time.Millisecond, "later"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a missing topic must keep WaitTopics waiting until ctx ends, got %v", err)
	}

	done := make(chan error, 1)
	var got map[string]int
	go func() {
		var err error
		got, err = kafka.WaitTopics(ctx, cfg, 10*time.Millisecond, "later")
		done <- err
	}()
	if err := kafka.EnsureTopics(ctx, cfg, []kafka.TopicSpec{{Name: "later", Partitions: 3}}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got["later"] != 3 {
		t.Fatalf("partitions: %v", got)
	}
}
