package kafka

import (
	"sync"
	"time"

	"github.com/IBM/sarama"
	wmkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
)

// closeMarkWait bounds how long Close waits for acked messages to be marked.
const closeMarkWait = 2 * time.Second

// ackTracker lets Close wait until every message acked so far has had its
// offset marked. watermill-kafka marks an acked message's offset in the
// goroutine that delivered it, and when Close is signalled at the same time
// it picks one of the two at random: without the wait, the last message
// acked before Close in each partition would be delivered again to the next
// member of the group.
//
// It sees each message twice: when watermill-kafka unmarshals the record
// (trackingUnmarshaler) and when the offset is marked (markingSession). A
// partition delivers one message at a time, so one pending entry per
// partition suffices. A message redelivered after a nack is a copy the
// tracker does not see: acking that copy right before Close can still lead
// to one redelivery.
type ackTracker struct {
	mu      sync.Mutex
	pending map[topicPartition]pendingAck
}

type topicPartition struct {
	topic     string
	partition int32
}

type pendingAck struct {
	msg    *message.Message
	offset int64
	marked bool
}

func newAckTracker() *ackTracker {
	return &ackTracker{pending: map[topicPartition]pendingAck{}}
}

func (t *ackTracker) delivered(km *sarama.ConsumerMessage, msg *message.Message) {
	t.mu.Lock()
	t.pending[topicPartition{km.Topic, km.Partition}] = pendingAck{msg: msg, offset: km.Offset}
	t.mu.Unlock()
}

func (t *ackTracker) marked(km *sarama.ConsumerMessage) {
	tp := topicPartition{km.Topic, km.Partition}
	t.mu.Lock()
	if p, ok := t.pending[tp]; ok && p.offset <= km.Offset {
		p.marked = true
		t.pending[tp] = p
	}
	t.mu.Unlock()
}

// released forgets a partition whose claim ended: its unmarked ack can no
// longer be marked by this member.
func (t *ackTracker) released(topic string, partition int32) {
	t.mu.Lock()
	delete(t.pending, topicPartition{topic, partition})
	t.mu.Unlock()
}

// ackedUnmarked counts messages acked but not yet marked.
func (t *ackTracker) ackedUnmarked() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, p := range t.pending {
		if p.marked {
			continue
		}
		select {
		case <-p.msg.Acked():
			n++
		default:
		}
	}
	return n
}

// waitMarked waits (at most d) until every acked message is marked.
func (t *ackTracker) waitMarked(d time.Duration) {
	deadline := time.Now().Add(d)
	for t.ackedUnmarked() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // the mark follows the ack within microseconds
	}
}

// trackingUnmarshaler is watermill-kafka's default unmarshaler that reports
// each message to the tracker.
type trackingUnmarshaler struct {
	wmkafka.DefaultMarshaler
	t *ackTracker
}

func (u trackingUnmarshaler) Unmarshal(km *sarama.ConsumerMessage) (*message.Message, error) {
	msg, err := u.DefaultMarshaler.Unmarshal(km)
	if err == nil {
		u.t.delivered(km, msg)
	}
	return msg, err
}

// markingSession reports marked offsets to the tracker.
type markingSession struct {
	sarama.ConsumerGroupSession
	t *ackTracker
}

func (s markingSession) MarkMessage(km *sarama.ConsumerMessage, metadata string) {
	s.ConsumerGroupSession.MarkMessage(km, metadata)
	s.t.marked(km)
}
