package sync_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/dc2dc/dc2dc/tests/harness"
)

// TestSyncForeignMessagesAndDroppedDatabase: what users can do to a running
// sync besides writing. Foreign messages (not JSON, someone else's JSON,
// binary) produced into the sync's data topic in Kafka A and in Kafka B and
// into both control topics: every data message ends up in a poison topic
// with its payload, the leaders log the control ones as ignored, no worker
// or master restarts, and replication goes on. Then a database is dropped in A mid-sync while
// the workload writes another: B drops it too (dc2dc created it), the
// status no longer lists its shards and shows no failed shard, and the rest
// stays identical.
func TestSyncForeignMessagesAndDroppedDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("two datacenters of processes")
	}
	e := newEnv(t, harness.TopologyConfig{}, small())
	A, B := e.top.A, e.top.B
	e.loadFor(time.Second)
	bulkLoad(t, A, "gone", "c", 2, 300, 100, "g")
	e.configureSync()
	e.waitRunning(90*time.Second, e.expectedShards()+2, 10)

	pids := map[string]int{}
	for _, dc := range []*harness.DC{A, B} {
		for _, m := range append(append([]*harness.Member{}, dc.Masters...), dc.Workers...) {
			pids[m.ID] = m.Pid()
		}
	}

	// Foreign messages, each with a marker to find it in a poison topic.
	tp := e.top.Topics()
	var dataMarkers []string
	payloads := func(where string) [][]byte {
		var out [][]byte
		for i, f := range []string{"not json %s", `{"hello":"%s"}`, `{"v":1,"kind":"nonsense","note":"%s"}`, "\x00\xff\xfe%s\x01"} {
			m := fmt.Sprintf("foreign-%s-%d", where, i)
			out = append(out, fmt.Appendf(nil, f, m))
			if strings.HasPrefix(where, "data") {
				dataMarkers = append(dataMarkers, m)
			}
		}
		return out
	}
	e.startLoad()
	produce(t, A.Kafka.Addr, tp.Data, 0, payloads("dataA0"))
	produce(t, A.Kafka.Addr, tp.Data, 5, payloads("dataA5"))
	produce(t, B.Kafka.Addr, tp.Data, 3, payloads("dataB3"))
	produce(t, A.Kafka.Addr, tp.CtlUp, 0, payloads("ctlupA"))
	produce(t, B.Kafka.Addr, tp.CtlDown, 0, payloads("ctldownB"))

	// Every foreign data message reaches a poison topic (B's, where the
	// workers apply; A's if the mirror refused it), payload intact.
	harness.Eventually(t, 60*time.Second, 500*time.Millisecond, func() (bool, string) {
		seen := poisoned(t, []string{A.Kafka.Addr, B.Kafka.Addr}, tp.Poison)
		var missing []string
		for _, m := range dataMarkers {
			if !strings.Contains(seen, m) {
				missing = append(missing, m)
			}
		}
		return len(missing) == 0, fmt.Sprintf("not in a poison topic yet: %v", missing)
	})

	// Dropped mid-sync: database gone, while the workload writes shop.
	ca := arango(t, A).Driver()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	db, err := ca.Database(ctx, "gone")
	if err == nil {
		err = db.Remove(ctx)
	}
	cancel()
	if err != nil {
		t.Fatalf("drop database gone in A: %v", err)
	}
	cb := arango(t, B).Driver()
	harness.Eventually(t, 60*time.Second, 500*time.Millisecond, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ok, err := cb.DatabaseExists(ctx, "gone")
		if err != nil {
			return false, err.Error()
		}
		return !ok, "database gone still in B"
	})
	if err := e.stopLoad(); err != nil {
		t.Fatalf("workload: %v", err)
	}
	s := e.waitRunning(90*time.Second, e.expectedShards(), 10)
	for _, sh := range s.Shards {
		if strings.HasPrefix(sh.Shard, "gone/") || strings.HasPrefix(sh.Collection, "gone/") {
			t.Errorf("status still lists %s of the dropped database: %+v", sh.Shard, sh)
		}
		if sh.Phase == "failed" {
			t.Errorf("shard %s failed: %s", sh.Shard, sh.Error)
		}
	}
	e.converge(2*time.Minute, e.verifyOpts())
	e.waitCheckIdentical(time.Minute)

	// Nobody restarted.
	for _, dc := range []*harness.DC{A, B} {
		for _, m := range append(append([]*harness.Member{}, dc.Masters...), dc.Workers...) {
			if !m.Running() || m.Pid() != pids[m.ID] {
				t.Errorf("%s restarted or exited (pid %d, was %d)", m.ID, m.Pid(), pids[m.ID])
			}
		}
	}
	// The leaders saw the foreign control messages and ignored them (a
	// leadership change under load is not an error here: the lease is
	// renewed through the cluster).
	for _, dc := range []*harness.DC{A, B} {
		found := false
		for _, m := range dc.Masters {
			found = found || strings.Contains(m.LogTail(1<<20), "undecodable message on a control topic ignored")
		}
		if !found {
			t.Errorf("no master of %s logged the foreign control messages as ignored", dc.Name)
		}
	}
}

// produce writes payloads into topic/partition of the broker at addr, as a
// client that knows nothing of dc2dc.
func produce(t *testing.T, addr, topic string, partition int32, payloads [][]byte) {
	t.Helper()
	sc := sarama.NewConfig()
	sc.Producer.Return.Successes = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer([]string{addr}, sc)
	if err != nil {
		t.Fatalf("producer to %s: %v", addr, err)
	}
	defer func() { _ = p.Close() }()
	for _, v := range payloads {
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: partition, Value: sarama.ByteEncoder(v)}); err != nil {
			t.Fatalf("produce into %s/%d at %s: %v", topic, partition, addr, err)
		}
	}
}

// poisoned returns every payload of the poison topic (all partitions) of
// each broker, concatenated.
func poisoned(t *testing.T, addrs []string, topic string) string {
	t.Helper()
	var b strings.Builder
	for _, addr := range addrs {
		cl, err := sarama.NewClient([]string{addr}, sarama.NewConfig())
		if err != nil {
			t.Logf("client of %s: %v", addr, err)
			continue
		}
		parts, err := cl.Partitions(topic)
		if err != nil {
			t.Logf("partitions of %s at %s: %v", topic, addr, err)
		}
		c, err := sarama.NewConsumerFromClient(cl)
		if err == nil {
			for _, p := range parts {
				if end, err := cl.GetOffset(topic, p, sarama.OffsetNewest); err == nil && end > 0 {
					readPartition(c, topic, p, end, &b)
				}
			}
			_ = c.Close()
		}
		_ = cl.Close()
	}
	return b.String()
}

// readPartition appends the payloads of topic/p below offset end.
func readPartition(c sarama.Consumer, topic string, p int32, end int64, b *strings.Builder) {
	pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
	if err != nil {
		return
	}
	defer func() { _ = pc.Close() }()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case m := <-pc.Messages():
			b.Write(m.Value)
			b.WriteByte('\n')
			if m.Offset+1 >= end {
				return
			}
		case <-deadline.C:
			return
		}
	}
}
