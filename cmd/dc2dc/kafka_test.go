package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	metrics "github.com/rcrowley/go-metrics"
	"github.com/spf13/pflag"

	"github.com/dc2dc/dc2dc/pipeline/broker"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
	"github.com/dc2dc/dc2dc/pipeline/kafka/kafkatest"
)

// sarama's go-metrics meters start a process-wide goroutine that never ends,
// which this package's goleak check (main_test.go) would report; the Kafka
// clients of these tests do without metrics.
func init() { metrics.UseNilMetrics = true }

// kafkaTestBinary returns DC2DC_BIN or builds the binary into a temp dir.
func kafkaTestBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("DC2DC_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "dc2dc")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startKafkaProcess runs `dc2dc kafka` and returns the process and its ready
// line.
func startKafkaProcess(t *testing.T, bin string, args ...string) (*exec.Cmd, kafkaReady) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"kafka"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, r)
	}()
	var ready kafkaReady
	select {
	case line := <-lines:
		if err := json.Unmarshal([]byte(line), &ready); err != nil || len(ready.Brokers) == 0 {
			t.Fatalf("ready line %q: %v", line, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no ready line within 30s")
	}
	return cmd, ready
}

// TestKafkaCommandSurvivesKill9 publishes to the process, consumes part of
// it with a group, kills the process with SIGKILL, restarts it on the same
// data dir and ports, and consumes the rest: nothing lost, the group's
// committed offsets kept.
func TestKafkaCommandSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the dc2dc binary")
	}
	bin := kafkaTestBinary(t)
	dir := t.TempDir()
	cmd, ready := startKafkaProcess(t, bin, "--port", "0", "--data-dir", dir)
	if ready.DataDir != dir || ready.PID != cmd.Process.Pid {
		t.Fatalf("ready line %+v", ready)
	}
	cfg := kafka.Config{Brokers: ready.Brokers, Consumer: kafka.ConsumerConfig{
		SessionTimeout: 6 * time.Second, HeartbeatInterval: 500 * time.Millisecond, AutoCommitInterval: 100 * time.Millisecond,
	}}
	topics, err := kafka.TopicsFor("", "kill9")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, cfg, []kafka.TopicSpec{{Name: topics.Data, Partitions: 4}}); err != nil {
		t.Fatal(err)
	}
	pub, err := kafka.NewPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const total = 300
	var msgs []*message.Message
	for i := 0; i < total; i++ {
		msgs = append(msgs, kafkatest.Msg(fmt.Sprintf("db/c%d/0", i%9), i, []byte("payload")))
	}
	if err := pub.Publish(topics.Data, msgs...); err != nil {
		t.Fatal(err)
	}
	if err := pub.Close(); err != nil {
		t.Fatal(err)
	}

	group := "g-kill9"
	ledger := kafkatest.NewAckLedger()
	consume := func(n int) {
		cfg := cfg
		cfg.Consumer.Group = group
		sub, err := kafka.NewSubscriber(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = sub.Close() }()
		ch, err := sub.Subscribe(ctx, topics.Data)
		if err != nil {
			t.Fatal(err)
		}
		for got := 0; got < n; {
			select {
			case m := <-ch:
				m.Ack()
				ledger.Redelivered(t, m)
				ledger.Add(m)
				got++
			case <-ctx.Done():
				t.Fatalf("consumed %d of %d", got, n)
			}
		}
	}
	consume(100)

	// kill -9, then restart on the same ports and data dir.
	port := ready.Brokers[0][len("127.0.0.1:"):]
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if _, err := strconv.Atoi(port); err != nil {
		t.Fatalf("broker address %s", ready.Brokers[0])
	}
	waitPortFree(t, "127.0.0.1:"+port)
	_, ready2 := startKafkaProcess(t, bin, "--port", port, "--data-dir", dir)
	if ready2.Brokers[0] != ready.Brokers[0] {
		t.Fatalf("restarted on %v, want %v", ready2.Brokers, ready.Brokers)
	}
	consume(total - 100)
	if ledger.Len() != total {
		t.Fatalf("consumed %d distinct messages, want %d", ledger.Len(), total)
	}
}

// TestKafkaCommandStopsOnSIGTERM checks the clean shutdown path.
func TestKafkaCommandStopsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the dc2dc binary")
	}
	cmd, _ := startKafkaProcess(t, kafkaTestBinary(t), "--port", "0")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("still running 30s after SIGTERM")
	}
}

func waitPortFree(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			_ = ln.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %s still busy: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestKafkaClientFlags(t *testing.T) {
	t.Setenv("DC2DC_KAFKA_SASL_PASSWORD", "from-env")
	var cfg kafka.Config
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	kafkaClientFlags(fs, "kafka", &cfg)
	err := fs.Parse([]string{"--kafka.brokers", "a:1,b:2", "--kafka.tls", "--kafka.tls.server-name", "k",
		"--kafka.sasl.mechanism", "SCRAM-SHA-512", "--kafka.sasl.user", "u", "--kafka.compression", "zstd"})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(cfg.Brokers) != "[a:1 b:2]" || !cfg.TLS.Enable || cfg.TLS.ServerName != "k" ||
		cfg.SASL.Mechanism != "SCRAM-SHA-512" || cfg.SASL.User != "u" || cfg.SASL.Password != "from-env" || cfg.Compression != "zstd" {
		t.Fatalf("parsed %+v", cfg)
	}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	// Every flag the transport's messages name exists.
	for _, name := range []string{"kafka.brokers", "kafka.sasl.user", "kafka.sasl.password", "kafka.sasl.mechanism", "kafka.tls",
		"kafka.tls.ca-file", "kafka.tls.server-name", "kafka.max-message-bytes", "kafka.max-reassembled-bytes", "kafka.version"} {
		if fs.Lookup(name) == nil {
			t.Errorf("flag --%s is missing", name)
		}
	}
}

func TestParseKafkaUser(t *testing.T) {
	u, err := parseKafkaUser("scram-sha-256:alice:pa:ss")
	if err != nil || u.Mechanism != "SCRAM-SHA-256" || u.Name != "alice" || u.Password != "pa:ss" {
		t.Fatalf("got %+v, %v", u, err)
	}
	for _, bad := range []string{"", "PLAIN", "PLAIN:bob", "PLAIN::hunter2", "GSSAPI:bob:hunter2", "PLAIN:bob:"} {
		_, err := parseKafkaUser(bad)
		if err == nil {
			t.Errorf("%q accepted", bad)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: the message shows the password: %v", bad, err)
		}
	}
}

func FuzzParseKafkaUser(f *testing.F) {
	f.Add("PLAIN:alice:secret")
	f.Add("SCRAM-SHA-512:x:y:z")
	f.Add(":::")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := parseKafkaUser(s)
		if err != nil {
			return
		}
		n := len(u.Mechanism)
		if u.Name == "" || u.Password == "" || strings.Contains(u.Name, ":") || len(s) < n ||
			strings.ToUpper(s[:n]) != u.Mechanism || s[n:] != ":"+u.Name+":"+u.Password {
			t.Fatalf("%q parsed as %+v", s, u)
		}
		if err := (broker.Config{Users: []broker.User{u}}).Validate(); err != nil {
			t.Fatalf("%q parsed as an invalid user: %v", s, err)
		}
	})
}

// TestKafkaCommandWithSCRAM runs the binary with a SCRAM user and talks to
// it with and without the credentials.
func TestKafkaCommandWithSCRAM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the dc2dc binary")
	}
	_, ready := startKafkaProcess(t, kafkaTestBinary(t), "--port", "0", "--user", "SCRAM-SHA-512:alice:s3cret")
	cfg := kafka.Config{Brokers: ready.Brokers, SASL: kafka.SASLConfig{Mechanism: kafka.SASLSCRAMSHA512, User: "alice", Password: "s3cret"}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, cfg, []kafka.TopicSpec{{Name: "dc2dc.sasl.data", Partitions: 1}}); err != nil {
		t.Fatal(err)
	}
	cfg.SASL.Password = "wrong"
	if err := kafka.EnsureTopics(ctx, cfg, []kafka.TopicSpec{{Name: "dc2dc.sasl.data", Partitions: 1}}); !errors.Is(err, kafka.ErrAuth) {
		t.Fatalf("wrong password: %v", err)
	}
}
