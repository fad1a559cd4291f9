package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/IBM/sarama"

	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// Markers: every error this package returns (except context errors, passed
// through as they are) matches exactly one of them with errors.Is. They are
// pipeline/failure's markers: the errors are *failure.Error values carrying
// the class and the stable DC2DC-E1xxx code of their kind (failure.CodeOf),
// wrapping an *Error with the kind and the message naming the fix. Retry
// asks, it does not guess:
//
//	if errors.Is(err, kafka.ErrRetryable) { back off and try again }
var (
	ErrRetryable = failure.ErrRetryable
	ErrPermanent = failure.ErrPermanent
)

// Kinds: an error matches at most one kind with errors.Is. Callers branch on
// the kind when they must explain or count failures; they branch on the
// markers above when they decide whether to retry.
var (
	// ErrUnreachable: no broker answered (retryable).
	ErrUnreachable = errors.New("kafka unreachable")
	// ErrAuth: SASL authentication or an ACL check failed (permanent).
	ErrAuth = errors.New("kafka authentication failed")
	// ErrTLS: the TLS handshake failed (permanent).
	ErrTLS = errors.New("kafka TLS handshake failed")
	// ErrMessageTooLarge: a record exceeds a size limit (permanent).
	ErrMessageTooLarge = errors.New("kafka message too large")
	// ErrUnknownTopic: the topic does not exist (permanent: create topics
	// explicitly with EnsureTopics).
	ErrUnknownTopic = errors.New("kafka topic does not exist")
	// ErrTopicMismatch: an existing topic does not match its spec (permanent).
	ErrTopicMismatch = errors.New("kafka topic does not match its spec")
	// ErrInvalidTopicName: a topic name or sync id breaks Kafka's rules (permanent).
	ErrInvalidTopicName = errors.New("invalid kafka topic name")
	// ErrBrokenFragments: a fragment run could not be reassembled (permanent;
	// route the message to the poison topic).
	ErrBrokenFragments = errors.New("broken fragment run")
	// ErrClosed: the publisher or subscriber was closed (permanent).
	ErrClosed = errors.New("kafka client closed")
	// ErrKafka: any other failure reported by Kafka or the client library.
	// Retryable unless it is on the explicit permanent list below.
	ErrKafka = errors.New("kafka error")
)

// Error is a transport error: a kind, whether a retry can help, a message
// that names the fix, and the underlying cause. The package returns it
// wrapped in a *failure.Error (class and code); reach it with errors.As.
type Error struct {
	Kind      error
	Retryable bool
	Msg       string
	Err       error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Msg
	}
	return e.Msg + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches the kind and the retryable/permanent marker.
func (e *Error) Is(target error) bool {
	switch target {
	case e.Kind:
		return true
	case ErrRetryable:
		return e.Retryable
	case ErrPermanent:
		return !e.Retryable
	}
	return false
}

// codes maps each kind to its stable code in pipeline/failure.
var codes = map[error]failure.Code{
	ErrUnreachable:      failure.CodeKafkaUnreachable,
	ErrAuth:             failure.CodeKafkaAuth,
	ErrTLS:              failure.CodeKafkaTLS,
	ErrMessageTooLarge:  failure.CodeKafkaTooLarge,
	ErrUnknownTopic:     failure.CodeKafkaTopicMissing,
	ErrTopicMismatch:    failure.CodeKafkaTopicMismatch,
	ErrInvalidTopicName: failure.CodeConfigInvalid,
	ErrBrokenFragments:  failure.CodeMalformed,
	ErrClosed:           failure.CodeKafka,
	ErrKafka:            failure.CodeKafka,
}

// newError builds the classified error of one kind.
func newError(kind error, retryable bool, msg string, cause error) error {
	class := failure.ClassPermanent
	if retryable {
		class = failure.ClassRetryable
	}
	code, ok := codes[kind]
	if !ok {
		code = failure.CodeInternal
	}
	return &failure.Error{Class: class, Code: code, Err: &Error{Kind: kind, Retryable: retryable, Msg: msg, Err: cause}}
}

// invalidConfig marks a configuration error (joined problems) with
// failure.CodeConfigInvalid.
func invalidConfig(err error) error {
	if err == nil {
		return nil
	}
	return &failure.Error{Class: failure.ClassPermanent, Code: failure.CodeConfigInvalid, Err: err}
}

// IsRetryable reports whether err is marked retryable. Context
// cancellation is not retryable: the caller asked to stop.
func IsRetryable(err error) bool { return errors.Is(err, ErrRetryable) }

// permanentKErrors are Kafka error codes a retry cannot fix. Every other code
// is treated as retryable (leader moves, timeouts, rebalances...).
var permanentKErrors = map[sarama.KError]error{
	sarama.ErrInvalidMessage:                     ErrKafka,
	sarama.ErrInvalidMessageSize:                 ErrMessageTooLarge,
	sarama.ErrMessageSizeTooLarge:                ErrMessageTooLarge,
	sarama.ErrMessageSetSizeTooLarge:             ErrMessageTooLarge,
	sarama.ErrInvalidTopic:                       ErrInvalidTopicName,
	sarama.ErrInvalidRequiredAcks:                ErrKafka,
	sarama.ErrTopicAuthorizationFailed:           ErrAuth,
	sarama.ErrGroupAuthorizationFailed:           ErrAuth,
	sarama.ErrClusterAuthorizationFailed:         ErrAuth,
	sarama.ErrTransactionalIDAuthorizationFailed: ErrAuth,
	sarama.ErrUnsupportedSASLMechanism:           ErrAuth,
	sarama.ErrIllegalSASLState:                   ErrAuth,
	sarama.ErrSASLAuthenticationFailed:           ErrAuth,
	sarama.ErrUnsupportedVersion:                 ErrKafka,
	sarama.ErrInvalidPartitions:                  ErrTopicMismatch,
	sarama.ErrInvalidReplicationFactor:           ErrTopicMismatch,
	sarama.ErrInvalidConfig:                      ErrTopicMismatch,
	sarama.ErrInvalidRequest:                     ErrKafka,
	sarama.ErrUnsupportedForMessageFormat:        ErrKafka,
	sarama.ErrPolicyViolation:                    ErrKafka,
	sarama.ErrUnsupportedCompressionType:         ErrKafka,
	sarama.ErrInvalidRecord:                      ErrKafka,
	sarama.ErrProducerFenced:                     ErrKafka,
	sarama.ErrUnknownTopicOrPartition:            ErrUnknownTopic,
}

// classify turns an error from sarama or watermill-kafka into an *Error
// with a message naming the fix. op says what we were doing ("publishing to
// topic x"). It returns nil for nil, leaves context errors and already
// classified errors as they are.
func classify(err error, cfg Config, op string) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	mk := func(kind error, retryable bool, format string, args ...any) error {
		return newError(kind, retryable, op+": "+fmt.Sprintf(format, args...), err)
	}

	// Authentication first: sarama reports a failed handshake as "out of
	// brokers" wrapping the SASL error.
	if errors.Is(err, errSCRAM) {
		return mk(ErrAuth, false, "SCRAM authentication as %q failed: check --kafka.sasl.user, --kafka.sasl.password and --kafka.sasl.mechanism", cfg.SASL.User)
	}
	var kerr sarama.KError
	if errors.As(err, &kerr) {
		if kind, ok := permanentKErrors[kerr]; ok {
			switch {
			case errors.Is(kind, ErrAuth):
				return mk(ErrAuth, false, "Kafka at %s refused user %q (SASL %s): check --kafka.sasl.user, --kafka.sasl.password, --kafka.sasl.mechanism and the user's ACLs", cfg.brokerList(), cfg.SASL.User, saslName(cfg))
			case errors.Is(kind, ErrMessageTooLarge):
				return mk(ErrMessageTooLarge, false, "Kafka refused a record as too large: lower --kafka.max-message-bytes (%d) below the topic's max.message.bytes, or raise that", cfg.MaxMessageBytes)
			case errors.Is(kind, ErrUnknownTopic):
				return mk(ErrUnknownTopic, false, "the topic does not exist: dc2dc creates its topics explicitly (EnsureTopics) when a sync starts; check the sync id and that topic creation succeeded")
			case errors.Is(kind, ErrTopicMismatch):
				return mk(ErrTopicMismatch, false, "Kafka refused the topic settings: check partitions, replication factor (at most the number of brokers) and configs")
			case errors.Is(kind, ErrInvalidTopicName):
				return mk(ErrInvalidTopicName, false, "Kafka refused the topic name: use letters, digits, '.', '_' and '-' only")
			default:
				return mk(ErrKafka, false, "Kafka refused the request (%v): this is not retried; check the broker version (--kafka.version %s) and settings", kerr, cfg.Version)
			}
		}
		return mk(ErrKafka, true, "Kafka answered %v (transient, retry)", kerr)
	}
	// Real Kafka answers bad credentials with SASL_AUTHENTICATION_FAILED
	// (above); some brokers (kfake among them) just close the connection.
	// A connection closed while connecting with SASL on is most likely
	// that, but a restarting broker looks the same, so it stays retryable.
	if cfg.SASL.Mechanism != "" && errors.Is(err, sarama.ErrOutOfBrokers) &&
		(errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
		return mk(ErrAuth, true, "Kafka at %s closed the connection while user %q was authenticating (SASL %s): check --kafka.sasl.user, --kafka.sasl.password and --kafka.sasl.mechanism (or the broker was restarting)", cfg.brokerList(), cfg.SASL.User, cfg.SASL.Mechanism)
	}
	var cfgErr sarama.ConfigurationError
	if errors.As(err, &cfgErr) {
		// The only ConfigurationError sarama returns per message is the
		// producer's size check; the others come from constructors, which
		// run after our own Validate.
		return mk(ErrMessageTooLarge, false, "the record exceeds the producer's limit: raise --kafka.max-message-bytes (%d) or let the publisher split it", cfg.MaxMessageBytes)
	}
	if isTLSError(err) {
		return mk(ErrTLS, false, "TLS handshake with Kafka at %s failed: check --kafka.tls.ca-file, --kafka.tls.server-name and that the brokers listen with TLS", cfg.brokerList())
	}
	if errors.Is(err, syscall.ECONNRESET) && cfg.TLS.Enable {
		return mk(ErrTLS, false, "Kafka at %s closed the connection during the TLS handshake: check that the brokers listen with TLS and accept the client certificate", cfg.brokerList())
	}
	var netErr net.Error
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, sarama.ErrOutOfBrokers) ||
		errors.Is(err, sarama.ErrNotConnected) || errors.As(err, &netErr) {
		return mk(ErrUnreachable, true, "cannot reach Kafka at %s: is the broker running? check --kafka.brokers", cfg.brokerList())
	}
	if errors.Is(err, sarama.ErrClosedClient) || errors.Is(err, sarama.ErrShuttingDown) {
		return mk(ErrClosed, false, "the Kafka client is closed")
	}
	return mk(ErrKafka, true, "Kafka client error at %s (treated as transient)", cfg.brokerList())
}

func isTLSError(err error) bool {
	var (
		rh  tls.RecordHeaderError
		cv  *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		hn  x509.HostnameError
		ci  x509.CertificateInvalidError
		alt tls.AlertError
	)
	return errors.As(err, &rh) || errors.As(err, &cv) || errors.As(err, &ua) ||
		errors.As(err, &hn) || errors.As(err, &ci) || errors.As(err, &alt)
}

func saslName(cfg Config) string {
	if cfg.SASL.Mechanism == "" {
		return "off"
	}
	return cfg.SASL.Mechanism
}
