package kafka_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/pipeline/broker"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
	"github.com/dc2dc/dc2dc/pipeline/kafka/kafkatest"
)

// TestBrokerRestart: while the broker is down, Publish fails with a
// retryable error; once it is back (same port and data dir) the same
// publisher and subscriber carry on without being recreated.
func TestBrokerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for client retries and reconnects")
	}
	dir := t.TempDir()
	c, err := broker.Start(context.Background(), broker.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, portStr, _ := net.SplitHostPort(c.Addrs()[0])
	port, _ := strconv.Atoi(portStr)
	cfg := testConfig(c)
	cfg.Producer.Retries = 2
	cfg.Producer.RetryBackoff = 100 * time.Millisecond
	topic := kafkatest.NewTopic(t, cfg, 2)
	pub := kafkatest.NewPublisher(t, cfg)
	ch := kafkatest.Subscribe(t, kafkatest.NewSubscriber(t, cfg, "g"+kafkatest.RandomID()), topic)
	for i := 0; i < 5; i++ {
		if err := pub.Publish(topic, kafkatest.Msg("db/c/"+strconv.Itoa(i), i, []byte("before"))); err != nil {
			t.Fatal(err)
		}
	}
	kafkatest.Receive(t, ch, 5)

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	err = pub.Publish(topic, kafkatest.Msg("db/c/0", 99, []byte("while down")))
	if err == nil || !kafka.IsRetryable(err) {
		t.Fatalf("publish while the broker is down: %v, want a retryable error", err)
	}

	c2, err := broker.Start(context.Background(), broker.Config{DataDir: dir, BasePort: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c2.Close() })
	deadline := time.Now().Add(kafkatest.Timeout)
	for i := 5; i < 10; i++ {
		for {
			err := pub.Publish(topic, kafkatest.Msg("db/c/"+strconv.Itoa(i), i, []byte("after")))
			if err == nil {
				break
			}
			if !errors.Is(err, kafka.ErrRetryable) || time.Now().After(deadline) {
				t.Fatalf("publish after the restart: %v", err)
			}
			time.Sleep(100 * time.Millisecond) // backoff between retries, not synchronization
		}
	}
	after := 0
	timeout := time.After(kafkatest.Timeout)
	for after < 5 {
		select {
		case m := <-ch:
			m.Ack()
			if string(m.Payload) == "before" {
				continue // acked within the last autocommit interval before the broker went down: at-least-once
			}
			if string(m.Payload) != "after" {
				t.Fatalf("unexpected message %q seq %s", m.Payload, m.Metadata.Get("seq"))
			}
			after++
		case <-timeout:
			t.Fatalf("the subscriber got %d of 5 messages after the restart", after)
		}
	}
}
