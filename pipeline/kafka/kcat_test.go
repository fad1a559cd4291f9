package kafka_test

import (
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/dc2dc/dc2dc/pipeline/broker"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
	"github.com/dc2dc/dc2dc/pipeline/kafka/kafkatest"
)

// TestKcatReadsWhatWeWrite checks our records with an independent Kafka
// client (kcat, librdkafka): keys are the shard, metadata are headers, the
// payload is the value.
func TestKcatReadsWhatWeWrite(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat is not installed: install the Debian package kcat (apt-get install -y kcat) to run this test")
	}
	c := startBroker(t, broker.Config{})
	cfg := testConfig(c)
	topic := kafkatest.NewTopic(t, cfg, 3)
	pub := kafkatest.NewPublisher(t, cfg)
	var want []string
	var msgs []*message.Message
	for i := 0; i < 12; i++ {
		shard := fmt.Sprintf("db%d/c%d/%d", i%2, i%3, i)
		m := message.NewMessage(fmt.Sprintf("uuid-%d", i), []byte(fmt.Sprintf("payload-%d", i)))
		m.Metadata.Set(kafka.MetaShard, shard)
		m.Metadata.Set("dc2dc-kind", "doc")
		msgs = append(msgs, m)
		hs := []string{"dc2dc-kind=doc", "dc2dc-shard=" + shard, fmt.Sprintf("_watermill_message_uuid=uuid-%d", i)}
		sort.Strings(hs)
		want = append(want, fmt.Sprintf("%s|%s|%s", shard, strings.Join(hs, ","), m.Payload))
	}
	if err := pub.Publish(topic, msgs...); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, kcat, "-C", "-b", strings.Join(c.Addrs(), ","), "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k|%h|%s\n").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, rest, _ := strings.Cut(line, "|")
		h, v, _ := strings.Cut(rest, "|")
		hs := strings.Split(h, ",") // header order is not part of the contract
		sort.Strings(hs)
		got = append(got, k+"|"+strings.Join(hs, ",")+"|"+v)
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("kcat read:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
