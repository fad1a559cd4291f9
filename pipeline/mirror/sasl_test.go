package mirror

import (
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
)

// TestSASLBothSides runs a route from a SCRAM-SHA-512 cluster to a PLAIN
// one, which exercises the mirror's own SCRAM client.
func TestSASLBothSides(t *testing.T) {
	newSASL := func(method string, topics ...string) *kfake.Cluster {
		opts := []kfake.Opt{kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser(method, "mirror", "s3cret"),
			kfake.GroupMinSessionTimeout(100 * time.Millisecond)}
		if len(topics) > 0 {
			opts = append(opts, kfake.SeedTopics(2, topics...))
		}
		c, err := kfake.NewCluster(opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	a := newSASL("SCRAM-SHA-512", dataTopic)
	b := newSASL("PLAIN")
	cfg := testConfig(a, b, Route{From: "A", To: "B", Topics: []string{dataTopic}})
	cfg.Clusters["A"] = ClusterConfig{Brokers: a.ListenAddrs(), SASL: SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "mirror", Password: "s3cret"}}
	cfg.Clusters["B"] = ClusterConfig{Brokers: b.ListenAddrs(), SASL: SASLConfig{Mechanism: "PLAIN", Username: "mirror", Password: "s3cret"}}

	// Produce into A through the same SASL settings.
	cl := cfg.Clusters["A"]
	cl.ClientID, cl.KafkaVersion = "test", "2.8.0"
	sc, err := clientConfig(cl)
	if err != nil {
		t.Fatal(err)
	}
	sc.Producer.Return.Successes = true
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer(a.ListenAddrs(), sc)
	if err != nil {
		t.Fatalf("SCRAM-SHA-512 login: %v", err)
	}
	for i := range 10 {
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: dataTopic, Partition: int32(i % 2), Value: sarama.StringEncoder("v")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	m := startMirror(t, cfg)
	select {
	case <-m.m.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("mirror did not connect with SASL")
	}
	// Check B through its own SASL login.
	bl := cfg.Clusters["B"]
	bl.ClientID, bl.KafkaVersion = "test", "2.8.0"
	bc, err := clientConfig(bl)
	if err != nil {
		t.Fatal(err)
	}
	waitCount(t, b.ListenAddrs(), bc, dataTopic, 2, 10)
}
