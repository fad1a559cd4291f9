package kafka_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dc2dc/dc2dc/pipeline/broker"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
)

// sarama's metrics (rcrowley/go-metrics) start one process-wide meter
// goroutine on first use that never ends; it is not a leak of ours.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"))
}

// startBroker starts an embedded cluster closed at the end of the test.
func startBroker(t testing.TB, cfg broker.Config) *broker.Cluster {
	t.Helper()
	c, err := broker.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// testConfig is a transport config for c with quick group timeouts.
func testConfig(c *broker.Cluster) kafka.Config {
	return kafka.Config{
		Brokers:     c.Addrs(),
		DialTimeout: 3 * time.Second,
		Consumer: kafka.ConsumerConfig{
			SessionTimeout:     6 * time.Second,
			HeartbeatInterval:  500 * time.Millisecond,
			AutoCommitInterval: 200 * time.Millisecond,
		},
	}
}
