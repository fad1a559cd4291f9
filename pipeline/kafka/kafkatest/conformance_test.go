package kafkatest_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dc2dc/dc2dc/pipeline/broker"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
	"github.com/dc2dc/dc2dc/pipeline/kafka/kafkatest"
)

// sarama's metrics (rcrowley/go-metrics) start one process-wide meter
// goroutine on first use that never ends; it is not a leak of ours.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"))
}

// fastGroups shortens group timeouts so rebalances are quick in tests.
func fastGroups(cfg kafka.Config) kafka.Config {
	cfg.Consumer.SessionTimeout = 6 * time.Second
	cfg.Consumer.HeartbeatInterval = 500 * time.Millisecond
	cfg.Consumer.RebalanceTimeout = 10 * time.Second
	cfg.Consumer.AutoCommitInterval = 200 * time.Millisecond
	return cfg
}

func TestConformanceKfake(t *testing.T) {
	c, err := broker.Start(context.Background(), broker.Config{Brokers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	kafkatest.RunConformance(t, func(*testing.T) kafka.Config {
		return fastGroups(kafka.Config{Brokers: c.Addrs()})
	})
}

func TestConformanceRealKafka(t *testing.T) {
	brokers := os.Getenv("KAFKA_BROKERS")
	if brokers == "" {
		t.Skip("KAFKA_BROKERS is not set: set it to host:port[,host:port] of a real Kafka to run the conformance suite against it")
	}
	kafkatest.RunConformance(t, func(*testing.T) kafka.Config {
		return fastGroups(kafka.Config{Brokers: strings.Split(brokers, ",")})
	})
}
