package middleware

import (
	"errors"
	"reflect"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

func TestDecode(t *testing.T) {
	good := batchAt(testShard, 1, 100, 0, 3)
	tests := []struct {
		name     string
		msg      func(t *testing.T) *message.Message
		wantCode failure.Code // "" = decodes
	}{
		{"valid", func(t *testing.T) *message.Message { return msgFor(t, good) }, ""},
		{"foreign: no headers", func(t *testing.T) *message.Message {
			return message.NewMessage("u", []byte(`{"hello":"world"}`))
		}, failure.CodeForeignMessage},
		{"garbage payload", func(t *testing.T) *message.Message {
			m := msgFor(t, good)
			m.Payload = []byte("not a batch")
			return m
		}, failure.CodeMalformed},
		{"truncated payload", func(t *testing.T) *message.Message {
			m := msgFor(t, good)
			m.Payload = m.Payload[:len(m.Payload)-3]
			return m
		}, failure.CodeMalformed},
		{"header version 2", func(t *testing.T) *message.Message {
			m := msgFor(t, good)
			m.Metadata.Set(events.MetaVersion, "2")
			return m
		}, failure.CodeUnsupportedVersion},
		{"payload version 2", func(t *testing.T) *message.Message {
			m := msgFor(t, good)
			m.Payload[2] = 2
			return m
		}, failure.CodeUnsupportedVersion},
		{"broken shard header", func(t *testing.T) *message.Message {
			m := msgFor(t, good)
			m.Metadata.Set(events.MetaShard, "nope")
			return m
		}, failure.CodeMalformed},
		{"header position disagrees with payload", func(t *testing.T) *message.Message {
			m := msgFor(t, good)
			m.Metadata.Set(events.MetaTick, "99")
			return m
		}, failure.CodeMalformed},
		{"header prev disagrees with payload", func(t *testing.T) *message.Message {
			m := msgFor(t, good)
			m.Metadata.Set(events.MetaPrev, "1:50.0")
			return m
		}, failure.CodeMalformed},
		{"header shard disagrees with payload", func(t *testing.T) *message.Message {
			m := msgFor(t, good)
			m.Metadata.Set(events.MetaShard, "db/1001/1")
			return m
		}, failure.CodeMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := tt.msg(t)
			called := false
			var got *events.Batch
			_, err := Decode(func(m *message.Message) ([]*message.Message, error) {
				called = true
				got, _ = BatchFrom(m)
				return nil, nil
			})(msg)
			if tt.wantCode == "" {
				if err != nil || !called {
					t.Fatalf("err = %v, called = %v", err, called)
				}
				if !reflect.DeepEqual(got, good) {
					t.Errorf("batch\n got %+v\nwant %+v", got, good)
				}
				if b, ok := BatchFrom(msg); !ok || b != got {
					t.Error("the batch is not visible to outer middleware")
				}
				return
			}
			if called {
				t.Fatal("handler called for an undecodable message")
			}
			if !failure.IsPermanent(err) {
				t.Errorf("%v is %v, want permanent", err, failure.Classify(err))
			}
			if c := failure.CodeOf(err); c != tt.wantCode {
				t.Errorf("code %s, want %s (%v)", c, tt.wantCode, err)
			}
		})
	}
}

func TestBatchFromWithoutDecode(t *testing.T) {
	if _, ok := BatchFrom(message.NewMessage("u", nil)); ok {
		t.Error("BatchFrom found a batch nobody attached")
	}
	msg := message.NewMessage("u", nil)
	b := batchAt(testShard, 1, 1, 0, 1)
	msg.SetContext(WithBatch(msg.Context(), b))
	if got, ok := BatchFrom(msg); !ok || got != b {
		t.Error("WithBatch/BatchFrom round trip")
	}
}

// FuzzDecode: whatever the payload and headers, Decode never panics, and
// either hands a valid batch to the handler or fails permanently with a
// code.
func FuzzDecode(f *testing.F) {
	good := msgFor(f, batchAt(testShard, 3, 77, 0, 2))
	f.Add([]byte(good.Payload), "1", testShard.String(), "3", "77", "0")
	f.Add([]byte("garbage"), "1", "db/1/0", "0", "0", "0")
	f.Add([]byte{'d', '2', 1}, "", "", "", "", "")
	f.Add([]byte{'d', '2', 2, 0}, "2", "a/b/0", "1", "2", "3")
	f.Fuzz(func(t *testing.T, payload []byte, v, shard, epoch, tick, sub string) {
		msg := message.NewMessage("u", payload)
		for k, val := range map[string]string{events.MetaVersion: v, events.MetaShard: shard,
			events.MetaEpoch: epoch, events.MetaTick: tick, events.MetaSub: sub, events.MetaSync: "s1"} {
			if val != "" {
				msg.Metadata.Set(k, val)
			}
		}
		_, err := Decode(func(m *message.Message) ([]*message.Message, error) {
			b, ok := BatchFrom(m)
			if !ok {
				t.Fatal("handler called without a batch")
			}
			if err := b.Validate(); err != nil {
				t.Fatalf("handler got an invalid batch: %v", err)
			}
			return nil, nil
		})(msg)
		if err == nil {
			return
		}
		if !failure.IsPermanent(err) || failure.CodeOf(err) == "" {
			t.Fatalf("error %v: class %v code %q", err, failure.Classify(err), failure.CodeOf(err))
		}
		var de *events.DecodeError
		var fe *failure.Error
		if !errors.As(err, &de) && !errors.As(err, &fe) {
			t.Fatalf("unclassified error %T", err)
		}
	})
}
