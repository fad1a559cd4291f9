package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	wmkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/dc2dc/dc2dc/events"
)

// Metadata keys the transport reads. The full list of dc2dc headers lives in
// package events; the transport only needs the partition key.
const (
	// MetaShard is the shard key "db/collectionId/index": the Kafka
	// partition key, so the events of one shard stay in order.
	MetaShard = events.MetaShard
)

// PartitionKey is the Kafka record key of msg: its dc2dc-shard metadata.
// Messages without a shard (control messages) all get the empty key, which
// hashes to one fixed partition, so they stay in order too.
func PartitionKey(_ string, msg *message.Message) (string, error) {
	return msg.Metadata.Get(MetaShard), nil
}

func logAdapter(l *slog.Logger) watermill.LoggerAdapter {
	if l == nil {
		return watermill.NopLogger{}
	}
	return watermill.NewSlogLogger(l)
}

// publisher classifies the errors of watermill-kafka's publisher and makes
// Close safe to call concurrently with Publish (watermill-kafka's closed flag
// is a plain bool).
type publisher struct {
	cfg       Config
	m         *metrics
	inner     *wmkafka.Publisher
	marshaler wmkafka.Marshaler
	producer  sarama.SyncProducer // inner's producer, for pipelined multi-message sends
	mu        sync.RWMutex        // Publish holds it shared, Close exclusively
	closed    bool
}

// NewPublisher returns a Watermill publisher on watermill-kafka: idempotent
// by default, records keyed by the dc2dc-shard metadata, payloads larger
// than cfg.MaxMessageBytes split into fragments (see Fragmenter). Publish is
// synchronous: it returns after Kafka acknowledged every record (acks=all).
// Errors are classified (*Error; ErrRetryable or ErrPermanent).
func NewPublisher(cfg Config) (message.Publisher, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sc, err := cfg.saramaConfig()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.MeterProvider)
	if err != nil {
		return nil, err
	}
	marshaler := wmkafka.NewWithPartitioningMarshaler(PartitionKey)
	capture := &producerCapture{}
	inner, err := wmkafka.NewPublisher(wmkafka.PublisherConfig{
		Brokers:               cfg.Brokers,
		Marshaler:             marshaler,
		OverwriteSaramaConfig: sc,
		Tracer:                capture,
	}, logAdapter(cfg.Logger))
	if err != nil {
		return nil, classify(err, cfg, "connecting the Kafka publisher")
	}
	f := NewFragmenter(&publisher{cfg: cfg, m: m, inner: inner, marshaler: marshaler, producer: capture.p}, cfg.MaxMessageBytes)
	f.m = m
	return f, nil
}

func (p *publisher) Publish(topic string, msgs ...*message.Message) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return newError(ErrClosed, false, "kafka: publish to "+topic+" after Close", nil)
	}
	if len(msgs) > 1 && p.producer != nil {
		return p.publishPipelined(topic, msgs)
	}
	for i, msg := range msgs {
		start := time.Now()
		err := p.inner.Publish(topic, msg)
		if err != nil {
			err = classify(err, p.cfg, fmt.Sprintf("publishing message %s (%d of %d) to %s", msg.UUID, i+1, len(msgs), topic))
		}
		p.m.published(topic, len(msg.Payload), time.Since(start), err)
		if err != nil {
			return err
		}
	}
	return nil
}

// publishPipelined sends several messages with one SendMessages call:
// sarama keeps them in flight together instead of waiting for one ack before
// sending the next, and keeps their order within each partition (idempotent
// producer, one request in flight per broker). Each failed message is
// reported with its own classified error (joined in message order).
func (p *publisher) publishPipelined(topic string, msgs []*message.Message) error {
	pms := make([]*sarama.ProducerMessage, len(msgs))
	index := make(map[*sarama.ProducerMessage]int, len(msgs))
	for i, msg := range msgs {
		pm, err := p.marshaler.Marshal(topic, msg)
		if err != nil {
			return newError(ErrKafka, false, fmt.Sprintf("kafka: cannot marshal message %s", msg.UUID), err)
		}
		pms[i] = pm
		index[pm] = i
	}
	start := time.Now()
	err := p.producer.SendMessages(pms)
	took := time.Since(start)
	failed := make([]error, len(msgs))
	var perrs sarama.ProducerErrors
	switch {
	case err == nil:
	case errors.As(err, &perrs):
		for _, pe := range perrs {
			if i, ok := index[pe.Msg]; ok {
				failed[i] = classify(pe.Err, p.cfg, fmt.Sprintf("publishing message %s (%d of %d) to %s", msgs[i].UUID, i+1, len(msgs), topic))
			}
		}
	default: // not per message: the whole call failed
		err = classify(err, p.cfg, fmt.Sprintf("publishing %d messages to %s", len(msgs), topic))
		for _, msg := range msgs {
			p.m.published(topic, len(msg.Payload), took, err)
		}
		return err
	}
	var errs []error
	for i, msg := range msgs {
		p.m.published(topic, len(msg.Payload), took, failed[i])
		if failed[i] != nil {
			errs = append(errs, failed[i])
		}
	}
	return errors.Join(errs...)
}

func (p *publisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	return classify(p.inner.Close(), p.cfg, "closing the Kafka publisher")
}

// subscriber classifies the errors of watermill-kafka's subscriber.
type subscriber struct {
	cfg     Config
	inner   *wmkafka.Subscriber
	tracker *ackTracker
	closed  atomic.Bool
	done    chan struct{} // closed by Close
}

// NewSubscriber returns a Watermill subscriber on watermill-kafka in
// consumer group cfg.Consumer.Group (required). Each partition delivers one
// message at a time: the next one comes after the current one is acked.
// Ack marks the offset, which sarama's autocommit commits every
// Consumer.AutoCommitInterval (and on Close); nack redelivers the same
// message after Consumer.NackResendDelay. Fragment runs are reassembled
// before delivery (see Fragmenter, BrokenFragments).
//
// Close closes every subscription's channel; messages not acked by then are
// redelivered to the next member of the group.
func NewSubscriber(cfg Config) (message.Subscriber, error) {
	cfg.EnsureDefaults()
	errs := []error{cfg.Validate()}
	if cfg.Consumer.Group == "" {
		errs = append(errs, errors.New("kafka: a subscriber needs a consumer group: set Consumer.Group (offsets are committed to it)"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, invalidConfig(err)
	}
	sc, err := cfg.saramaConfig()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.MeterProvider)
	if err != nil {
		return nil, err
	}
	nackDelay := cfg.Consumer.NackResendDelay
	if nackDelay == 0 {
		nackDelay = wmkafka.NoSleep
	}
	tracker := newAckTracker()
	inner, err := wmkafka.NewSubscriber(wmkafka.SubscriberConfig{
		Brokers:               cfg.Brokers,
		Unmarshaler:           trackingUnmarshaler{t: tracker},
		OverwriteSaramaConfig: sc,
		ConsumerGroup:         cfg.Consumer.Group,
		NackResendSleep:       nackDelay,
		ReconnectRetrySleep:   time.Second,
		Tracer:                reassemblingTracer{limit: cfg.MaxReassembledBytes, m: m, t: tracker},
	}, logAdapter(cfg.Logger))
	if err != nil {
		return nil, classify(err, cfg, "creating the Kafka subscriber")
	}
	return &subscriber{cfg: cfg, inner: inner, tracker: tracker, done: make(chan struct{})}, nil
}

func (s *subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if s.closed.Load() {
		return nil, newError(ErrClosed, false, "kafka: subscribe to "+topic+" after Close", nil)
	}
	// watermill-kafka would retry a missing topic forever, once a second,
	// with an open channel that never delivers: check it exists first.
	if _, err := s.inner.PartitionOffset(topic); err != nil {
		return nil, classify(err, s.cfg, fmt.Sprintf("subscribing to %s in group %s", topic, s.cfg.Consumer.Group))
	}
	// Cancelling ctx races with marking a last-moment ack inside
	// watermill-kafka just like Close does: hand it a context that is
	// cancelled only after the acks are marked.
	innerCtx, innerCancel := context.WithCancel(context.WithoutCancel(ctx))
	ch, err := s.inner.Subscribe(innerCtx, topic)
	if err != nil {
		innerCancel()
		return nil, classify(err, s.cfg, fmt.Sprintf("subscribing to %s in group %s", topic, s.cfg.Consumer.Group))
	}
	go func() {
		defer innerCancel()
		select {
		case <-ctx.Done():
			s.tracker.waitMarked(closeMarkWait)
		case <-s.done:
		}
	}()
	return ch, nil
}

func (s *subscriber) Close() error {
	if !s.closed.Swap(true) {
		s.tracker.waitMarked(closeMarkWait)
		close(s.done)
	}
	return classify(s.inner.Close(), s.cfg, "closing the Kafka subscriber")
}

// reassemblingTracer hooks into watermill-kafka (through its tracer
// interface, the one place it lets us wrap the sarama consumer) to
// reassemble fragment runs below Watermill, where we control which offsets
// are marked.
type reassemblingTracer struct {
	limit int
	m     *metrics
	t     *ackTracker
}

// producerCapture hooks into watermill-kafka's publisher (through its tracer
// interface) to get hold of its sarama SyncProducer for pipelined sends.
type producerCapture struct{ p sarama.SyncProducer }

func (*producerCapture) WrapConsumer(c sarama.Consumer) sarama.Consumer { return c }
func (*producerCapture) WrapPartitionConsumer(pc sarama.PartitionConsumer) sarama.PartitionConsumer {
	return pc
}
func (*producerCapture) WrapConsumerGroupHandler(h sarama.ConsumerGroupHandler) sarama.ConsumerGroupHandler {
	return h
}
func (c *producerCapture) WrapSyncProducer(_ *sarama.Config, p sarama.SyncProducer) sarama.SyncProducer {
	c.p = p
	return p
}

func (reassemblingTracer) WrapConsumer(c sarama.Consumer) sarama.Consumer { return c }

// WrapPartitionConsumer is only used without a consumer group, which
// NewSubscriber does not allow.
func (reassemblingTracer) WrapPartitionConsumer(pc sarama.PartitionConsumer) sarama.PartitionConsumer {
	return pc
}

func (reassemblingTracer) WrapSyncProducer(_ *sarama.Config, p sarama.SyncProducer) sarama.SyncProducer {
	return p
}

func (t reassemblingTracer) WrapConsumerGroupHandler(h sarama.ConsumerGroupHandler) sarama.ConsumerGroupHandler {
	return reassemblingHandler{ConsumerGroupHandler: h, limit: t.limit, m: t.m, t: t.t}
}

type reassemblingHandler struct {
	sarama.ConsumerGroupHandler
	limit int
	m     *metrics
	t     *ackTracker
}

// ConsumeClaim feeds the wrapped handler the reassembled records of the
// claim. The wrapped handler marks the offsets of what it is given, so a
// fragment run is marked (by its last offset) only when the whole message
// is acked.
func (h reassemblingHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	out := make(chan *sarama.ConsumerMessage)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(out)
		r := reassembler{limit: h.limit, m: h.m}
		for {
			var m *sarama.ConsumerMessage
			var ok bool
			select {
			case m, ok = <-claim.Messages():
				if !ok {
					return
				}
			case <-done:
				return
			}
			for _, o := range r.push(m) {
				select {
				case out <- o:
				case <-done:
					return
				}
			}
		}
	}()
	err := h.ConsumerGroupHandler.ConsumeClaim(markingSession{ConsumerGroupSession: sess, t: h.t}, reassembledClaim{ConsumerGroupClaim: claim, msgs: out})
	h.t.released(claim.Topic(), claim.Partition())
	close(done)
	wg.Wait()
	return err
}

type reassembledClaim struct {
	sarama.ConsumerGroupClaim
	msgs chan *sarama.ConsumerMessage
}

func (c reassembledClaim) Messages() <-chan *sarama.ConsumerMessage { return c.msgs }
