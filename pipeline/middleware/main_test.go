package middleware

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"go.uber.org/goleak"

	"github.com/dc2dc/dc2dc/events"
)

// sarama's metrics (rcrowley/go-metrics, used by the Kafka integration test)
// start one process-wide meter goroutine on first use that never ends.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"))
}

var testShard = events.ShardRef{Database: "db", CollectionID: "1001", Index: 0}

// batchAt returns a batch of n documents ending at tick, whose Prev is the
// start of its epoch (see after).
func batchAt(shard events.ShardRef, epoch, tick uint64, sub uint32, n int) *events.Batch {
	b := &events.Batch{Sync: "s1", Shard: shard, Pos: events.Position{Epoch: epoch, Tick: tick, Sub: sub},
		Prev:   events.Position{Epoch: epoch},
		SentAt: time.Unix(1700000000, 0).UTC()}
	for i := 0; i < n; i++ {
		t := uint64(0)
		if tick >= uint64(n) {
			t = tick - uint64(n-1-i)
		}
		key := fmt.Sprintf("k%d-%d", tick, i)
		b.Records = append(b.Records, events.Record{Tick: t, Event: &events.Document{
			Key: key, Rev: "_r1", Doc: json.RawMessage(`{"_key":"` + key + `"}`)}})
	}
	if n > 0 {
		b.FirstTick = b.Records[0].Tick
	}
	return b
}

// after sets b's Prev to prev's position and returns b.
func after(b, prev *events.Batch) *events.Batch {
	b.Prev = prev.Pos
	return b
}

// msgFor encodes b into a Watermill message as the send side would.
func msgFor(t testing.TB, b *events.Batch) *message.Message {
	t.Helper()
	payload, err := events.Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	msg := message.NewMessage(watermill.NewUUID(), payload)
	for k, v := range b.Metadata() {
		msg.Metadata.Set(k, v)
	}
	return msg
}

// recordingPublisher records what it publishes; failures fail the first
// calls.
type recordingPublisher struct {
	mu       sync.Mutex
	failures int
	err      error
	msgs     map[string][]*message.Message
	calls    int
}

func newRecordingPublisher() *recordingPublisher {
	return &recordingPublisher{msgs: make(map[string][]*message.Message)}
}

func (p *recordingPublisher) Publish(topic string, msgs ...*message.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.failures != 0 {
		if p.failures > 0 {
			p.failures--
		}
		if p.err != nil {
			return p.err
		}
		return errors.New("broker down")
	}
	p.msgs[topic] = append(p.msgs[topic], msgs...)
	return nil
}

func (p *recordingPublisher) Close() error { return nil }

func (p *recordingPublisher) topic(name string) []*message.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*message.Message(nil), p.msgs[name]...)
}

// memApplied is an AppliedPositions in memory.
type memApplied struct {
	mu  sync.Mutex
	pos map[string]events.Position
	err error
}

func (m *memApplied) Applied(shard string) (events.Position, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return events.Position{}, false, m.err
	}
	p, ok := m.pos[shard]
	return p, ok, nil
}

// noWait makes retries and poison publishes immediate and records waits.
type noWait struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (w *noWait) wait(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.waits = append(w.waits, d)
	w.mu.Unlock()
	return ctx.Err()
}
