package kafka

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"

	"github.com/IBM/sarama"
	wmkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
)

// Fragment headers (Watermill metadata keys) of a message split by the
// publisher. Every fragment also carries the original message's metadata
// and UUID, so each one lands on the original's partition.
const (
	MetaFragID    = "dc2dc-frag-id"    // random id shared by the fragments of one message
	MetaFragIdx   = "dc2dc-frag-idx"   // 0-based index of this fragment
	MetaFragN     = "dc2dc-frag-n"     // number of fragments
	MetaFragError = "dc2dc-frag-error" // set on a delivered message that stands for a broken run
)

// fragmentOverhead is reserved in every fragment for the record framing and
// the fragment headers, on top of the original metadata.
const fragmentOverhead = 512

// recordSize estimates the Kafka record size of msg (value, key, headers and
// framing), as sarama counts it against Producer.MaxMessageBytes.
func recordSize(msg *message.Message) int {
	n := len(msg.Payload) + len(msg.UUID) + len(msg.Metadata.Get(MetaShard)) + 64
	for k, v := range msg.Metadata {
		n += len(k) + len(v) + 10
	}
	return n
}

// Fragmenter is a message.Publisher decorator that splits a message whose
// Kafka record would exceed maxRecordBytes into consecutive fragments. The
// fragments of one message are published in one call to the wrapped
// publisher, and no other message of this Fragmenter is published while they
// are: with one publisher per shard (the pipeline's rule) the fragments are
// consecutive in their partition.
type Fragmenter struct {
	m              *metrics // nil: not measured
	pub            message.Publisher
	maxRecordBytes int
	mu             sync.RWMutex // held exclusively while a fragmented message is published
}

// NewFragmenter wraps pub. maxRecordBytes is the largest record to send,
// usually Config.MaxMessageBytes.
func NewFragmenter(pub message.Publisher, maxRecordBytes int) *Fragmenter {
	return &Fragmenter{pub: pub, maxRecordBytes: maxRecordBytes}
}

// Publish publishes msgs in order, splitting the large ones.
func (f *Fragmenter) Publish(topic string, msgs ...*message.Message) error {
	start := 0
	for i, msg := range msgs {
		if recordSize(msg) <= f.maxRecordBytes {
			continue
		}
		if err := f.publishWhole(topic, msgs[start:i]); err != nil {
			return err
		}
		frags, err := f.split(msg)
		if err != nil {
			return err
		}
		if f.m != nil {
			f.m.fragmented.Add(context.Background(), 1, f.m.topic(topic))
		}
		f.mu.Lock()
		err = f.pub.Publish(topic, frags...)
		f.mu.Unlock()
		if err != nil {
			return err
		}
		start = i + 1
	}
	return f.publishWhole(topic, msgs[start:])
}

func (f *Fragmenter) publishWhole(topic string, msgs []*message.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.pub.Publish(topic, msgs...)
}

// Close closes the wrapped publisher.
func (f *Fragmenter) Close() error { return f.pub.Close() }

func (f *Fragmenter) split(msg *message.Message) ([]*message.Message, error) {
	for _, k := range []string{MetaFragID, MetaFragIdx, MetaFragN, MetaFragError} {
		if _, ok := msg.Metadata[k]; ok {
			return nil, newError(ErrBrokenFragments, false, fmt.Sprintf("kafka: message %s carries the reserved metadata key %s: remove it before publishing", msg.UUID, k), nil)
		}
	}
	head := recordSize(&message.Message{UUID: msg.UUID, Metadata: msg.Metadata}) + fragmentOverhead
	chunk := f.maxRecordBytes - head
	if chunk < 1024 {
		return nil, newError(ErrMessageTooLarge, false, fmt.Sprintf("kafka: message %s has %d bytes of metadata, too much to split it into records of %d bytes: shrink the metadata or raise --kafka.max-message-bytes", msg.UUID, head, f.maxRecordBytes), nil)
	}
	var idb [8]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return nil, err
	}
	id := hex.EncodeToString(idb[:])
	n := (len(msg.Payload) + chunk - 1) / chunk
	frags := make([]*message.Message, 0, n)
	for i := 0; i < n; i++ {
		end := min((i+1)*chunk, len(msg.Payload))
		fm := message.NewMessage(msg.UUID, msg.Payload[i*chunk:end])
		fm.SetContext(msg.Context())
		for k, v := range msg.Metadata {
			fm.Metadata.Set(k, v)
		}
		fm.Metadata.Set(MetaFragID, id)
		fm.Metadata.Set(MetaFragIdx, strconv.Itoa(i))
		fm.Metadata.Set(MetaFragN, strconv.Itoa(n))
		frags = append(frags, fm)
	}
	return frags, nil
}

// BrokenFragments returns the error a delivered message stands for when the
// subscriber could not reassemble its fragment run (incomplete, interleaved
// with other records, inconsistent headers or over the size limit), and nil
// for every other message. The error matches ErrBrokenFragments and
// ErrPermanent: the handler returns it and the poison middleware routes the
// message; acknowledging it moves the group past the broken run.
func BrokenFragments(msg *message.Message) error {
	reason, ok := msg.Metadata[MetaFragError]
	if !ok {
		return nil
	}
	return newError(ErrBrokenFragments, false, fmt.Sprintf("kafka: message %s (shard %q) is a broken fragment run: %s", msg.UUID, msg.Metadata.Get(MetaShard), reason), nil)
}

// RejectBrokenFragments is a Watermill middleware that fails a message
// standing for a broken fragment run with BrokenFragments' error before it
// reaches the handler. Put it inside the poison middleware.
func RejectBrokenFragments(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		if err := BrokenFragments(msg); err != nil {
			return nil, err
		}
		return h(msg)
	}
}

// fragHeaders are the headers parsed from one record.
type fragHeaders struct {
	id     string
	idx, n int
	isFrag bool
	bad    string // why the fragment headers are invalid
}

func parseFragHeaders(m *sarama.ConsumerMessage) fragHeaders {
	var h fragHeaders
	var idx, n string
	var haveIdx, haveN bool
	for _, rh := range m.Headers {
		if rh == nil {
			continue
		}
		switch string(rh.Key) {
		case MetaFragID:
			h.isFrag, h.id = true, string(rh.Value)
		case MetaFragIdx:
			idx, haveIdx = string(rh.Value), true
		case MetaFragN:
			n, haveN = string(rh.Value), true
		}
	}
	if !h.isFrag {
		if haveIdx || haveN {
			h.isFrag, h.bad = true, "fragment index or count without a fragment id"
		}
		return h
	}
	var err1, err2 error
	h.idx, err1 = strconv.Atoi(idx)
	h.n, err2 = strconv.Atoi(n)
	switch {
	case h.id == "":
		h.bad = "empty fragment id"
	case !haveIdx || !haveN || err1 != nil || err2 != nil:
		h.bad = fmt.Sprintf("fragment index %q or count %q is not a number", idx, n)
	case h.n < 1 || h.idx < 0 || h.idx >= h.n:
		h.bad = fmt.Sprintf("fragment index %d is outside a run of %d", h.idx, h.n)
	}
	return h
}

// recordUUID returns the Watermill message UUID header of a record.
func recordUUID(m *sarama.ConsumerMessage) string {
	for _, h := range m.Headers {
		if h != nil && string(h.Key) == wmkafka.UUIDHeaderKey {
			return string(h.Value)
		}
	}
	return ""
}

// fragRun is the fragment run being reassembled in one partition.
type fragRun struct {
	id     string
	n      int
	next   int // index expected next
	first  *sarama.ConsumerMessage
	last   *sarama.ConsumerMessage
	buf    []byte
	broken string // non-empty once the run cannot be delivered; buf is then nil
}

// reassembler rebuilds fragmented messages from the records of one
// partition, in offset order. It holds at most one run and at most limit
// payload bytes. The message it delivers for a run carries the offset of the
// run's last record, so marking it commits the whole run and nothing of a
// run is committed before.
type reassembler struct {
	limit int
	run   *fragRun
	m     *metrics // nil: not measured
}

// push consumes one record and returns the records to deliver (zero, one
// or two).
func (r *reassembler) push(m *sarama.ConsumerMessage) []*sarama.ConsumerMessage {
	h := parseFragHeaders(m)
	var out []*sarama.ConsumerMessage
	if !h.isFrag {
		if r.run != nil {
			out = append(out, r.fail("interrupted by a record that is not a fragment"))
		}
		return append(out, m)
	}
	if h.bad != "" {
		if r.run != nil && r.run.id == h.id {
			r.run.last = m
			r.breakRun(h.bad)
			return append(out, r.fail(""))
		}
		if r.run != nil {
			out = append(out, r.fail("interrupted by an invalid fragment"))
		}
		r.run = &fragRun{id: h.id, first: m, last: m}
		r.breakRun(h.bad)
		return append(out, r.fail(""))
	}
	if r.run != nil && r.run.id != h.id {
		if h.idx == 0 && recordUUID(r.run.first) != "" && recordUUID(r.run.first) == recordUUID(m) {
			// The same message again from its start: the publisher retried
			// after a failure part-way through. The new run supersedes the
			// old one, whose offsets are committed with the new run's.
			r.run = nil
		} else {
			out = append(out, r.fail("interrupted by fragment run "+h.id))
		}
	}
	if r.run == nil {
		r.run = &fragRun{id: h.id, n: h.n, first: m}
		if h.idx == 0 {
			// Every fragment but the last is as long as the first: size the
			// buffer once (within the limit) instead of growing it.
			size := r.limit
			if len(m.Value) > 0 && h.n <= r.limit/len(m.Value) { // no overflow
				size = h.n * len(m.Value)
			}
			r.run.buf = make([]byte, 0, size)
		} else {
			r.breakRun(fmt.Sprintf("run starts at fragment %d of %d (the earlier ones are missing)", h.idx, h.n))
		}
	} else if h.n != r.run.n || h.idx != r.run.next {
		r.breakRun(fmt.Sprintf("fragment %d of %d follows fragment %d of %d", h.idx, h.n, r.run.next-1, r.run.n))
	}
	run := r.run
	run.last = m
	run.next = h.idx + 1
	if run.broken == "" {
		if len(run.buf)+len(m.Value) > r.limit {
			r.breakRun(fmt.Sprintf("the reassembled payload would exceed the limit of %d bytes (raise --kafka.max-reassembled-bytes)", r.limit))
		} else {
			run.buf = append(run.buf, m.Value...)
		}
	}
	if h.idx == h.n-1 {
		if run.broken != "" {
			return append(out, r.fail(""))
		}
		r.run = nil
		if r.m != nil {
			r.m.reassembled.Add(context.Background(), 1, r.m.topic(run.first.Topic))
		}
		return append(out, assembled(run))
	}
	return out
}

func (r *reassembler) breakRun(reason string) {
	if r.run.broken == "" {
		r.run.broken = reason
		r.run.buf = nil
	}
}

// fail ends the current run and returns the record that reports it.
func (r *reassembler) fail(reason string) *sarama.ConsumerMessage {
	run := r.run
	r.run = nil
	if run.broken == "" {
		run.broken = reason
	}
	if run.last == nil {
		run.last = run.first
	}
	if r.m != nil {
		r.m.brokenRuns.Add(context.Background(), 1, r.m.topic(run.first.Topic))
	}
	out := withoutFragHeaders(run.first, run.last.Offset)
	out.Headers = append(out.Headers, &sarama.RecordHeader{Key: []byte(MetaFragError), Value: []byte(fmt.Sprintf(
		"fragment run %q at offsets %d-%d of %s/%d: %s", run.id, run.first.Offset, run.last.Offset, run.first.Topic, run.first.Partition, run.broken))})
	return out
}

func assembled(run *fragRun) *sarama.ConsumerMessage {
	out := withoutFragHeaders(run.first, run.last.Offset)
	out.Value = run.buf
	return out
}

// withoutFragHeaders copies m without its value and fragment headers, at
// the given offset.
func withoutFragHeaders(m *sarama.ConsumerMessage, offset int64) *sarama.ConsumerMessage {
	out := *m
	out.Value = nil
	out.Offset = offset
	out.Headers = make([]*sarama.RecordHeader, 0, len(m.Headers))
	for _, h := range m.Headers {
		if h == nil {
			continue
		}
		switch string(h.Key) {
		case MetaFragID, MetaFragIdx, MetaFragN, MetaFragError:
			continue
		}
		out.Headers = append(out.Headers, h)
	}
	return &out
}
