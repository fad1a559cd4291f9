package kafka_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/dc2dc/dc2dc/pipeline/broker"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
	"github.com/dc2dc/dc2dc/pipeline/kafka/kafkatest"
)

// Environment of the helper process.
const (
	helperBrokers = "DC2DC_KAFKA_HELPER_BROKERS"
	helperTopic   = "DC2DC_KAFKA_HELPER_TOPIC"
	helperGroup   = "DC2DC_KAFKA_HELPER_GROUP"
	helperSession = "DC2DC_KAFKA_HELPER_SESSION"
)

// groupConfig is a config whose group session times out after session.
func groupConfig(brokers []string, group string, session time.Duration) kafka.Config {
	return kafka.Config{Brokers: brokers, Consumer: kafka.ConsumerConfig{
		Group:              group,
		SessionTimeout:     session,
		HeartbeatInterval:  session / 6,
		RebalanceTimeout:   session,
		AutoCommitInterval: 100 * time.Millisecond,
	}}
}

// TestHelperGroupMember is not a test: BenchmarkGroupTakeoverAfterKill9
// runs it in a child process as a group member to kill with SIGKILL. It
// prints "consuming" once it has a message and acks everything until killed.
func TestHelperGroupMember(t *testing.T) {
	brokers := os.Getenv(helperBrokers)
	if brokers == "" {
		t.Skip("helper process of BenchmarkGroupTakeoverAfterKill9, not a test")
	}
	session, err := time.ParseDuration(os.Getenv(helperSession))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := kafka.NewSubscriber(groupConfig(strings.Split(brokers, ","), os.Getenv(helperGroup), session))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := sub.Subscribe(context.Background(), os.Getenv(helperTopic))
	if err != nil {
		t.Fatal(err)
	}
	first := true
	for m := range ch { // until SIGKILL
		m.Ack()
		if first {
			fmt.Println("consuming")
			first = false
		}
	}
}

// BenchmarkGroupTakeoverAfterKill9 measures how long the partitions of a
// group member killed with SIGKILL take to reach the surviving member, for
// several session timeouts (kfake with group.min.session.timeout.ms
// lowered to 500ms). It reports the seconds from the kill until the
// survivor received a fresh message from every partition. Run with:
//
//	go test -run '^$' -bench GroupTakeover -benchtime 1x ./pipeline/kafka/
func BenchmarkGroupTakeoverAfterKill9(b *testing.B) {
	for _, session := range []time.Duration{6 * time.Second, 3 * time.Second, time.Second} {
		b.Run(session.String(), func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				total += takeover(b, session)
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s/takeover")
		})
	}
}

func takeover(b *testing.B, session time.Duration) time.Duration {
	b.Helper()
	c := startBroker(b, broker.Config{GroupMinSessionTimeout: 500 * time.Millisecond})
	const partitions = 6
	cfg := kafka.Config{Brokers: c.Addrs()}
	topic := kafkatest.NewTopic(b, cfg, partitions)
	group := "takeover-" + kafkatest.RandomID()
	pub := kafkatest.NewPublisher(b, cfg)
	var round int
	publishRound := func() {
		round++
		var msgs []*message.Message
		for s := 0; s < 4*partitions; s++ {
			msgs = append(msgs, kafkatest.Msg(fmt.Sprintf("db/c%d/0", s), round, []byte("x")))
		}
		if err := pub.Publish(topic, msgs...); err != nil {
			b.Fatal(err)
		}
	}

	// Member A in a child process.
	child := exec.Command(os.Args[0], "-test.run=^TestHelperGroupMember$", "-test.v")
	child.Env = append(os.Environ(), helperBrokers+"="+strings.Join(c.Addrs(), ","), helperTopic+"="+topic,
		helperGroup+"="+group, helperSession+"="+session.String())
	out, err := child.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	consuming := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "consuming" {
				close(consuming)
			}
		}
	}()
	deadline := time.After(2 * time.Minute)
	for waiting := true; waiting; {
		publishRound()
		select {
		case <-consuming:
			waiting = false
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			b.Fatal("the child member never consumed")
		}
	}

	// Member B here; wait until the group is split between A and B.
	sub, err := kafka.NewSubscriber(groupConfig(c.Addrs(), group, session))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = sub.Close() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := sub.Subscribe(ctx, topic)
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	var killedAt time.Time
	fresh := map[int32]bool{}
	done := make(chan time.Time, 1)
	got := make(chan struct{}, 1)
	go func() {
		for m := range ch {
			m.Ack()
			select {
			case got <- struct{}{}:
			default:
			}
			p, _ := kafkatest.Position(m)
			mu.Lock()
			if !killedAt.IsZero() && m.Metadata.Get("killed") == "yes" && !fresh[p] {
				fresh[p] = true
				if len(fresh) == partitions {
					done <- time.Now()
				}
			}
			mu.Unlock()
		}
	}()
	for waiting := true; waiting; {
		publishRound()
		select {
		case <-got:
			waiting = false
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			b.Fatal("the second member never consumed")
		}
	}

	// Kill A; publish marked messages until B has all partitions.
	mu.Lock()
	if err := child.Process.Kill(); err != nil {
		b.Fatal(err)
	}
	killedAt = time.Now()
	mu.Unlock()
	b.ResetTimer()
	for {
		var msgs []*message.Message
		for s := 0; s < 4*partitions; s++ {
			m := kafkatest.Msg(fmt.Sprintf("db/c%d/0", s), 0, []byte("x"))
			m.Metadata.Set("killed", "yes")
			msgs = append(msgs, m)
		}
		if err := pub.Publish(topic, msgs...); err != nil {
			b.Fatal(err)
		}
		select {
		case at := <-done:
			b.StopTimer()
			return at.Sub(killedAt)
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			b.Fatal("the survivor never got every partition")
		}
	}
}
