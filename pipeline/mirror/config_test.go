package mirror

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func TestValidateReportsEveryProblem(t *testing.T) {
	c := Config{
		Clusters: map[string]ClusterConfig{
			"A":   {Brokers: []string{"a1"}, KafkaVersion: "0.10.2.0", SASL: SASLConfig{Mechanism: "GSSAPI"}},
			"x/y": {Brokers: []string{"b:1"}, TLS: TLSConfig{CertFile: "c.pem"}},
		},
		Routes: []Route{
			{From: "A", To: "C", Topics: []string{"dc2dc.s.poison", "bad topic"}, TopicRegex: "("},
			{From: "A", To: "A"},
		},
		Compression:     "brotli",
		MaxMessageBytes: 10,
	}
	c.EnsureDefaults()
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate accepted a broken config")
	}
	msg := err.Error()
	for _, want := range []string{
		`broker "a1" has no port`,
		`kafka_version 0.10.2.0 is too old`,
		`SASL mechanism "GSSAPI" is not supported`,
		`cluster name "x/y" is invalid`,
		`names TLS files but TLS is not enabled`,
		`tls.cert_file and tls.key_file go together`,
		`target cluster "C" is not configured`,
		`topic_regex "(" does not compile`,
		`"dc2dc.s.poison" is never mirrored`,
		`"bad topic" is not a valid Kafka topic name`,
		`source and target are both "A"`,
		`selects no topics`,
		`compression "brotli" is unknown`,
		`max_message_bytes 10 is too small`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("Validate error lacks %q:\n%s", want, msg)
		}
	}
}

func TestValidateRejectsTwoSourcesForOneTopic(t *testing.T) {
	c := Config{
		Clusters: map[string]ClusterConfig{"A": {Brokers: []string{"a:1"}}, "B": {Brokers: []string{"b:1"}}, "C": {Brokers: []string{"c:1"}}},
		Routes: []Route{
			{From: "A", To: "B", Topics: []string{"t"}},
			{From: "C", To: "B", Topics: []string{"t"}},
		},
	}
	c.EnsureDefaults()
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `is the target of routes "A-to-B" and "C-to-B"`) {
		t.Fatalf("Validate = %v, want the double source named", err)
	}
}

func TestSyncRoutesValidate(t *testing.T) {
	c := Config{
		Clusters: map[string]ClusterConfig{"A": {Brokers: []string{"a:1"}}, "B": {Brokers: []string{"b:1"}}},
		Routes:   SyncRoutes("s1", "A", "B"),
	}
	c.EnsureDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Routes[0].GroupID != "dc2dc.s1.mirror.A-to-B" || c.Routes[1].Topics[0] != "dc2dc.s1.ctl.down" || c.Routes[1].From != "B" {
		t.Fatalf("unexpected routes %+v", c.Routes)
	}
	if c.Clusters["A"].KafkaVersion != "2.8.0" || c.SessionTimeout.D() != 10*time.Second {
		t.Fatalf("defaults not filled: %+v", c)
	}
}

func TestConfigJSONDurations(t *testing.T) {
	var c Config
	if err := json.Unmarshal([]byte(`{"topic_refresh":"1m30s","routes":[{"from":"A","to":"B","topic_regex":"x"}]}`), &c); err != nil {
		t.Fatal(err)
	}
	if c.TopicRefresh.D() != 90*time.Second || c.Routes[0].TopicRegex != "x" {
		t.Fatalf("decoded %+v", c)
	}
	if err := json.Unmarshal([]byte(`{"topic_refresh":"soon"}`), &c); err == nil || !strings.Contains(err.Error(), `write it like "10s"`) {
		t.Fatalf("bad duration error = %v", err)
	}
	b, err := json.Marshal(DefaultConfig())
	if err != nil || !strings.Contains(string(b), `"session_timeout":"10s"`) {
		t.Fatalf("marshal = %s, %v", b, err)
	}
}

func TestRouteSelectsNeverPoisonOrInternal(t *testing.T) {
	c := Config{
		Clusters: map[string]ClusterConfig{"A": {Brokers: []string{"a:1"}}, "B": {Brokers: []string{"b:1"}}},
		Routes:   []Route{{From: "A", To: "B", TopicRegex: ".*", Topics: []string{"x"}}},
	}
	m, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	r := m.routes[0]
	for topic, want := range map[string]bool{
		"dc2dc.s1.data": true, "x": true, "anything": true,
		"dc2dc.s1.poison": false, "__consumer_offsets": false, "__transaction_state": false,
	} {
		if got := r.selects(topic); got != want {
			t.Errorf("selects(%q) = %v, want %v", topic, got, want)
		}
	}
	// The regex must match the whole name.
	c.Routes[0] = Route{From: "A", To: "B", TopicRegex: `dc2dc\..*\.data`}
	m, err = New(c)
	if err != nil {
		t.Fatal(err)
	}
	if m.routes[0].selects("dc2dc.s1.data.old") || !m.routes[0].selects("dc2dc.s1.data") {
		t.Error("topic_regex is not anchored at both ends")
	}
}

// TestExampleConfigFile keeps testdata/mirror.example.json (the shape of
// `dc2dc mirror --config`) loadable and valid.
func TestExampleConfigFile(t *testing.T) {
	b, err := os.ReadFile("testdata/mirror.example.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	c.EnsureDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Routes[1].GroupID != "dc2dc-mirror.west-to-east" || c.Clusters["dc-east"].KafkaVersion != "2.8.0" || c.ReplicationFactor != 3 {
		t.Fatalf("decoded %+v", c)
	}
}

func FuzzDurationText(f *testing.F) {
	for _, s := range []string{"10s", "1m30s", "-5ms", "0", "1h2m3.5s", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var d Duration
		if err := d.UnmarshalText([]byte(s)); err != nil {
			return
		}
		b, err := d.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var e Duration
		if err := e.UnmarshalText(b); err != nil || e != d {
			t.Fatalf("%q -> %v -> %q -> %v (%v)", s, d, b, e, err)
		}
	})
}

func TestRebalanceNoise(t *testing.T) {
	wrapped := &sarama.ConsumerError{Topic: "t", Partition: 1, Err: sarama.ErrUnknownMemberId}
	if !isRebalanceNoise(wrapped) || !isRebalanceNoise(sarama.ErrIllegalGeneration) {
		t.Fatal("session-ended errors not recognized")
	}
	if isRebalanceNoise(sarama.ErrOutOfBrokers) || isRebalanceNoise(&sarama.ConsumerError{Err: sarama.ErrNotLeaderForPartition}) {
		t.Fatal("a real error taken for rebalance noise")
	}
}
