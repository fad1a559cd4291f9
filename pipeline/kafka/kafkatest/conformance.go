package kafkatest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	wmkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/dc2dc/dc2dc/pipeline/kafka"
)

// Timeout bounds every wait of the suite (group joins, deliveries).
var Timeout = 60 * time.Second

// RunConformance runs the transport's contract tests against the cluster
// newCfg points at. newCfg returns a fresh Config (brokers, security) for
// each subtest; the suite sets groups, topics and sizes itself.
func RunConformance(t *testing.T, newCfg func(t *testing.T) kafka.Config) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, cfg kafka.Config)
	}{
		{"PublishSubscribe", testPublishSubscribe},
		{"PerKeyOrder", testPerKeyOrder},
		{"NackRedelivery", testNackRedelivery},
		{"GroupResume", testGroupResume},
		{"AckThenCloseCommits", testAckThenCloseCommits},
		{"GroupSplitsPartitions", testGroupSplitsPartitions},
		{"LargeMessage", testLargeMessage},
		{"Compression", testCompression},
		{"ContextCancellation", testContextCancellation},
		{"TopicCreationIdempotent", testTopicCreationIdempotent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newCfg(t)) })
	}
}

// RandomID returns a short random identifier for topic and group names.
func RandomID() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// NewTopic creates a fresh topic with the given partition count and returns
// its name.
func NewTopic(t testing.TB, cfg kafka.Config, partitions int32) string {
	t.Helper()
	topics, err := kafka.TopicsFor("conformance", "t"+RandomID())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, cfg, []kafka.TopicSpec{{Name: topics.Data, Partitions: partitions}}); err != nil {
		t.Fatalf("creating topic %s: %v", topics.Data, err)
	}
	return topics.Data
}

// NewPublisher returns a publisher closed at the end of the test.
func NewPublisher(t testing.TB, cfg kafka.Config) message.Publisher {
	t.Helper()
	pub, err := kafka.NewPublisher(cfg)
	if err != nil {
		t.Fatalf("new publisher: %v", err)
	}
	t.Cleanup(func() {
		if err := pub.Close(); err != nil {
			t.Errorf("closing publisher: %v", err)
		}
	})
	return pub
}

// NewSubscriber returns a subscriber in group, closed at the end of the
// test (closing it again earlier is fine).
func NewSubscriber(t testing.TB, cfg kafka.Config, group string) message.Subscriber {
	t.Helper()
	cfg.Consumer.Group = group
	sub, err := kafka.NewSubscriber(cfg)
	if err != nil {
		t.Fatalf("new subscriber: %v", err)
	}
	t.Cleanup(func() {
		if err := sub.Close(); err != nil {
			t.Errorf("closing subscriber: %v", err)
		}
	})
	return sub
}

// Subscribe subscribes with a context cancelled at the end of the test.
func Subscribe(t testing.TB, sub message.Subscriber, topic string) <-chan *message.Message {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatalf("subscribe to %s: %v", topic, err)
	}
	return ch
}

// Position returns the Kafka partition and offset a delivered message came
// from (for a reassembled message, the offset of its last fragment).
func Position(m *message.Message) (int32, int64) {
	p, _ := wmkafka.MessagePartitionFromCtx(m.Context())
	o, _ := wmkafka.MessagePartitionOffsetFromCtx(m.Context())
	return p, o
}

// AckLedger records acked messages. The transport commits every acked
// message when a subscriber closes cleanly, so a later member of the group
// must not see any of them again.
type AckLedger struct {
	acked map[string]bool
}

// NewAckLedger returns an empty ledger.
func NewAckLedger() *AckLedger { return &AckLedger{acked: map[string]bool{}} }

// Add records that m was acked.
func (l *AckLedger) Add(m *message.Message) { l.acked[m.UUID] = true }

// Len is the number of distinct acked messages.
func (l *AckLedger) Len() int { return len(l.acked) }

// Redelivered fails the test if m was acked before (it reports false
// otherwise, so callers can use it in a condition).
func (l *AckLedger) Redelivered(t testing.TB, m *message.Message) bool {
	t.Helper()
	if l.acked[m.UUID] {
		p, o := Position(m)
		t.Fatalf("message %s (partition %d offset %d) was acked and committed but delivered again", m.UUID, p, o)
	}
	return false
}

// Msg builds a message with a shard key and a sequence number.
func Msg(shard string, seq int, payload []byte) *message.Message {
	m := message.NewMessage(fmt.Sprintf("%s-%d-%s", shard, seq, RandomID()), payload)
	m.Metadata.Set(kafka.MetaShard, shard)
	m.Metadata.Set("seq", strconv.Itoa(seq))
	return m
}

// Receive reads n messages from ch, acking each, or fails after Timeout.
func Receive(t testing.TB, ch <-chan *message.Message, n int) []*message.Message {
	t.Helper()
	var got []*message.Message
	deadline := time.NewTimer(Timeout)
	defer deadline.Stop()
	for len(got) < n {
		select {
		case m, ok := <-ch:
			if !ok {
				t.Fatalf("subscription closed after %d of %d messages", len(got), n)
			}
			m.Ack()
			got = append(got, m)
		case <-deadline.C:
			t.Fatalf("received %d of %d messages in %v", len(got), n, Timeout)
		}
	}
	return got
}

// ExpectNone fails if ch delivers a message within d.
func ExpectNone(t testing.TB, ch <-chan *message.Message, d time.Duration) {
	t.Helper()
	select {
	case m, ok := <-ch:
		if ok {
			t.Fatalf("unexpected message %s (seq %s)", m.UUID, m.Metadata.Get("seq"))
		}
	case <-time.After(d):
	}
}

func publish(t testing.TB, pub message.Publisher, topic string, msgs ...*message.Message) {
	t.Helper()
	if err := pub.Publish(topic, msgs...); err != nil {
		t.Fatalf("publish to %s: %v", topic, err)
	}
}

func testPublishSubscribe(t *testing.T, cfg kafka.Config) {
	topic := NewTopic(t, cfg, 4)
	pub := NewPublisher(t, cfg)
	want := map[string]*message.Message{}
	var msgs []*message.Message
	for i := 0; i < 60; i++ {
		m := Msg(fmt.Sprintf("db/c%d/0", i%7), i, []byte("payload-"+strconv.Itoa(i)))
		m.Metadata.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
		want[m.UUID] = m
		msgs = append(msgs, m)
	}
	publish(t, pub, topic, msgs...)
	ch := Subscribe(t, NewSubscriber(t, cfg, "g"+RandomID()), topic)
	for _, m := range Receive(t, ch, len(msgs)) {
		w, ok := want[m.UUID]
		if !ok {
			t.Fatalf("unknown or duplicate message %s", m.UUID)
		}
		delete(want, m.UUID)
		if !bytes.Equal(m.Payload, w.Payload) {
			t.Errorf("message %s: payload %q, want %q", m.UUID, m.Payload, w.Payload)
		}
		for k, v := range w.Metadata {
			if m.Metadata.Get(k) != v {
				t.Errorf("message %s: metadata %s=%q, want %q", m.UUID, k, m.Metadata.Get(k), v)
			}
		}
	}
	ExpectNone(t, ch, 200*time.Millisecond)
}

func testPerKeyOrder(t *testing.T, cfg kafka.Config) {
	topic := NewTopic(t, cfg, 6)
	pub := NewPublisher(t, cfg)
	const shards, perShard = 12, 25
	var wg sync.WaitGroup
	errs := make(chan error, shards)
	for s := 0; s < shards; s++ {
		wg.Add(1)
		go func() { // one publisher goroutine per shard, like the pipeline
			defer wg.Done()
			for i := 0; i < perShard; i += 5 {
				batch := make([]*message.Message, 0, 5)
				for j := i; j < i+5; j++ {
					batch = append(batch, Msg(fmt.Sprintf("db/%d/0", s), j, []byte{byte(j)}))
				}
				if err := pub.Publish(topic, batch...); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ch := Subscribe(t, NewSubscriber(t, cfg, "g"+RandomID()), topic)
	next := map[string]int{}
	for _, m := range Receive(t, ch, shards*perShard) {
		shard := m.Metadata.Get(kafka.MetaShard)
		seq, _ := strconv.Atoi(m.Metadata.Get("seq"))
		if seq != next[shard] {
			t.Fatalf("shard %s: got seq %d, want %d", shard, seq, next[shard])
		}
		next[shard]++
	}
}

func testNackRedelivery(t *testing.T, cfg kafka.Config) {
	cfg.Consumer.NackResendDelay = 10 * time.Millisecond
	topic := NewTopic(t, cfg, 2)
	pub := NewPublisher(t, cfg)
	for i := 0; i < 5; i++ {
		publish(t, pub, topic, Msg("db/c/1", i, []byte{byte(i)}))
	}
	ch := Subscribe(t, NewSubscriber(t, cfg, "g"+RandomID()), topic)
	var seqs []string
	nacks := 0
	deadline := time.After(Timeout)
	for len(seqs) < 5 {
		select {
		case m := <-ch:
			if m.Metadata.Get("seq") == "2" && nacks < 2 {
				nacks++
				m.Nack()
				continue
			}
			m.Ack()
			seqs = append(seqs, m.Metadata.Get("seq"))
		case <-deadline:
			t.Fatalf("got %v after %d nacks", seqs, nacks)
		}
	}
	if fmt.Sprint(seqs) != "[0 1 2 3 4]" || nacks != 2 {
		t.Fatalf("got %v with %d nacks, want [0 1 2 3 4] with message 2 redelivered twice", seqs, nacks)
	}
}

func testGroupResume(t *testing.T, cfg kafka.Config) {
	topic := NewTopic(t, cfg, 3)
	group := "g" + RandomID()
	pub := NewPublisher(t, cfg)
	all := map[string]bool{}
	add := func(from, to int) {
		var msgs []*message.Message
		for i := from; i < to; i++ {
			m := Msg(fmt.Sprintf("db/c%d/0", i%5), i, []byte("x"))
			all[m.UUID] = true
			msgs = append(msgs, m)
		}
		publish(t, pub, topic, msgs...)
	}
	add(0, 60)

	// First member: ack 30 messages, leave one delivered but unacked, close.
	sub := NewSubscriber(t, cfg, group)
	ch := Subscribe(t, sub, topic)
	ledger := NewAckLedger()
	for _, m := range Receive(t, ch, 30) {
		ledger.Add(m)
	}
	select {
	case <-ch: // delivered, never acked: must come back
	case <-time.After(Timeout):
		t.Fatal("no 31st message")
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	add(60, 90)

	// Second member of the same group: everything not acked, nothing acked.
	ch2 := Subscribe(t, NewSubscriber(t, cfg, group), topic)
	seen := map[string]bool{}
	deadline := time.After(Timeout)
	for len(seen) < len(all)-ledger.Len() {
		select {
		case m := <-ch2:
			m.Ack()
			if !all[m.UUID] {
				t.Fatalf("unknown message %s", m.UUID)
			}
			ledger.Redelivered(t, m)
			if seen[m.UUID] {
				t.Fatalf("message %s delivered twice to one member", m.UUID)
			}
			seen[m.UUID] = true
		case <-deadline:
			t.Fatalf("second member got %d of %d unacked messages", len(seen), len(all)-ledger.Len())
		}
	}
	ExpectNone(t, ch2, 300*time.Millisecond)
}

// testAckThenCloseCommits closes the subscriber (odd rounds: cancels the
// subscription's context first) right after the ack, again and again: the
// ack must be committed every time, never redelivered.
func testAckThenCloseCommits(t *testing.T, cfg kafka.Config) {
	topic := NewTopic(t, cfg, 1)
	group := "g" + RandomID()
	pub := NewPublisher(t, cfg)
	for i := 0; i < 6; i++ {
		publish(t, pub, topic, Msg("db/c/0", i, []byte("x")))
		sub := NewSubscriber(t, cfg, group)
		ctx, cancel := context.WithCancel(context.Background())
		ch, err := sub.Subscribe(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		m := Receive(t, ch, 1)[0] // acked inside
		if seq := m.Metadata.Get("seq"); seq != strconv.Itoa(i) {
			t.Fatalf("round %d: got seq %s: the previous round's ack was not committed", i, seq)
		}
		if i%2 == 1 {
			cancel()
		}
		if err := sub.Close(); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
}

func testGroupSplitsPartitions(t *testing.T, cfg kafka.Config) {
	topic := NewTopic(t, cfg, 6)
	group := "g" + RandomID()
	pub := NewPublisher(t, cfg)
	chA := Subscribe(t, NewSubscriber(t, cfg, group), topic)
	chB := Subscribe(t, NewSubscriber(t, cfg, group), topic)

	// Publish rounds over many shards until both members received some:
	// the group needs a rebalance before the second member gets partitions.
	var mu sync.Mutex
	got := map[string]map[string]bool{"A": {}, "B": {}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for name, ch := range map[string]<-chan *message.Message{"A": chA, "B": chB} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case m := <-ch:
					mu.Lock()
					got[name][m.UUID] = true
					mu.Unlock()
					m.Ack()
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	defer func() { cancel(); wg.Wait() }()
	published := map[string]bool{}
	deadline := time.Now().Add(Timeout)
	for round := 0; ; round++ {
		var msgs []*message.Message
		for i := 0; i < 24; i++ {
			m := Msg(fmt.Sprintf("db/c%d/0", i), round*24+i, []byte("x"))
			published[m.UUID] = true
			msgs = append(msgs, m)
		}
		publish(t, pub, topic, msgs...)
		mu.Lock()
		a, b := len(got["A"]), len(got["B"])
		mu.Unlock()
		if a > 0 && b > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v member A got %d and member B %d messages: the group did not split", Timeout, a, b)
		}
		time.Sleep(100 * time.Millisecond) // pacing the producer, not synchronization
	}
	// Everything published reaches one member or the other.
	for {
		mu.Lock()
		missing := 0
		for id := range published {
			if !got["A"][id] && !got["B"][id] {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages never delivered", missing, len(published))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testLargeMessage(t *testing.T, cfg kafka.Config) {
	cfg.MaxMessageBytes = 1 << 20
	topic := NewTopic(t, cfg, 3)
	pub := NewPublisher(t, cfg)
	big := make([]byte, 10<<20)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	shard := "db/big/0"
	large := Msg(shard, 1, big)
	large.Metadata.Set("dc2dc-kind", "document")
	publish(t, pub, topic, Msg(shard, 0, []byte("before")), large, Msg(shard, 2, []byte("after")))

	// A member that receives the large message but closes without acking
	// it must not commit any of its fragments.
	group := "g" + RandomID()
	sub := NewSubscriber(t, cfg, group)
	ch := Subscribe(t, sub, topic)
	first := Receive(t, ch, 1)[0]
	if string(first.Payload) != "before" {
		t.Fatalf("first message %q, want \"before\"", first.Payload)
	}
	select {
	case m := <-ch:
		if !bytes.Equal(m.Payload, big) {
			t.Fatalf("reassembled payload has %d bytes and differs from the 10 MiB original", len(m.Payload))
		}
	case <-time.After(Timeout):
		t.Fatal("the large message was not delivered")
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}

	ch2 := Subscribe(t, NewSubscriber(t, cfg, group), topic)
	got := Receive(t, ch2, 2)
	if !bytes.Equal(got[0].Payload, big) || string(got[1].Payload) != "after" {
		t.Fatalf("after restart got %d bytes then %q, want the 10 MiB message then \"after\"", len(got[0].Payload), got[1].Payload)
	}
	m := got[0]
	if m.UUID != large.UUID || m.Metadata.Get("dc2dc-kind") != "document" || m.Metadata.Get(kafka.MetaShard) != shard {
		t.Errorf("reassembled message lost its identity: uuid %s metadata %v", m.UUID, m.Metadata)
	}
	for _, k := range []string{kafka.MetaFragID, kafka.MetaFragIdx, kafka.MetaFragN, kafka.MetaFragError} {
		if _, ok := m.Metadata[k]; ok {
			t.Errorf("reassembled message still carries %s", k)
		}
	}
	if err := kafka.BrokenFragments(m); err != nil {
		t.Errorf("BrokenFragments on a whole message: %v", err)
	}
}

func testCompression(t *testing.T, cfg kafka.Config) {
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			cfg := cfg
			cfg.Compression = codec
			topic := NewTopic(t, cfg, 2)
			pub := NewPublisher(t, cfg)
			payload := bytes.Repeat([]byte("compressible "+codec+" "), 500)
			var msgs []*message.Message
			for i := 0; i < 20; i++ {
				msgs = append(msgs, Msg("db/c/0", i, payload))
			}
			publish(t, pub, topic, msgs...)
			for i, m := range Receive(t, Subscribe(t, NewSubscriber(t, cfg, "g"+RandomID()), topic), len(msgs)) {
				if !bytes.Equal(m.Payload, payload) || m.Metadata.Get("seq") != strconv.Itoa(i) {
					t.Fatalf("message %d: seq %s, %d bytes, want seq %d, %d bytes", i, m.Metadata.Get("seq"), len(m.Payload), i, len(payload))
				}
			}
		})
	}
}

func testContextCancellation(t *testing.T, cfg kafka.Config) {
	topic := NewTopic(t, cfg, 2)
	pub := NewPublisher(t, cfg)
	publish(t, pub, topic, Msg("db/c/0", 0, []byte("x")))
	sub := NewSubscriber(t, cfg, "g"+RandomID())
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	Receive(t, ch, 1)
	cancel()
	deadline := time.After(Timeout)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				goto closed
			}
		case <-deadline:
			t.Fatal("subscription channel still open after its context was cancelled")
		}
	}
closed:
	// Topic management honours its context too.
	done, stop := context.WithCancel(context.Background())
	stop()
	err = kafka.EnsureTopics(done, cfg, []kafka.TopicSpec{{Name: "conformance.cancelled." + RandomID(), Partitions: 1}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("EnsureTopics with a cancelled context: %v, want context.Canceled", err)
	}
}

func testTopicCreationIdempotent(t *testing.T, cfg kafka.Config) {
	topics, err := kafka.TopicsFor("conformance", "s"+RandomID())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	var specs []kafka.TopicSpec
	for _, name := range topics.All() {
		specs = append(specs, kafka.TopicSpec{Name: name, Partitions: 4, Retention: 24 * time.Hour, MaxMessageBytes: 2 << 20, CleanupPolicy: "delete", MinInsyncReplicas: 1})
	}
	for i := 0; i < 2; i++ {
		if err := kafka.EnsureTopics(ctx, cfg, specs); err != nil {
			t.Fatalf("EnsureTopics call %d: %v", i+1, err)
		}
	}
	specs[0].Partitions = 8
	err = kafka.EnsureTopics(ctx, cfg, specs)
	if !errors.Is(err, kafka.ErrTopicMismatch) || !errors.Is(err, kafka.ErrPermanent) {
		t.Fatalf("EnsureTopics with another partition count: %v, want ErrTopicMismatch (permanent)", err)
	}
}
