package mirror

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/dc2dc/dc2dc/pipeline/kafka/nometrics"
)

// clientConfig builds the sarama configuration shared by every client of one
// cluster: version, client id, TLS and SASL.
func clientConfig(cl ClusterConfig) (*sarama.Config, error) {
	sc := sarama.NewConfig()
	// sarama's go-metrics cost a lock and a histogram update per request;
	// nobody reads them (the mirror's metrics are its own, metrics.go).
	sc.MetricRegistry = nometrics.Registry()
	sc.ClientID = cl.ClientID
	v, err := sarama.ParseKafkaVersion(cl.KafkaVersion)
	if err != nil {
		return nil, err
	}
	sc.Version = v
	if cl.TLS.Enabled {
		tc, err := tlsConfig(cl.TLS)
		if err != nil {
			return nil, err
		}
		sc.Net.TLS.Enable = true
		sc.Net.TLS.Config = tc
	}
	if mech := strings.ToUpper(cl.SASL.Mechanism); mech != "" {
		sc.Net.SASL.Enable = true
		sc.Net.SASL.Handshake = true
		sc.Net.SASL.User = cl.SASL.Username
		sc.Net.SASL.Password = cl.SASL.Password
		sc.Net.SASL.Mechanism = sarama.SASLMechanism(mech)
		switch mech {
		case sarama.SASLTypeSCRAMSHA256:
			sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: sha256.New} }
		case sarama.SASLTypeSCRAMSHA512:
			sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: sha512.New} }
		}
	}
	return sc, nil
}

// producerRetries is how often sarama retries a retriable produce error.
const producerRetries = 1000

// sourceConfig is the configuration of a route's source client: a consumer
// group that reads committed records only and commits offsets the route
// marked (only offsets the target acknowledged) every second.
func sourceConfig(cl ClusterConfig, c *Config) (*sarama.Config, error) {
	sc, err := clientConfig(cl)
	if err != nil {
		return nil, err
	}
	sc.Consumer.Return.Errors = true
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	sc.Consumer.Offsets.AutoCommit.Enable = true
	sc.Consumer.Offsets.AutoCommit.Interval = time.Second
	sc.Consumer.IsolationLevel = sarama.ReadCommitted
	sc.Consumer.Group.Session.Timeout = c.SessionTimeout.D()
	sc.Consumer.Group.Heartbeat.Interval = c.HeartbeatInterval.D()
	sc.Consumer.Group.Rebalance.Timeout = max(c.SessionTimeout.D(), 10*time.Second)
	// Eager rebalancing: Setup runs for every generation, which is where
	// the route re-reads the target's last forwarded record of each claim.
	sc.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	sc.Consumer.Group.InstanceId = c.InstanceID
	sc.Consumer.Fetch.Default = 4 << 20
	sc.ChannelBufferSize = 1024
	sc.Metadata.Retry.Max = 5
	return sc, nil
}

// targetConfig is the configuration of a route's target client: an
// idempotent producer that keeps the source partition (manual partitioner)
// and retries retriable errors until the route gives up, plus a consumer to
// read the last record of each target partition.
//
// stopping, once set, cuts metadata retries short.
func targetConfig(cl ClusterConfig, c *Config, stopping *atomic.Bool) (*sarama.Config, error) {
	sc, err := clientConfig(cl)
	if err != nil {
		return nil, err
	}
	sc.Producer.Idempotent = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Net.MaxOpenRequests = 1 // required by sarama's idempotent producer; keeps order
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.MaxMessageBytes = c.MaxMessageBytes
	sc.Producer.Compression = compressions[c.Compression]
	// Retriable errors are retried for a long time (1000 times, backoff
	// capped at RetryBackoffMax: over an hour at 5s) rather than given up:
	// a record given up on while a later one of its partition is written
	// would leave a hole (see CodeGap). sarama allocates retry state per
	// retry and partition, so this cannot be unbounded.
	sc.Producer.Retry.Max = producerRetries
	backoffMax := c.RetryBackoffMax.D()
	sc.Producer.Retry.BackoffFunc = func(retries, _ int) time.Duration {
		if stopping.Load() {
			// sarama sleeps this long per record when it cannot find a
			// leader; at shutdown let the records in flight fail fast
			// (the next run resumes from the target).
			return 0
		}
		d := 50 * time.Millisecond << min(retries, 16)
		return min(d, backoffMax)
	}
	// The producer fails a record at once when it cannot find the
	// partition's leader, and sends the next one when the leader is back,
	// which leaves a hole. Let leader look-ups ride out a target outage of up
	// to a minute (a broker restart) instead.
	sc.Metadata.Retry.Max = 240
	sc.Metadata.Retry.BackoffFunc = func(retries, _ int) time.Duration {
		if stopping.Load() {
			// Longer than Metadata.Timeout: sarama gives up the look-up
			// at once instead of waiting, so shutdown stays bounded.
			return time.Hour
		}
		return min(50*time.Millisecond<<min(retries, 4), 250*time.Millisecond)
	}
	sc.Metadata.Timeout = time.Minute
	sc.Consumer.IsolationLevel = sarama.ReadCommitted
	sc.Consumer.Return.Errors = true
	sc.ChannelBufferSize = 1024
	return sc, nil
}

func tlsConfig(t TLSConfig) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // opt-in for test setups
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mirror: read tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mirror: tls.ca_file %s holds no PEM certificate", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("mirror: load tls.cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// scramClient implements the client side of SCRAM (RFC 5802, RFC 7677) for
// sarama, which leaves the implementation to its user.
type scramClient struct {
	hash func() hash.Hash

	user, pass, authz string
	step              int
	nonce             string
	clientFirstBare   string
	serverSignature   []byte
	done              bool
}

func (s *scramClient) Begin(user, pass, authz string) error {
	s.user, s.pass, s.authz = user, pass, authz
	s.step = 0
	s.done = false
	return nil
}

func (s *scramClient) Done() bool { return s.done }

var scramEscaper = strings.NewReplacer("=", "=3D", ",", "=2C")

func (s *scramClient) gs2Header() string {
	if s.authz == "" {
		return "n,,"
	}
	return "n,a=" + scramEscaper.Replace(s.authz) + ","
}

func (s *scramClient) Step(challenge string) (string, error) {
	switch s.step {
	case 0:
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		s.nonce = base64.RawStdEncoding.EncodeToString(b)
		s.clientFirstBare = "n=" + scramEscaper.Replace(s.user) + ",r=" + s.nonce
		s.step++
		return s.gs2Header() + s.clientFirstBare, nil
	case 1:
		attrs := scramAttrs(challenge)
		nonce, salt64, iterStr := attrs["r"], attrs["s"], attrs["i"]
		if !strings.HasPrefix(nonce, s.nonce) || len(nonce) == len(s.nonce) {
			return "", errors.New("scram: server nonce does not extend the client nonce")
		}
		salt, err := base64.StdEncoding.DecodeString(salt64)
		if err != nil {
			return "", fmt.Errorf("scram: bad salt: %w", err)
		}
		iter, err := strconv.Atoi(iterStr)
		if err != nil || iter < 1 {
			return "", fmt.Errorf("scram: bad iteration count %q", iterStr)
		}
		salted, err := pbkdf2.Key(s.hash, s.pass, salt, iter, s.hash().Size())
		if err != nil {
			return "", err
		}
		clientKey := s.hmac(salted, "Client Key")
		h := s.hash()
		h.Write(clientKey)
		storedKey := h.Sum(nil)
		final := "c=" + base64.StdEncoding.EncodeToString([]byte(s.gs2Header())) + ",r=" + nonce
		authMsg := s.clientFirstBare + "," + challenge + "," + final
		sig := s.hmac(storedKey, authMsg)
		proof := make([]byte, len(clientKey))
		for i := range clientKey {
			proof[i] = clientKey[i] ^ sig[i]
		}
		s.serverSignature = s.hmac(s.hmac(salted, "Server Key"), authMsg)
		s.step++
		return final + ",p=" + base64.StdEncoding.EncodeToString(proof), nil
	case 2:
		attrs := scramAttrs(challenge)
		if e, ok := attrs["e"]; ok {
			return "", fmt.Errorf("scram: server refused: %s", e)
		}
		v, err := base64.StdEncoding.DecodeString(attrs["v"])
		if err != nil || !hmac.Equal(v, s.serverSignature) {
			return "", errors.New("scram: server signature does not verify")
		}
		s.done = true
		s.step++
		return "", nil
	}
	return "", errors.New("scram: conversation already finished")
}

func (s *scramClient) hmac(key []byte, msg string) []byte {
	m := hmac.New(s.hash, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func scramAttrs(msg string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(msg, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok && len(k) == 1 {
			out[k] = v
		}
	}
	return out
}
