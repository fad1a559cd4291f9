package kafka_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/dc2dc/dc2dc/pipeline/kafka"
)

func TestDefaultsAreValid(t *testing.T) {
	cfg := kafka.Config{Brokers: []string{"127.0.0.1:9092"}}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Producer.DisableIdempotence || cfg.Compression != kafka.DefaultCompression || cfg.Consumer.InitialOffset != kafka.OffsetOldest {
		t.Fatalf("unexpected defaults %+v", cfg)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	cfg := kafka.Config{
		Brokers:     []string{"no-port"},
		Version:     "0.10.2.0",
		Compression: "brotli",
		TLS:         kafka.TLSConfig{Enable: true, CertFile: "/nonexistent/cert.pem"},
		SASL:        kafka.SASLConfig{Mechanism: "GSSAPI"},
		Consumer:    kafka.ConsumerConfig{InitialOffset: "latest"},
	}
	cfg.EnsureDefaults()
	err := cfg.Validate()
	if err == nil {
		t.Fatal("want errors")
	}
	msg := err.Error()
	for _, want := range []string{
		"not host:port", "too old", `compression "brotli"`, "certificate and key go together",
		"/nonexistent/cert.pem cannot be read", `SASL mechanism "GSSAPI"`, "needs a user and a password",
		`initial offset "latest"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q:\n%s", want, msg)
		}
	}
	if n := len(strings.Split(msg, "\n")); n < 8 {
		t.Errorf("want every problem on its own line, got %d lines:\n%s", n, msg)
	}
}

func TestValidateNoBrokersNamesTheFlag(t *testing.T) {
	var cfg kafka.Config
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--kafka.brokers") {
		t.Fatalf("got %v", err)
	}
}

func TestTLSOptionsWithoutTLS(t *testing.T) {
	cfg := kafka.Config{Brokers: []string{"h:1"}, TLS: kafka.TLSConfig{ServerName: "x"}}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "TLS is off") {
		t.Fatalf("got %v", err)
	}
}

func TestSubscriberNeedsGroup(t *testing.T) {
	_, err := kafka.NewSubscriber(kafka.Config{Brokers: []string{"127.0.0.1:1"}})
	if err == nil || !strings.Contains(err.Error(), "consumer group") {
		t.Fatalf("got %v", err)
	}
}

func TestErrorMarkers(t *testing.T) {
	e := &kafka.Error{Kind: kafka.ErrUnreachable, Retryable: true, Msg: "m", Err: errors.New("cause")}
	if !errors.Is(e, kafka.ErrUnreachable) || !errors.Is(e, kafka.ErrRetryable) || errors.Is(e, kafka.ErrPermanent) || errors.Is(e, kafka.ErrAuth) {
		t.Fatal("markers do not match")
	}
	if !kafka.IsRetryable(e) || e.Error() != "m: cause" {
		t.Fatalf("IsRetryable or Error wrong: %q", e.Error())
	}
}
