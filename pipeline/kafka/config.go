package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"go.opentelemetry.io/otel/metric"

	"github.com/dc2dc/dc2dc/pipeline/kafka/nometrics"
)

// SASL mechanisms accepted in SASLConfig.Mechanism.
const (
	SASLPlain       = "PLAIN"
	SASLSCRAMSHA256 = "SCRAM-SHA-256"
	SASLSCRAMSHA512 = "SCRAM-SHA-512"
)

// Initial offsets accepted in ConsumerConfig.InitialOffset.
const (
	OffsetOldest = "oldest"
	OffsetNewest = "newest"
)

// Compression codecs accepted in Config.Compression.
var compressionCodecs = map[string]sarama.CompressionCodec{
	"none":   sarama.CompressionNone,
	"gzip":   sarama.CompressionGZIP,
	"snappy": sarama.CompressionSnappy,
	"lz4":    sarama.CompressionLZ4,
	"zstd":   sarama.CompressionZSTD,
}

// Defaults applied by Config.EnsureDefaults.
const (
	DefaultClientID           = "dc2dc"
	DefaultVersion            = "2.8.0"
	DefaultCompression        = "lz4"
	DefaultMaxMessageBytes    = 1000000 // Kafka's message.max.bytes is 1048588
	DefaultMaxReassembled     = 64 << 20
	DefaultProducerRetries    = 10
	DefaultRetryBackoff       = 250 * time.Millisecond
	DefaultDialTimeout        = 10 * time.Second
	DefaultSessionTimeout     = 10 * time.Second
	DefaultHeartbeatInterval  = 3 * time.Second
	DefaultChannelBuffer      = 32
	DefaultRebalanceTimeout   = 60 * time.Second
	DefaultAutoCommitInterval = time.Second
	DefaultNackResendDelay    = 100 * time.Millisecond
)

// Config is the Kafka connection and client configuration shared by
// publishers, subscribers and topic management. Build it with the fields you
// need, call EnsureDefaults (constructors do) and Validate.
type Config struct {
	// Brokers is the bootstrap list, host:port each (required).
	Brokers []string
	// ClientID names this client in the brokers' logs and quotas.
	ClientID string
	// Version is the Kafka protocol version to speak, e.g. "2.8.0" (at
	// least 0.11.0: idempotence and record headers need it).
	Version string
	TLS     TLSConfig
	SASL    SASLConfig
	// Compression is none, gzip, snappy, lz4 or zstd.
	Compression string
	// MaxMessageBytes is the largest Kafka record the producer sends
	// (payload, key and headers). Larger payloads are split into fragments
	// (see fragment.go). Keep it at or below the topics' max.message.bytes.
	MaxMessageBytes int
	// MaxReassembledBytes bounds the payload of one reassembled message on
	// the subscriber side: a longer fragment run is reported as broken.
	MaxReassembledBytes int
	// DialTimeout bounds connecting to one broker.
	DialTimeout time.Duration
	Producer    ProducerConfig
	Consumer    ConsumerConfig
	// Logger receives the transport's own log lines; nil discards them.
	Logger *slog.Logger
	// MeterProvider receives the transport's metrics (metrics.go); nil
	// records nothing.
	MeterProvider metric.MeterProvider
}

// TLSConfig enables TLS to the brokers.
type TLSConfig struct {
	Enable bool
	// CAFile is a PEM bundle of the CAs to trust; empty uses the system pool.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and key (mutual TLS).
	CertFile string
	KeyFile  string
	// ServerName overrides the name verified in the brokers' certificates.
	ServerName string
	// InsecureSkipVerify disables certificate verification (tests only).
	InsecureSkipVerify bool
}

// SASLConfig enables SASL authentication. An empty Mechanism disables it.
type SASLConfig struct {
	Mechanism string // PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	User      string
	Password  string
}

// ProducerConfig tunes the publisher.
type ProducerConfig struct {
	// DisableIdempotence turns the idempotent producer off. It is on by
	// default (acks=all, one in-flight request, retries), which keeps
	// per-partition order and avoids duplicates on retries.
	DisableIdempotence bool
	// Retries is how many times a failed send is retried inside sarama.
	Retries int
	// RetryBackoff is the pause between those retries.
	RetryBackoff time.Duration
}

// ConsumerConfig tunes the subscriber.
type ConsumerConfig struct {
	// Group is the consumer group (required for subscribers: offsets are
	// committed to it).
	Group string
	// InitialOffset is where a group without a committed offset starts:
	// "oldest" (default) or "newest".
	InitialOffset string
	// SessionTimeout, HeartbeatInterval and RebalanceTimeout are the group
	// membership timeouts.
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	RebalanceTimeout  time.Duration
	// AutoCommitInterval is how often offsets marked on ack are committed.
	AutoCommitInterval time.Duration
	// NackResendDelay is the pause before a nacked message is redelivered.
	NackResendDelay time.Duration
}

// EnsureDefaults fills every zero field with its default.
func (c *Config) EnsureDefaults() {
	if c.ClientID == "" {
		c.ClientID = DefaultClientID
	}
	if c.Version == "" {
		c.Version = DefaultVersion
	}
	if c.Compression == "" {
		c.Compression = DefaultCompression
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.MaxReassembledBytes == 0 {
		c.MaxReassembledBytes = DefaultMaxReassembled
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.Producer.Retries == 0 {
		c.Producer.Retries = DefaultProducerRetries
	}
	if c.Producer.RetryBackoff == 0 {
		c.Producer.RetryBackoff = DefaultRetryBackoff
	}
	if c.Consumer.InitialOffset == "" {
		c.Consumer.InitialOffset = OffsetOldest
	}
	if c.Consumer.SessionTimeout == 0 {
		c.Consumer.SessionTimeout = DefaultSessionTimeout
	}
	if c.Consumer.HeartbeatInterval == 0 {
		// Kafka's rule of thumb: at most a third of the session timeout
		// (a shorter session, e.g. 3s for B's workers, beats more often).
		c.Consumer.HeartbeatInterval = min(DefaultHeartbeatInterval, c.Consumer.SessionTimeout/3)
	}
	if c.Consumer.RebalanceTimeout == 0 {
		c.Consumer.RebalanceTimeout = DefaultRebalanceTimeout
	}
	if c.Consumer.AutoCommitInterval == 0 {
		c.Consumer.AutoCommitInterval = DefaultAutoCommitInterval
	}
	if c.Consumer.NackResendDelay == 0 {
		c.Consumer.NackResendDelay = DefaultNackResendDelay
	}
}

// Validate reports every problem at once, each with its fix. It validates
// the configuration as given: call EnsureDefaults first to fill zero fields.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf("kafka: "+format, args...)) }
	if len(c.Brokers) == 0 {
		add("no brokers: set --kafka.brokers to host:port[,host:port...]")
	}
	for _, b := range c.Brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			add("broker %q is not host:port: write it like 127.0.0.1:9092", b)
		}
	}
	if c.ClientID == "" {
		add("empty client id: set one (default %q)", DefaultClientID)
	}
	if v, err := sarama.ParseKafkaVersion(c.Version); err != nil {
		add("Kafka version %q is not a version: use e.g. %q", c.Version, DefaultVersion)
	} else if !v.IsAtLeast(sarama.V0_11_0_0) {
		add("Kafka version %s is too old: dc2dc needs record headers and idempotence, use 0.11.0 or later (default %s)", c.Version, DefaultVersion)
	}
	if _, ok := compressionCodecs[c.Compression]; !ok {
		add("compression %q is unknown: use none, gzip, snappy, lz4 or zstd", c.Compression)
	}
	if c.MaxMessageBytes < 4096 {
		add("max message bytes %d is too small: use at least 4096 (default %d, at most the topics' max.message.bytes)", c.MaxMessageBytes, DefaultMaxMessageBytes)
	}
	if c.MaxReassembledBytes < c.MaxMessageBytes {
		add("max reassembled bytes %d is below max message bytes %d: raise it (default %d)", c.MaxReassembledBytes, c.MaxMessageBytes, DefaultMaxReassembled)
	}
	if c.DialTimeout <= 0 {
		add("dial timeout %v must be positive (default %v)", c.DialTimeout, DefaultDialTimeout)
	}
	errs = append(errs, c.TLS.validate()...)
	errs = append(errs, c.SASL.validate()...)
	if c.Producer.Retries < 0 {
		add("producer retries %d is negative: use 0 for the default (%d) or more", c.Producer.Retries, DefaultProducerRetries)
	}
	if c.Producer.RetryBackoff < 0 {
		add("producer retry backoff %v is negative (default %v)", c.Producer.RetryBackoff, DefaultRetryBackoff)
	}
	cc := c.Consumer
	if cc.InitialOffset != OffsetOldest && cc.InitialOffset != OffsetNewest {
		add("initial offset %q is unknown: use %q or %q", cc.InitialOffset, OffsetOldest, OffsetNewest)
	}
	if cc.SessionTimeout <= 0 || cc.HeartbeatInterval <= 0 || cc.HeartbeatInterval >= cc.SessionTimeout {
		add("heartbeat interval %v must be positive and below the session timeout %v (defaults %v and %v)", cc.HeartbeatInterval, cc.SessionTimeout, DefaultHeartbeatInterval, DefaultSessionTimeout)
	}
	if cc.RebalanceTimeout <= 0 {
		add("rebalance timeout %v must be positive (default %v)", cc.RebalanceTimeout, DefaultRebalanceTimeout)
	}
	if cc.AutoCommitInterval <= 0 {
		add("auto-commit interval %v must be positive (default %v)", cc.AutoCommitInterval, DefaultAutoCommitInterval)
	}
	if cc.NackResendDelay < 0 {
		add("nack resend delay %v is negative (default %v)", cc.NackResendDelay, DefaultNackResendDelay)
	}
	return invalidConfig(errors.Join(errs...))
}

func (t TLSConfig) validate() []error {
	var errs []error
	if !t.Enable {
		if t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "" || t.InsecureSkipVerify {
			errs = append(errs, errors.New("kafka: TLS options are set but TLS is off: enable it with --kafka.tls"))
		}
		return errs
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, errors.New("kafka: TLS client certificate and key go together: set both files or neither"))
	}
	for _, f := range []string{t.CAFile, t.CertFile, t.KeyFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			errs = append(errs, fmt.Errorf("kafka: TLS file %s cannot be read: %w: check the path", f, err))
		}
	}
	return errs
}

func (s SASLConfig) validate() []error {
	var errs []error
	switch s.Mechanism {
	case "":
		if s.User != "" || s.Password != "" {
			errs = append(errs, errors.New("kafka: SASL user or password set without a mechanism: set --kafka.sasl.mechanism to PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"))
		}
		return errs
	case SASLPlain, SASLSCRAMSHA256, SASLSCRAMSHA512:
	default:
		errs = append(errs, fmt.Errorf("kafka: SASL mechanism %q is unknown: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism))
	}
	if s.User == "" || s.Password == "" {
		errs = append(errs, fmt.Errorf("kafka: SASL %s needs a user and a password: set both", s.Mechanism))
	}
	return errs
}

// tlsConfig builds the crypto/tls configuration.
func (t TLSConfig) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // explicit operator choice, documented as tests only
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka: reading TLS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka: TLS CA file %s holds no PEM certificate: give a PEM bundle", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka: loading TLS client certificate %s and key %s: %w", t.CertFile, t.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// saramaConfig translates the configuration for sarama. The caller has
// called EnsureDefaults and Validate.
func (c Config) saramaConfig() (*sarama.Config, error) {
	sc := sarama.NewConfig()
	// sarama's go-metrics cost a lock and a histogram update per request;
	// nobody reads them (dc2dc's metrics are OpenTelemetry's).
	sc.MetricRegistry = nometrics.Registry()
	v, err := sarama.ParseKafkaVersion(c.Version)
	if err != nil {
		return nil, err
	}
	sc.Version = v
	sc.ClientID = c.ClientID
	sc.Net.DialTimeout = c.DialTimeout
	// Never let a metadata request create a topic with the broker's
	// defaults (auto.create.topics.enable is on in many clusters): topics
	// are created explicitly by EnsureTopics with their partition count.
	sc.Metadata.AllowAutoTopicCreation = false
	sc.Metadata.Retry.Max = 3
	sc.Metadata.Retry.Backoff = c.Producer.RetryBackoff

	if c.TLS.Enable {
		tc, err := c.TLS.tlsConfig()
		if err != nil {
			return nil, err
		}
		sc.Net.TLS.Enable = true
		sc.Net.TLS.Config = tc
	}
	if c.SASL.Mechanism != "" {
		sc.Net.SASL.Enable = true
		sc.Net.SASL.Handshake = true
		sc.Net.SASL.User = c.SASL.User
		sc.Net.SASL.Password = c.SASL.Password
		switch c.SASL.Mechanism {
		case SASLPlain:
			sc.Net.SASL.Mechanism = sarama.SASLTypePlaintext
		case SASLSCRAMSHA256:
			sc.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
			sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return newSCRAMClient(sha256Hash) }
		case SASLSCRAMSHA512:
			sc.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
			sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return newSCRAMClient(sha512Hash) }
		}
	}

	p := &sc.Producer
	p.Return.Successes = true
	p.Return.Errors = true
	p.Compression = compressionCodecs[c.Compression]
	p.MaxMessageBytes = c.MaxMessageBytes
	p.Retry.Max = c.Producer.Retries
	p.Retry.Backoff = c.Producer.RetryBackoff
	p.RequiredAcks = sarama.WaitForAll
	p.Partitioner = sarama.NewHashPartitioner
	if !c.Producer.DisableIdempotence {
		p.Idempotent = true
		sc.Net.MaxOpenRequests = 1
	}

	// Messages buffered per partition (consumer) and in the producer's
	// input: sarama's 256 times batches of up to MaxMessageBytes let a
	// worker catching up with a backlog hold hundreds of MiB; 32 keeps the
	// pipeline full and memory bounded by configuration.
	sc.ChannelBufferSize = DefaultChannelBuffer
	cons := &sc.Consumer
	cons.Return.Errors = true
	cons.Offsets.Initial = sarama.OffsetOldest
	if c.Consumer.InitialOffset == OffsetNewest {
		cons.Offsets.Initial = sarama.OffsetNewest
	}
	cons.Offsets.AutoCommit.Enable = true
	cons.Offsets.AutoCommit.Interval = c.Consumer.AutoCommitInterval
	cons.Group.Session.Timeout = c.Consumer.SessionTimeout
	cons.Group.Heartbeat.Interval = c.Consumer.HeartbeatInterval
	cons.Group.Rebalance.Timeout = c.Consumer.RebalanceTimeout
	cons.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategySticky(), sarama.NewBalanceStrategyRange()}
	if c.MaxMessageBytes > int(cons.Fetch.Default) {
		cons.Fetch.Default = int32(min(c.MaxMessageBytes, 1<<30))
	}
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("kafka: the sarama configuration derived from Config is invalid: %w", err)
	}
	return sc, nil
}

// brokerList renders the bootstrap list for error messages.
func (c Config) brokerList() string { return strings.Join(c.Brokers, ",") }
