package kafka_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/dc2dc/dc2dc/pipeline/broker"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
	"github.com/dc2dc/dc2dc/pipeline/kafka/kafkatest"
)

// roundTrip creates a topic, publishes three messages and consumes them.
func roundTrip(t *testing.T, cfg kafka.Config) {
	t.Helper()
	topic := kafkatest.NewTopic(t, cfg, 2)
	pub := kafkatest.NewPublisher(t, cfg)
	var msgs []*message.Message
	for i := 0; i < 3; i++ {
		msgs = append(msgs, kafkatest.Msg("db/c/0", i, []byte("secure")))
	}
	if err := pub.Publish(topic, msgs...); err != nil {
		t.Fatal(err)
	}
	got := kafkatest.Receive(t, kafkatest.Subscribe(t, kafkatest.NewSubscriber(t, cfg, "g"+kafkatest.RandomID()), topic), 3)
	for i, m := range got {
		if m.UUID != msgs[i].UUID {
			t.Fatalf("message %d is %s, want %s", i, m.UUID, msgs[i].UUID)
		}
	}
}

func TestSASL(t *testing.T) {
	for _, mech := range []string{kafka.SASLPlain, kafka.SASLSCRAMSHA256, kafka.SASLSCRAMSHA512} {
		t.Run(mech, func(t *testing.T) {
			c := startBroker(t, broker.Config{Users: []broker.User{{Mechanism: mech, Name: "alice", Password: "s3cret=,x"}}})
			cfg := testConfig(c)
			cfg.SASL = kafka.SASLConfig{Mechanism: mech, User: "alice", Password: "s3cret=,x"}
			roundTrip(t, cfg)

			cfg.SASL.Password = "wrong"
			_, err := kafka.NewPublisher(cfg)
			// kfake closes the connection on bad credentials where Kafka
			// answers SASL_AUTHENTICATION_FAILED (see errors_internal_test.go).
			if !errors.Is(err, kafka.ErrAuth) || !strings.Contains(err.Error(), "--kafka.sasl.password") {
				t.Fatalf("wrong password: %v, want ErrAuth naming the flag", err)
			}
		})
	}
}

// pki is a throwaway CA with a server and a client certificate, as PEM files.
type pki struct {
	dir            string
	caFile         string
	serverCert     tls.Certificate
	clientCertFile string
	clientKeyFile  string
	caPool         *x509.CertPool
	otherCAFile    string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	p := &pki{dir: dir}
	caKey, caDER := selfSigned(t, "dc2dc test CA")
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	p.caPool = x509.NewCertPool()
	p.caPool.AddCert(caCert)
	p.caFile = writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)
	_, otherDER := selfSigned(t, "some other CA")
	p.otherCAFile = writePEM(t, dir, "other-ca.pem", "CERTIFICATE", otherDER)

	issue := func(name string, usage x509.ExtKeyUsage) (*ecdsa.PrivateKey, []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(time.Now().UnixNano()),
			Subject:      pkix.Name{CommonName: name},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			DNSNames:     []string{"kafka.test"},
			IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return key, der
	}
	sKey, sDER := issue("kafka.test", x509.ExtKeyUsageServerAuth)
	p.serverCert = tls.Certificate{Certificate: [][]byte{sDER}, PrivateKey: sKey}
	cKey, cDER := issue("dc2dc client", x509.ExtKeyUsageClientAuth)
	p.clientCertFile = writePEM(t, dir, "client.pem", "CERTIFICATE", cDER)
	keyDER, err := x509.MarshalECPrivateKey(cKey)
	if err != nil {
		t.Fatal(err)
	}
	p.clientKeyFile = writePEM(t, dir, "client-key.pem", "EC PRIVATE KEY", keyDER)
	return p
}

func selfSigned(t *testing.T, cn string) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTLS runs against kfake's own TLS listener (kfake.TLS): server
// verification by CA file, by server name, mutual TLS, and SCRAM over TLS.
func TestTLS(t *testing.T) {
	p := newPKI(t)
	t.Run("ServerAuth", func(t *testing.T) {
		c := startBroker(t, broker.Config{TLS: &tls.Config{Certificates: []tls.Certificate{p.serverCert}, MinVersion: tls.VersionTLS12}})
		cfg := testConfig(c)
		cfg.TLS = kafka.TLSConfig{Enable: true, CAFile: p.caFile}
		roundTrip(t, cfg)
		cfg.TLS.ServerName = "kafka.test"
		roundTrip(t, cfg)
		cfg.TLS = kafka.TLSConfig{Enable: true, InsecureSkipVerify: true}
		roundTrip(t, cfg)

		cfg.TLS = kafka.TLSConfig{Enable: true, CAFile: p.otherCAFile}
		_, err := kafka.NewPublisher(cfg)
		if !errors.Is(err, kafka.ErrTLS) || !errors.Is(err, kafka.ErrPermanent) {
			t.Fatalf("untrusted server certificate: %v, want permanent ErrTLS", err)
		}
		cfg.TLS = kafka.TLSConfig{Enable: true, CAFile: p.caFile, ServerName: "other.name"}
		if _, err := kafka.NewPublisher(cfg); !errors.Is(err, kafka.ErrTLS) {
			t.Fatalf("wrong server name: %v, want ErrTLS", err)
		}
	})
	t.Run("MutualTLSWithSCRAM", func(t *testing.T) {
		c := startBroker(t, broker.Config{
			TLS: &tls.Config{
				Certificates: []tls.Certificate{p.serverCert},
				ClientAuth:   tls.RequireAndVerifyClientCert,
				ClientCAs:    p.caPool,
				MinVersion:   tls.VersionTLS12,
			},
			Users: []broker.User{{Mechanism: broker.MechanismSCRAMSHA512, Name: "bob", Password: "pw"}},
		})
		cfg := testConfig(c)
		cfg.TLS = kafka.TLSConfig{Enable: true, CAFile: p.caFile, CertFile: p.clientCertFile, KeyFile: p.clientKeyFile}
		cfg.SASL = kafka.SASLConfig{Mechanism: kafka.SASLSCRAMSHA512, User: "bob", Password: "pw"}
		roundTrip(t, cfg)
	})
}

func TestUnreachableIsRetryableAndNamesTheFix(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	cfg := kafka.Config{Brokers: []string{addr}, DialTimeout: time.Second}
	_, err = kafka.NewPublisher(cfg)
	if !errors.Is(err, kafka.ErrUnreachable) || !kafka.IsRetryable(err) {
		t.Fatalf("got %v, want retryable ErrUnreachable", err)
	}
	for _, want := range []string{"cannot reach Kafka at " + addr, "is the broker running?", "--kafka.brokers"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	err = kafka.EnsureTopics(context.Background(), cfg, []kafka.TopicSpec{{Name: "x", Partitions: 1}})
	if !errors.Is(err, kafka.ErrUnreachable) {
		t.Fatalf("EnsureTopics: %v", err)
	}
}

func TestBrokerRejectsTooLargeRecord(t *testing.T) {
	c := startBroker(t, broker.Config{})
	cfg := testConfig(c)
	cfg.MaxMessageBytes = 100000 // larger than the topic allows: a misconfiguration
	cfg.Producer.Retries = 1
	name := "dc2dc.small.data"
	if err := kafka.EnsureTopics(context.Background(), cfg, []kafka.TopicSpec{{Name: name, Partitions: 1, MaxMessageBytes: 20000}}); err != nil {
		t.Fatal(err)
	}
	pub := kafkatest.NewPublisher(t, cfg)
	random := make([]byte, 50000) // incompressible: lz4 is on by default
	if _, err := rand.Read(random); err != nil {
		t.Fatal(err)
	}
	err := pub.Publish(name, kafkatest.Msg("db/c/0", 0, random))
	if !errors.Is(err, kafka.ErrMessageTooLarge) || !errors.Is(err, kafka.ErrPermanent) || !strings.Contains(err.Error(), "max-message-bytes") {
		t.Fatalf("got %v, want permanent ErrMessageTooLarge naming the flag", err)
	}
	if err := pub.Publish("dc2dc.nosuch.data", kafkatest.Msg("db/c/0", 0, []byte("x"))); !errors.Is(err, kafka.ErrUnknownTopic) {
		t.Fatalf("unknown topic: %v", err)
	}

	// Several messages in one call: every failed message is named (records
	// batched with the too-large one fail with it), every other one lands.
	msgs := []*message.Message{kafkatest.Msg("db/c/0", 1, []byte("a")), kafkatest.Msg("db/c/1", 2, random), kafkatest.Msg("db/c/2", 3, []byte("b"))}
	err = pub.Publish(name, msgs...)
	if !errors.Is(err, kafka.ErrMessageTooLarge) || !strings.Contains(err.Error(), msgs[1].UUID+" (2 of 3)") {
		t.Fatalf("got %v, want message 2 of 3 reported as too large", err)
	}
	var landed []string
	for i, m := range msgs {
		if !strings.Contains(err.Error(), fmt.Sprintf("%s (%d of 3)", m.UUID, i+1)) {
			landed = append(landed, m.UUID)
		}
	}
	ch := kafkatest.Subscribe(t, kafkatest.NewSubscriber(t, cfg, "g"), name)
	for i, m := range kafkatest.Receive(t, ch, len(landed)) {
		if m.UUID != landed[i] {
			t.Fatalf("delivered %s, want %s (not reported as failed)", m.UUID, landed[i])
		}
	}
	kafkatest.ExpectNone(t, ch, 300*time.Millisecond)
}

func TestPublishAfterClose(t *testing.T) {
	c := startBroker(t, broker.Config{})
	pub, err := kafka.NewPublisher(testConfig(c))
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pub.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := pub.Publish("t", message.NewMessage("u", nil)); !errors.Is(err, kafka.ErrClosed) {
		t.Fatalf("got %v", err)
	}
}

func TestSubscribeAfterClose(t *testing.T) {
	c := startBroker(t, broker.Config{})
	cfg := testConfig(c)
	cfg.Consumer.Group = "g"
	sub, err := kafka.NewSubscriber(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Subscribe(context.Background(), "t"); !errors.Is(err, kafka.ErrClosed) || !errors.Is(err, kafka.ErrPermanent) {
		t.Fatalf("got %v", err)
	}
}

// TestCloseWhilePublishing: Close concurrent with Publish is safe (run
// with -race) and later publishes fail with ErrClosed.
func TestCloseWhilePublishing(t *testing.T) {
	c := startBroker(t, broker.Config{})
	cfg := testConfig(c)
	topic := kafkatest.NewTopic(t, cfg, 1)
	pub, err := kafka.NewPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			if err := pub.Publish(topic, kafkatest.Msg("db/c/0", i, []byte("x"))); err != nil {
				done <- err
				return
			}
		}
	}()
	if err := pub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, kafka.ErrClosed) {
		t.Fatalf("publish after close: %v", err)
	}
}

// TestMissingTopicIsNotAutoCreated runs against a broker that would
// auto-create topics (like many Kafka clusters): we never let it.
func TestMissingTopicIsNotAutoCreated(t *testing.T) {
	c := startBroker(t, broker.Config{AutoCreateTopics: true})
	pub := kafkatest.NewPublisher(t, testConfig(c))
	if err := pub.Publish("dc2dc.missing.data", kafkatest.Msg("db/c/0", 0, []byte("x"))); !errors.Is(err, kafka.ErrUnknownTopic) {
		t.Fatalf("publish: %v, want ErrUnknownTopic", err)
	}
	sub := kafkatest.NewSubscriber(t, testConfig(c), "g")
	_, err := sub.Subscribe(context.Background(), "dc2dc.missing.data")
	if !errors.Is(err, kafka.ErrUnknownTopic) || !errors.Is(err, kafka.ErrPermanent) || !strings.Contains(err.Error(), "EnsureTopics") {
		t.Fatalf("got %v, want a permanent ErrUnknownTopic", err)
	}
}
