package middleware

import (
	"errors"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

func newTestPoison(t *testing.T, pub message.Publisher) *Poison {
	t.Helper()
	p, err := NewPoison(PoisonConfig{
		Topic: "dc2dc.s1.poison", Publisher: pub,
		Locate: func(*message.Message) Location {
			return Location{Topic: "dc2dc.s1.data", Partition: 7, Offset: 4242, Known: true}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	p.wait = (&noWait{}).wait
	return p
}

func TestPoison(t *testing.T) {
	panicErr := func() error {
		_, err := Recover(func(*message.Message) ([]*message.Message, error) { panic("oops") })(nil)
		return err
	}()
	_, versionErr := events.Decode([]byte{'d', '2', 7})
	tests := []struct {
		name       string
		err        error
		wantReason failure.Code // "" = not poisoned
	}{
		{"success", nil, ""},
		{"retryable passes", failure.Retryable(errors.New("503")), ""},
		{"unclassified passes", errors.New("?"), ""},
		{"decode error", versionErr, failure.CodeUnsupportedVersion},
		{"foreign", failure.WithCode(failure.CodeForeignMessage, errors.New("no headers")), failure.CodeForeignMessage},
		{"panic", panicErr, failure.CodeHandlerPanic},
		{"uncoded permanent apply error", failure.Permanent(errors.New("unique constraint violated")), failure.CodeApplyRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := newRecordingPublisher()
			p := newTestPoison(t, pub)
			orig := msgFor(t, batchAt(testShard, 1, 10, 0, 2))
			orig.Metadata.Set("traceparent", "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01")
			_, err := p.Middleware(func(*message.Message) ([]*message.Message, error) { return nil, tt.err })(orig)
			got := pub.topic("dc2dc.s1.poison")
			if tt.wantReason == "" {
				if err != tt.err { //nolint:errorlint // the very error must pass through, not a wrapped copy
					t.Errorf("err changed: %v", err)
				}
				if len(got) != 0 {
					t.Errorf("poisoned %d messages", len(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("poisoned message not acked: %v", err)
			}
			if len(got) != 1 {
				t.Fatalf("%d poison messages", len(got))
			}
			pm := got[0]
			if string(pm.Payload) != string(orig.Payload) {
				t.Error("payload changed")
			}
			for k, v := range orig.Metadata {
				if pm.Metadata.Get(k) != v {
					t.Errorf("original header %s lost", k)
				}
			}
			want := map[string]string{
				PoisonReason: string(tt.wantReason), PoisonTopic: "dc2dc.s1.data",
				PoisonPartition: "7", PoisonOffset: "4242",
			}
			for k, v := range want {
				if pm.Metadata.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, pm.Metadata.Get(k), v)
				}
			}
			if pm.Metadata.Get(PoisonError) != tt.err.Error() || pm.Metadata.Get(PoisonTime) == "" {
				t.Errorf("error/time metadata: %q %q", pm.Metadata.Get(PoisonError), pm.Metadata.Get(PoisonTime))
			}
			if hasStack := strings.Contains(pm.Metadata.Get(PoisonStack), "poison_test.go"); hasStack != (tt.wantReason == failure.CodeHandlerPanic) {
				t.Errorf("stack present = %v", hasStack)
			}
		})
	}
}

func TestPoisonPublishFailures(t *testing.T) {
	permanent := failure.Permanent(errors.New("bad"))
	t.Run("transient publish failure is retried", func(t *testing.T) {
		pub := newRecordingPublisher()
		pub.failures = 2
		p := newTestPoison(t, pub)
		_, err := p.Middleware(func(*message.Message) ([]*message.Message, error) { return nil, permanent })(message.NewMessage("u", []byte("x")))
		if err != nil || len(pub.topic("dc2dc.s1.poison")) != 1 || pub.calls != 3 {
			t.Fatalf("err %v, published %d, calls %d", err, len(pub.topic("dc2dc.s1.poison")), pub.calls)
		}
	})
	t.Run("lasting publish failure nacks, never acks", func(t *testing.T) {
		pub := newRecordingPublisher()
		pub.failures = -1
		p := newTestPoison(t, pub)
		_, err := p.Middleware(func(*message.Message) ([]*message.Message, error) { return nil, permanent })(message.NewMessage("u", []byte("x")))
		if err == nil {
			t.Fatal("a message that could not be poisoned was acked: it would be lost")
		}
		if !failure.IsRetryable(err) || failure.CodeOf(err) != failure.CodePoisonPublish {
			t.Errorf("err %v: class %v code %s", err, failure.Classify(err), failure.CodeOf(err))
		}
		if !errors.Is(err, permanent) || !strings.Contains(err.Error(), "broker down") {
			t.Errorf("causes lost: %v", err)
		}
		if pub.calls != 5 {
			t.Errorf("%d publish attempts, want 5", pub.calls)
		}
	})
}

func TestPoisonConfigAndLocation(t *testing.T) {
	err := PoisonConfig{PublishAttempts: -1}.Validate()
	for _, want := range []string{"Topic", "Publisher", "PublishAttempts"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate does not report %s: %v", want, err)
		}
	}
	// Without Kafka context values the location is unknown.
	if loc := KafkaLocation(message.NewMessage("u", nil)); loc.Known || loc.Topic != "" {
		t.Errorf("location %+v", loc)
	}
}
