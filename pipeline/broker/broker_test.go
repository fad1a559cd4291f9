package broker_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
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

func TestValidate(t *testing.T) {
	err := broker.Config{
		Brokers:  2,
		Ports:    []int{1, 2, 3},
		BasePort: 5,
		Users:    []broker.User{{Mechanism: "GSSAPI", Name: "u"}},
	}.Validate()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"3 ports given for 2 brokers", "both Ports and BasePort", `"GSSAPI"`, "empty name or password"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention %q", err, want)
		}
	}
	if err := (broker.Config{}).Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
}

func TestStartListensOnLoopback(t *testing.T) {
	c, err := broker.Start(context.Background(), broker.Config{Brokers: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	addrs := c.Addrs()
	if len(addrs) != 3 {
		t.Fatalf("addrs %v", addrs)
	}
	for _, a := range addrs {
		if !strings.HasPrefix(a, "127.0.0.1:") {
			t.Errorf("broker listens on %s, want loopback", a)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestPortInUseIsExplained(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	port := ln.Addr().(*net.TCPAddr).Port
	_, err = broker.Start(context.Background(), broker.Config{BasePort: port})
	if err == nil || !strings.Contains(err.Error(), strconv.Itoa(port)) || !strings.Contains(err.Error(), "pick other ports") {
		t.Fatalf("got %v", err)
	}
}

// TestPersistenceAcrossRestart writes records and commits a group offset,
// closes the cluster, starts it again on the same DataDir and ports, and
// checks that records, topic and committed offsets survived.
func TestPersistenceAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	c, err := broker.Start(context.Background(), broker.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	addrs := c.Addrs()
	_, portStr, _ := net.SplitHostPort(addrs[0])
	port, _ := strconv.Atoi(portStr)
	cfg := kafka.Config{Brokers: addrs, Consumer: kafka.ConsumerConfig{
		SessionTimeout: 6 * time.Second, HeartbeatInterval: 500 * time.Millisecond, AutoCommitInterval: 100 * time.Millisecond,
	}}
	topic := kafkatest.NewTopic(t, cfg, 3)
	group := "g" + kafkatest.RandomID()

	publishN := func(from, to int) {
		pub, err := kafka.NewPublisher(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = pub.Close() }()
		var msgs []*message.Message
		for i := from; i < to; i++ {
			msgs = append(msgs, kafkatest.Msg(fmt.Sprintf("db/c%d/0", i%4), i, []byte("p")))
		}
		if err := pub.Publish(topic, msgs...); err != nil {
			t.Fatal(err)
		}
	}
	ledger := kafkatest.NewAckLedger()
	consume := func(n int) map[string]bool {
		cfg := cfg
		cfg.Consumer.Group = group
		sub, err := kafka.NewSubscriber(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = sub.Close() }()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch, err := sub.Subscribe(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		deadline := time.After(kafkatest.Timeout)
		for len(seen) < n {
			select {
			case m := <-ch:
				m.Ack()
				ledger.Redelivered(t, m)
				ledger.Add(m)
				seen[m.Metadata.Get("seq")] = true
			case <-deadline:
				t.Fatalf("got %d of %d messages", len(seen), n)
			}
		}
		return seen
	}

	publishN(0, 40)
	first := consume(40)
	publishN(40, 70)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c2, err := broker.Start(context.Background(), broker.Config{DataDir: dir, BasePort: port})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c2.Close() }()
	if got := c2.Addrs(); got[0] != addrs[0] {
		t.Fatalf("restarted on %v, want %v", got, addrs)
	}
	// The topic is still there with its partitions: EnsureTopics verifies.
	if err := kafka.EnsureTopics(context.Background(), cfg, []kafka.TopicSpec{{Name: topic, Partitions: 3}}); err != nil {
		t.Fatal(err)
	}
	rest := consume(30)
	for i := 0; i < 70; i++ {
		s := strconv.Itoa(i)
		if first[s] == rest[s] {
			t.Fatalf("seq %d: before restart %v, after %v; want exactly once overall", i, first[s], rest[s])
		}
	}
}
