package kafka

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"

	"github.com/IBM/sarama"
	pkgerrors "github.com/pkg/errors"

	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// TestClassify pins the classification of the errors sarama and
// watermill-kafka return (wrapped as they wrap them), including those a real
// Kafka returns but kfake does not.
func TestClassify(t *testing.T) {
	cfg := Config{Brokers: []string{"k1:9092", "k2:9092"}, SASL: SASLConfig{Mechanism: SASLSCRAMSHA256, User: "u"}}
	plain := Config{Brokers: []string{"k1:9092"}}
	tests := []struct {
		name      string
		cfg       Config
		err       error
		kind      error
		retryable bool
		mentions  string
	}{
		{"sasl failed (real Kafka)", cfg, pkgerrors.Wrap(sarama.Wrap(sarama.ErrOutOfBrokers, sarama.ErrSASLAuthenticationFailed), "cannot create Kafka producer"), ErrAuth, false, "--kafka.sasl.password"},
		{"sasl closed (kfake)", cfg, sarama.Wrap(sarama.ErrOutOfBrokers, io.EOF), ErrAuth, true, "--kafka.sasl.user"},
		{"eof without sasl", plain, sarama.Wrap(sarama.ErrOutOfBrokers, io.EOF), ErrUnreachable, true, "is the broker running?"},
		{"scram signature", cfg, fmt.Errorf("x: %w", errSCRAM), ErrAuth, false, "SCRAM"},
		{"topic acl", cfg, sarama.ErrTopicAuthorizationFailed, ErrAuth, false, "ACLs"},
		{"refused", plain, sarama.Wrap(sarama.ErrOutOfBrokers, &netOpError{syscall.ECONNREFUSED}), ErrUnreachable, true, "cannot reach Kafka at k1:9092"},
		{"unknown CA", plain, sarama.Wrap(sarama.ErrOutOfBrokers, x509.UnknownAuthorityError{}), ErrTLS, false, "--kafka.tls.ca-file"},
		{"too large (broker)", plain, pkgerrors.Wrapf(sarama.ErrMessageSizeTooLarge, "cannot produce message x"), ErrMessageTooLarge, false, "--kafka.max-message-bytes"},
		{"too large (client)", plain, sarama.ConfigurationError("Attempt to produce message larger than configured Producer.MaxMessageBytes"), ErrMessageTooLarge, false, "--kafka.max-message-bytes"},
		{"leader moved", plain, sarama.ErrNotLeaderForPartition, ErrKafka, true, "transient"},
		{"unknown topic", plain, sarama.ErrUnknownTopicOrPartition, ErrUnknownTopic, false, "EnsureTopics"},
		{"closed", plain, sarama.ErrClosedClient, ErrClosed, false, "closed"},
		{"other", plain, errors.New("something odd"), ErrKafka, true, "transient"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := classify(tc.err, tc.cfg, "op")
			if !errors.Is(got, tc.kind) {
				t.Fatalf("%v: not %v", got, tc.kind)
			}
			if IsRetryable(got) != tc.retryable || errors.Is(got, ErrPermanent) == tc.retryable {
				t.Fatalf("%v: retryable %v, want %v", got, IsRetryable(got), tc.retryable)
			}
			if !errors.Is(got, tc.err) && !errors.Is(got, errSCRAM) {
				t.Errorf("%v lost its cause", got)
			}
			if code := failure.CodeOf(got); code != codes[tc.kind] || !strings.HasPrefix(got.Error(), string(code)+" ") {
				t.Errorf("%v: code %q, want %q first", got, code, codes[tc.kind])
			}
			if failure.IsRetryable(got) != tc.retryable || failure.IsPermanent(got) == tc.retryable {
				t.Errorf("%v: pipeline/failure classifies it as %v", got, failure.Classify(got))
			}
			if !containsStr(got.Error(), tc.mentions) {
				t.Errorf("%q does not mention %q", got, tc.mentions)
			}
		})
	}
	if classify(nil, plain, "op") != nil {
		t.Error("nil classified")
	}
	ctxErr := pkgerrors.Wrap(context.Canceled, "x")
	if got := classify(ctxErr, plain, "op"); !errors.Is(got, context.Canceled) || got.Error() != ctxErr.Error() {
		t.Errorf("context error rewritten: %v", got)
	}
	once := classify(sarama.ErrNotLeaderForPartition, plain, "op")
	if twice := classify(fmt.Errorf("outer: %w", once), plain, "op2"); !errors.Is(twice, once) {
		t.Errorf("classified twice: %v", twice)
	}
}

type netOpError struct{ err error }

func (e *netOpError) Error() string { return "dial tcp: " + e.err.Error() }
func (e *netOpError) Unwrap() error { return e.err }

func containsStr(s, sub string) bool {
	return strings.Contains(s, sub)
}

func TestInvalidConfigHasCode(t *testing.T) {
	var cfg Config
	cfg.EnsureDefaults()
	err := cfg.Validate()
	if failure.CodeOf(err) != failure.CodeConfigInvalid || !failure.IsPermanent(err) {
		t.Fatalf("%v: code %q", err, failure.CodeOf(err))
	}
}
