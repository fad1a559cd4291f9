package middleware

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

func TestConfigValidate(t *testing.T) {
	err := Config{Retry: RetryConfig{Multiplier: 0.5}}.Validate()
	for _, want := range []string{"PoisonTopic", "PoisonPublisher", "Multiplier"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate does not report %s: %v", want, err)
		}
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New accepted an empty config")
	}
}

// The chain, called directly: every outcome of the order in doc.go.
func TestChainOutcomes(t *testing.T) {
	poison := newRecordingPublisher()
	var gaps []string
	c, err := New(Config{PoisonTopic: "poison", PoisonPublisher: poison,
		Retry: RetryConfig{InitialInterval: time.Millisecond, MaxInterval: time.Millisecond},
		OnGap: func(shard string, applied events.Position, b *events.Batch) {
			gaps = append(gaps, shard+" "+applied.String()+" "+b.Prev.String())
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.Middlewares()) != 7 {
		t.Fatalf("%d middlewares", len(c.Middlewares()))
	}
	var applied []events.Position
	failOnce := map[uint64]bool{30: true}
	h := c.Wrap(func(msg *message.Message) ([]*message.Message, error) {
		b, ok := BatchFrom(msg)
		if !ok {
			t.Fatal("handler without batch")
		}
		switch b.Pos.Tick {
		case 20:
			panic("apply bug")
		case 30:
			if failOnce[30] {
				failOnce[30] = false
				return nil, failure.Retryable(errors.New("503"))
			}
		case 40:
			return nil, errors.New("unclassified")
		}
		applied = append(applied, b.Pos)
		return nil, nil
	})
	b10 := batchAt(testShard, 1, 10, 0, 1)
	b20 := after(batchAt(testShard, 1, 20, 0, 1), b10)
	b30 := after(batchAt(testShard, 1, 30, 0, 1), b10)
	b40 := after(batchAt(testShard, 1, 40, 0, 1), b30)
	b60 := after(batchAt(testShard, 1, 60, 0, 1), batchAt(testShard, 1, 50, 0, 1))
	steps := []struct {
		name       string
		msg        *message.Message
		wantErr    bool
		wantPoison failure.Code
	}{
		{"apply", msgFor(t, b10), false, ""},
		{"duplicate", msgFor(t, b10), false, ""},
		{"panic is poisoned", msgFor(t, b20), false, failure.CodeHandlerPanic},
		{"retry heals", msgFor(t, b30), false, ""},
		{"foreign is poisoned", message.NewMessage("f", []byte("x")), false, failure.CodeForeignMessage},
		{"unclassified is nacked", msgFor(t, b40), true, ""},
		{"gap is poisoned and reported", msgFor(t, b60), false, failure.CodeStreamGap},
	}
	for _, st := range steps {
		before := len(poison.topic("poison"))
		_, err := h(st.msg)
		if (err != nil) != st.wantErr {
			t.Fatalf("%s: err %v", st.name, err)
		}
		got := poison.topic("poison")
		if st.wantPoison == "" {
			if len(got) != before {
				t.Fatalf("%s: poisoned", st.name)
			}
			continue
		}
		if len(got) != before+1 || got[before].Metadata.Get(PoisonReason) != string(st.wantPoison) {
			t.Fatalf("%s: poison topic %d→%d", st.name, before, len(got))
		}
	}
	want := []events.Position{b10.Pos, b30.Pos}
	if len(applied) != len(want) || applied[0] != want[0] || applied[1] != want[1] {
		t.Errorf("applied %v, want %v", applied, want)
	}
	if len(gaps) != 1 || gaps[0] != testShard.String()+" 1:30.0 1:50.0" {
		t.Errorf("OnGap calls %v", gaps)
	}
	c.ReleaseShard(testShard.String())
	if _, ok, _ := c.Dedupe.Applied(testShard.String()); ok {
		t.Error("released shard still known to dedupe")
	}
}
