package kafka

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill/message"
)

// capture is a message.Publisher that records what it is given.
type capture struct{ msgs []*message.Message }

func (c *capture) Publish(_ string, msgs ...*message.Message) error {
	c.msgs = append(c.msgs, msgs...)
	return nil
}
func (c *capture) Close() error { return nil }

// toRecords turns published messages into consumed records at offsets
// from base, as the default marshaler would.
func toRecords(msgs []*message.Message, base int64) []*sarama.ConsumerMessage {
	var out []*sarama.ConsumerMessage
	for i, m := range msgs {
		r := &sarama.ConsumerMessage{Topic: "t", Partition: 3, Offset: base + int64(i), Value: m.Payload, Key: []byte(m.Metadata.Get(MetaShard))}
		r.Headers = append(r.Headers, &sarama.RecordHeader{Key: []byte("_watermill_message_uuid"), Value: []byte(m.UUID)})
		for k, v := range m.Metadata {
			r.Headers = append(r.Headers, &sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
		}
		out = append(out, r)
	}
	return out
}

func header(r *sarama.ConsumerMessage, key string) (string, bool) {
	for _, h := range r.Headers {
		if string(h.Key) == key {
			return string(h.Value), true
		}
	}
	return "", false
}

func split(t *testing.T, payload []byte, maxRecord int) []*message.Message {
	t.Helper()
	return splitAs(t, "uuid-1", payload, maxRecord)
}

func splitAs(t *testing.T, uuid string, payload []byte, maxRecord int) []*message.Message {
	t.Helper()
	var c capture
	m := message.NewMessage(uuid, payload)
	m.Metadata.Set(MetaShard, "db/c/0")
	m.Metadata.Set("dc2dc-kind", "doc")
	if err := NewFragmenter(&c, maxRecord).Publish("t", m); err != nil {
		t.Fatal(err)
	}
	return c.msgs
}

func TestFragmenterSplitsOnlyLargeMessages(t *testing.T) {
	var c capture
	f := NewFragmenter(&c, 10000)
	small := message.NewMessage("s", make([]byte, 100))
	big := message.NewMessage("b", bytes.Repeat([]byte{7}, 50000))
	big.Metadata.Set(MetaShard, "db/c/1")
	if err := f.Publish("t", small, big, small); err != nil {
		t.Fatal(err)
	}
	if len(c.msgs) < 2+5 || c.msgs[0] != small || c.msgs[len(c.msgs)-1] != small {
		t.Fatalf("got %d messages, want small, >=5 fragments, small", len(c.msgs))
	}
	frags := c.msgs[1 : len(c.msgs)-1]
	var joined []byte
	for i, fm := range frags {
		if recordSize(fm) > 10000 {
			t.Errorf("fragment %d has a record of %d bytes > 10000", i, recordSize(fm))
		}
		if fm.Metadata.Get(MetaShard) != "db/c/1" || fm.UUID != "b" || fm.Metadata.Get(MetaFragIdx) != strconv.Itoa(i) || fm.Metadata.Get(MetaFragN) != strconv.Itoa(len(frags)) {
			t.Errorf("fragment %d: uuid %s metadata %v", i, fm.UUID, fm.Metadata)
		}
		joined = append(joined, fm.Payload...)
	}
	if !bytes.Equal(joined, big.Payload) {
		t.Fatal("fragments do not join to the payload")
	}
}

func TestFragmenterRejects(t *testing.T) {
	var c capture
	m := message.NewMessage("x", make([]byte, 20000))
	m.Metadata.Set(MetaFragID, "mine")
	if err := NewFragmenter(&c, 10000).Publish("t", m); !errors.Is(err, ErrBrokenFragments) {
		t.Errorf("reserved key: %v", err)
	}
	m = message.NewMessage("x", make([]byte, 20000))
	m.Metadata.Set("huge", strings.Repeat("h", 9000))
	if err := NewFragmenter(&c, 10000).Publish("t", m); !errors.Is(err, ErrMessageTooLarge) || !errors.Is(err, ErrPermanent) {
		t.Errorf("metadata too large: %v", err)
	}
}

func TestReassembleWholeRun(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789"), 10000)
	recs := toRecords(split(t, payload, 8192), 100)
	r := reassembler{limit: 1 << 20}
	var out []*sarama.ConsumerMessage
	for i, rec := range recs {
		got := r.push(rec)
		if i < len(recs)-1 && len(got) != 0 {
			t.Fatalf("record %d delivered %d messages before the run ended", i, len(got))
		}
		out = append(out, got...)
	}
	if len(out) != 1 {
		t.Fatalf("got %d messages", len(out))
	}
	m := out[0]
	if !bytes.Equal(m.Value, payload) || m.Offset != recs[len(recs)-1].Offset || m.Partition != 3 {
		t.Fatalf("offset %d (want %d), %d bytes", m.Offset, recs[len(recs)-1].Offset, len(m.Value))
	}
	for _, k := range []string{MetaFragID, MetaFragIdx, MetaFragN, MetaFragError} {
		if _, ok := header(m, k); ok {
			t.Errorf("header %s left on the reassembled record", k)
		}
	}
	if v, _ := header(m, "dc2dc-kind"); v != "doc" {
		t.Errorf("metadata lost: %q", v)
	}
}

func plain(off int64) *sarama.ConsumerMessage {
	return &sarama.ConsumerMessage{Topic: "t", Partition: 3, Offset: off, Value: []byte("plain")}
}

// TestReassembleBrokenRuns pins what is delivered for each kind of broken
// run: one payload-less record with dc2dc-frag-error at the right offset,
// followed by whatever interrupted the run.
func TestReassembleBrokenRuns(t *testing.T) {
	run := func(t *testing.T) []*sarama.ConsumerMessage {
		return toRecords(split(t, bytes.Repeat([]byte{1}, 30000), 8192), 10) // 4+ fragments at 10..
	}
	tests := []struct {
		name  string
		feed  func(t *testing.T) []*sarama.ConsumerMessage
		limit int
		want  []string // "err@offset:reason substring" or "ok@offset" or "plain@offset"
	}{
		{"interrupted by a plain record", func(t *testing.T) []*sarama.ConsumerMessage {
			r := run(t)
			return []*sarama.ConsumerMessage{r[0], r[1], plain(50)}
		}, 1 << 20, []string{"err@11:not a fragment", "plain@50"}},
		{"missing head", func(t *testing.T) []*sarama.ConsumerMessage {
			return run(t)[1:]
		}, 1 << 20, []string{"err@13:earlier ones are missing"}},
		{"gap", func(t *testing.T) []*sarama.ConsumerMessage {
			r := run(t)
			return []*sarama.ConsumerMessage{r[0], r[2], r[3]}
		}, 1 << 20, []string{"err@13:follows fragment 0"}},
		{"over the limit", func(t *testing.T) []*sarama.ConsumerMessage {
			return run(t)
		}, 10000, []string{"err@13:exceed the limit"}},
		{"interleaved runs", func(t *testing.T) []*sarama.ConsumerMessage {
			a, b := run(t), toRecords(splitAs(t, "uuid-2", bytes.Repeat([]byte{2}, 30000), 8192), 20)
			return append([]*sarama.ConsumerMessage{a[0], a[1]}, b...)
		}, 1 << 20, []string{"err@11:interrupted by fragment run", "ok@23"}},
		{"retried publish supersedes its partial run", func(t *testing.T) []*sarama.ConsumerMessage {
			a, b := run(t), toRecords(split(t, bytes.Repeat([]byte{1}, 30000), 8192), 20) // same message UUID
			return append([]*sarama.ConsumerMessage{a[0], a[1]}, b...)
		}, 1 << 20, []string{"ok@23"}},
		{"bad headers", func(t *testing.T) []*sarama.ConsumerMessage {
			r := run(t)[0]
			for _, h := range r.Headers {
				if string(h.Key) == MetaFragN {
					h.Value = []byte("many")
				}
			}
			return []*sarama.ConsumerMessage{r, plain(11)}
		}, 1 << 20, []string{"err@10:not a number", "plain@11"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := reassembler{limit: tc.limit}
			var got []string
			for _, rec := range tc.feed(t) {
				for _, o := range r.push(rec) {
					if reason, ok := header(o, MetaFragError); ok {
						if len(o.Value) != 0 {
							t.Errorf("error record carries %d payload bytes", len(o.Value))
						}
						got = append(got, fmt.Sprintf("err@%d:%s", o.Offset, reason))
					} else if string(o.Value) == "plain" {
						got = append(got, fmt.Sprintf("plain@%d", o.Offset))
					} else {
						got = append(got, fmt.Sprintf("ok@%d", o.Offset))
					}
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for i := range got {
				w, sub, _ := strings.Cut(tc.want[i], ":")
				g, _, _ := strings.Cut(got[i], ":")
				if g != w || !strings.Contains(got[i], sub) {
					t.Errorf("delivery %d: %q, want %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestReassembleHugeFragmentCount(t *testing.T) {
	r := reassembler{limit: 1 << 20}
	rec := &sarama.ConsumerMessage{Offset: 5, Value: []byte("abc"), Headers: []*sarama.RecordHeader{
		{Key: []byte(MetaFragID), Value: []byte("x")},
		{Key: []byte(MetaFragIdx), Value: []byte("0")},
		{Key: []byte(MetaFragN), Value: []byte("9223372036854775807")},
	}}
	if out := r.push(rec); len(out) != 0 || cap(r.run.buf) > r.limit {
		t.Fatalf("delivered %d, buffer capacity %d", len(out), cap(r.run.buf))
	}
	if out := r.push(plain(6)); len(out) != 2 {
		t.Fatalf("interrupting the run delivered %d records, want the broken run and the plain one", len(out))
	}
}

func TestBrokenFragmentsMiddleware(t *testing.T) {
	m := message.NewMessage("u", nil)
	m.Metadata.Set(MetaFragError, "run x: gap")
	called := false
	h := RejectBrokenFragments(func(*message.Message) ([]*message.Message, error) { called = true; return nil, nil })
	if _, err := h(m); !errors.Is(err, ErrBrokenFragments) || !errors.Is(err, ErrPermanent) || called {
		t.Fatalf("broken run: err %v, handler called %v", err, called)
	}
	if _, err := h(message.NewMessage("v", []byte("ok"))); err != nil || !called {
		t.Fatalf("whole message: err %v, handler called %v", err, called)
	}
}

// FuzzReassembler feeds arbitrary fragment headers and checks that the
// reassembler never panics, never buffers more than its limit, delivers
// records in offset order, and that a clean split always round-trips.
func FuzzReassembler(f *testing.F) {
	f.Add([]byte("abcdefghij"), uint16(3000), []byte{0, 1, 2})
	f.Add(bytes.Repeat([]byte{9}, 20000), uint16(5000), []byte{0, 2, 1, 7, 0})
	f.Fuzz(func(t *testing.T, payload []byte, maxRecord uint16, script []byte) {
		limit := 1 << 16
		// Round trip.
		var c capture
		m := message.NewMessage("u", payload)
		m.Metadata.Set(MetaShard, "db/c/0")
		mr := int(maxRecord)%20000 + 2000
		if err := NewFragmenter(&c, mr).Publish("t", m); err != nil {
			t.Fatal(err)
		}
		r := reassembler{limit: limit}
		var out []*sarama.ConsumerMessage
		for _, rec := range toRecords(c.msgs, 0) {
			out = append(out, r.push(rec)...)
		}
		if len(out) != 1 || !bytes.Equal(out[0].Value, payload) && len(payload) <= limit {
			t.Fatalf("round trip of %d bytes at max record %d: %d deliveries", len(payload), mr, len(out))
		}
		// Arbitrary header sequences.
		r = reassembler{limit: 64}
		last := int64(-1)
		for i, b := range script {
			rec := &sarama.ConsumerMessage{Offset: int64(i), Value: payload[:min(len(payload), int(b))]}
			if b%5 != 0 {
				rec.Headers = []*sarama.RecordHeader{
					{Key: []byte(MetaFragID), Value: []byte{'a' + b%3}},
					{Key: []byte(MetaFragIdx), Value: []byte(strconv.Itoa(int(b%4) - 1))},
					{Key: []byte(MetaFragN), Value: []byte(strconv.Itoa(int(b / 64)))},
				}
			}
			for _, o := range r.push(rec) {
				if o.Offset < last || o.Offset > int64(i) {
					t.Fatalf("delivered offset %d after %d at input %d", o.Offset, last, i)
				}
				last = o.Offset
			}
			if r.run != nil && len(r.run.buf) > r.limit {
				t.Fatalf("buffered %d bytes over the limit %d", len(r.run.buf), r.limit)
			}
		}
	})
}

// FuzzFragmentHeaders feeds arbitrary header values (ids, indexes, counts)
// in runs of two records and an interruption: no panic, no buffer over the
// limit, and every run ends in exactly one delivery.
func FuzzFragmentHeaders(f *testing.F) {
	f.Add("a", "0", "2", "a", "1", "2", []byte("xy"))
	f.Add("a", "0", "9223372036854775807", "a", "1", "-1", []byte("z"))
	f.Add("", "x", "", "b", "0", "1", []byte{})
	f.Fuzz(func(t *testing.T, id1, idx1, n1, id2, idx2, n2 string, value []byte) {
		r := reassembler{limit: 1024}
		rec := func(off int64, id, idx, n string) *sarama.ConsumerMessage {
			return &sarama.ConsumerMessage{Offset: off, Value: value, Headers: []*sarama.RecordHeader{
				{Key: []byte(MetaFragID), Value: []byte(id)},
				{Key: []byte(MetaFragIdx), Value: []byte(idx)},
				{Key: []byte(MetaFragN), Value: []byte(n)},
			}}
		}
		delivered := len(r.push(rec(0, id1, idx1, n1))) + len(r.push(rec(1, id2, idx2, n2)))
		if r.run != nil && cap(r.run.buf) > r.limit {
			t.Fatalf("buffer capacity %d over the limit", cap(r.run.buf))
		}
		open := r.run != nil
		out := r.push(plain(2))
		delivered += len(out)
		if out[len(out)-1].Offset != 2 || (open && len(out) != 2) || (!open && len(out) != 1) {
			t.Fatalf("run open %v: interruption delivered %d", open, len(out))
		}
		if delivered < 2 || delivered > 4 {
			t.Fatalf("%d deliveries for two fragments and a plain record", delivered)
		}
	})
}
