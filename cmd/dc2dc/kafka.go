package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dc2dc/dc2dc/pipeline/broker"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
)

func init() { register(newKafkaCmd) }

// kafkaReady is the one JSON line `dc2dc kafka` prints on stdout once the
// brokers listen.
type kafkaReady struct {
	Brokers []string `json:"brokers"`
	DataDir string   `json:"data_dir,omitempty"`
	PID     int      `json:"pid"`
}

func newKafkaCmd(g *globalOptions) *cobra.Command {
	var cfg broker.Config
	var users []string
	var tlsCert, tlsKey, tlsClientCA string
	cmd := &cobra.Command{
		Use:   "kafka",
		Short: "Run an embedded Kafka cluster (kfake) for development and tests",
		Long: `Runs an in-process Kafka-protocol cluster (franz-go's kfake) on 127.0.0.1
until SIGINT or SIGTERM. Once it listens it prints one JSON line on stdout:

  {"brokers":["127.0.0.1:9092"],"data_dir":"/var/lib/dc2dc-kafka","pid":1234}

With --data-dir, topics, records and committed offsets persist there and are
reloaded on the next start (restart on the same ports). Without it everything
lives in memory, without retention. Topics are not auto-created: dc2dc creates
its topics explicitly. This is not a production Kafka.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = g.Logger()
			for _, u := range users {
				user, err := parseKafkaUser(u)
				if err != nil {
					return err
				}
				cfg.Users = append(cfg.Users, user)
			}
			tc, err := kafkaServerTLS(tlsCert, tlsKey, tlsClientCA)
			if err != nil {
				return err
			}
			cfg.TLS = tc
			c, err := broker.Start(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer func() { _ = c.Close() }() // idempotent; the clean path returns Close's result below
			line, err := json.Marshal(kafkaReady{Brokers: c.Addrs(), DataDir: cfg.DataDir, PID: os.Getpid()})
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(cmd.OutOrStdout(), "%s\n", line); err != nil {
				return err
			}
			g.Logger().Info("embedded Kafka ready", "brokers", c.Addrs(), "data_dir", cfg.DataDir)
			<-cmd.Context().Done()
			g.Logger().Info("embedded Kafka stopping")
			return c.Close()
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Brokers, "brokers", 1, "number of brokers")
	f.IntVar(&cfg.BasePort, "port", 9092, "port of the first broker (broker i listens on port+i); 0 picks free ports")
	f.StringVar(&cfg.DataDir, "data-dir", "", "directory to persist topics, records and offsets in (empty: memory only)")
	f.BoolVar(&cfg.SyncWrites, "sync-writes", false, "fsync every produced batch (survives a machine crash, much slower)")
	f.DurationVar(&cfg.GroupMinSessionTimeout, "group-min-session-timeout", 0, "shortest consumer-group session the broker accepts (0: Kafka's 6s)")
	f.StringArrayVar(&users, "user", nil, "SASL user MECHANISM:NAME:PASSWORD (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512), repeatable; enables SASL")
	f.StringVar(&tlsCert, "tls.cert-file", "", "PEM server certificate: listen with TLS")
	f.StringVar(&tlsKey, "tls.key-file", "", "PEM server key (with --tls.cert-file)")
	f.StringVar(&tlsClientCA, "tls.client-ca-file", "", "PEM CAs of client certificates: require mutual TLS")
	f.IntVar(&cfg.DefaultPartitions, "default-partitions", 0, "partitions for CreateTopics requests that ask for the default (0: kfake's 10)")
	return cmd
}

// parseKafkaUser parses MECHANISM:NAME:PASSWORD (the password may contain
// colons).
func parseKafkaUser(s string) (broker.User, error) {
	mech, rest, ok1 := strings.Cut(s, ":")
	name, pass, ok2 := strings.Cut(rest, ":")
	u := broker.User{Mechanism: strings.ToUpper(mech), Name: name, Password: pass}
	if len(u.Mechanism) != len(mech) { // non-ASCII case folding: not a mechanism name
		u.Mechanism = mech
	}
	if !ok1 || !ok2 || name == "" || pass == "" {
		return u, fmt.Errorf("--user %q: write MECHANISM:NAME:PASSWORD, e.g. SCRAM-SHA-256:alice:secret", redactUser(s))
	}
	switch u.Mechanism {
	case broker.MechanismPlain, broker.MechanismSCRAMSHA256, broker.MechanismSCRAMSHA512:
	default:
		return u, fmt.Errorf("--user %q: mechanism %q: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", redactUser(s), mech)
	}
	return u, nil
}

// redactUser hides the password part of a --user value in messages.
func redactUser(s string) string {
	mech, rest, ok := strings.Cut(s, ":")
	if !ok {
		return "…"
	}
	name, _, ok := strings.Cut(rest, ":")
	if !ok {
		return mech + ":…"
	}
	return mech + ":" + name + ":…"
}

// kafkaServerTLS builds the listener TLS configuration, or nil without a
// certificate.
func kafkaServerTLS(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		if clientCAFile != "" {
			return nil, errors.New("--tls.client-ca-file needs --tls.cert-file and --tls.key-file")
		}
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls.cert-file %s / --tls.key-file %s: %w", certFile, keyFile, err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCAFile != "" {
		pem, err := os.ReadFile(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("--tls.client-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls.client-ca-file %s holds no PEM certificate", clientCAFile)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// kafkaClientFlags binds the flags of a Kafka client configuration (the
// names the transport's error messages point at) to cfg, with defaults from
// DC2DC_KAFKA_* environment variables. Commands that talk to Kafka call it
// with the prefix "kafka" (flags --kafka.brokers, ...), or another prefix
// when they talk to two clusters (e.g. "kafka.a", "kafka.b").
func kafkaClientFlags(f *pflag.FlagSet, prefix string, cfg *kafka.Config) {
	env := "DC2DC_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(prefix)) + "_"
	name := func(s string) string { return prefix + "." + s }
	brokers := envOr(env+"BROKERS", "127.0.0.1:9092")
	cfg.Brokers = strings.Split(brokers, ",")
	f.StringSliceVar(&cfg.Brokers, name("brokers"), cfg.Brokers, "Kafka bootstrap brokers, host:port,... (env "+env+"BROKERS)")
	f.StringVar(&cfg.ClientID, name("client-id"), envOr(env+"CLIENT_ID", kafka.DefaultClientID), "Kafka client id")
	f.StringVar(&cfg.Version, name("version"), envOr(env+"VERSION", kafka.DefaultVersion), "Kafka protocol version to speak (at least 0.11.0)")
	f.StringVar(&cfg.Compression, name("compression"), envOr(env+"COMPRESSION", kafka.DefaultCompression), "compression: none, gzip, snappy, lz4 or zstd")
	f.IntVar(&cfg.MaxMessageBytes, name("max-message-bytes"), kafka.DefaultMaxMessageBytes, "largest Kafka record to send; larger messages are split (keep it at most the topics' max.message.bytes)")
	f.IntVar(&cfg.MaxReassembledBytes, name("max-reassembled-bytes"), kafka.DefaultMaxReassembled, "largest message the subscriber reassembles from fragments")
	f.BoolVar(&cfg.TLS.Enable, name("tls"), envOr(env+"TLS", "") == "true", "connect with TLS (env "+env+"TLS=true)")
	f.StringVar(&cfg.TLS.CAFile, name("tls.ca-file"), envOr(env+"TLS_CA_FILE", ""), "PEM file of the CAs that sign the brokers' certificates (default: system pool)")
	f.StringVar(&cfg.TLS.CertFile, name("tls.cert-file"), envOr(env+"TLS_CERT_FILE", ""), "PEM client certificate for mutual TLS")
	f.StringVar(&cfg.TLS.KeyFile, name("tls.key-file"), envOr(env+"TLS_KEY_FILE", ""), "PEM client key for mutual TLS")
	f.StringVar(&cfg.TLS.ServerName, name("tls.server-name"), envOr(env+"TLS_SERVER_NAME", ""), "name to verify in the brokers' certificates (default: the broker host)")
	f.BoolVar(&cfg.TLS.InsecureSkipVerify, name("tls.insecure-skip-verify"), false, "do not verify the brokers' certificates (tests only)")
	f.StringVar(&cfg.SASL.Mechanism, name("sasl.mechanism"), envOr(env+"SASL_MECHANISM", ""), "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty: no SASL)")
	f.StringVar(&cfg.SASL.User, name("sasl.user"), envOr(env+"SASL_USER", ""), "SASL user")
	f.StringVar(&cfg.SASL.Password, name("sasl.password"), envOr(env+"SASL_PASSWORD", ""), "SASL password (prefer env "+env+"SASL_PASSWORD)")
	f.StringVar(&cfg.Consumer.InitialOffset, name("initial-offset"), kafka.OffsetOldest, "where a consumer group without a committed offset starts: oldest or newest")
	f.DurationVar(&cfg.Consumer.SessionTimeout, name("session-timeout"), 0, "consumer-group session timeout: a dead member's partitions move after it (default 10s; at least the brokers' group.min.session.timeout.ms, 6s on a default Kafka)")
}
