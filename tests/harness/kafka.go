package harness

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Kafka is a `dc2dc kafka` process (an embedded kfake broker) on a fixed
// port and data directory, so that a restart after Kill9 comes back at the
// same address with its topics, records and committed offsets.
type Kafka struct {
	*Proc
	// Addr is the broker's host:port.
	Addr string
}

// StartKafka starts `dc2dc kafka` with one broker on a free port and a data
// directory in the test's temp directory, and waits until it is ready.
// Create topics explicitly: kfake does not keep auto-created topics across
// a kill -9.
func StartKafka(t testing.TB, name string) *Kafka {
	t.Helper()
	k := StartKafkaNoWait(t, name)
	k.waitReady(t)
	return k
}

// StartKafkaNoWait starts `dc2dc kafka` like StartKafka with extra flags
// (e.g. "--group-min-session-timeout", "1s") and returns at once; call
// WaitReady before using it.
func StartKafkaNoWait(t testing.TB, name string, extra ...string) *Kafka {
	t.Helper()
	port := FreePort(t)
	args := append([]string{"kafka", "--port", strconv.Itoa(port), "--data-dir", filepath.Join(t.TempDir(), name)}, extra...)
	p := Start(t, Spec{Name: name, Path: Binary(t, "dc2dc"), Args: args})
	return &Kafka{Proc: p, Addr: "127.0.0.1:" + strconv.Itoa(port)}
}

// WaitReady waits for the broker's ready line and checks its address.
func (k *Kafka) WaitReady(t testing.TB) {
	t.Helper()
	k.waitReady(t)
}

func (k *Kafka) waitReady(t testing.TB) {
	t.Helper()
	r := k.MustReady(30 * time.Second)
	brokers, _ := r["brokers"].([]any)
	if len(brokers) != 1 || brokers[0] != k.Addr {
		t.Fatalf("harness: %s announces brokers %v, want [%s]", k.spec.Name, r["brokers"], k.Addr)
	}
}

// Kill9AndRestart kills the broker with SIGKILL and starts it again on the
// same port and data directory.
func (k *Kafka) Kill9AndRestart(t testing.TB) {
	t.Helper()
	k.Kill9()
	k.Restart()
	k.waitReady(t)
}
