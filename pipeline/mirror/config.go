package mirror

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// Config configures a Mirror. Start from DefaultConfig (or call
// EnsureDefaults), then Validate; New does both.
type Config struct {
	// Clusters names the Kafka clusters the routes refer to. The name is
	// part of every forwarded record's SourceHeader, so renaming a cluster
	// makes the mirror forget where it stopped (it then falls back to the
	// committed source offsets).
	Clusters map[string]ClusterConfig `json:"clusters"`
	// Routes lists the directions to mirror.
	Routes []Route `json:"routes"`

	// GroupIDPrefix prefixes the consumer group of a route that does not
	// name its own: "<prefix>.<from>-to-<to>".
	GroupIDPrefix string `json:"group_id_prefix"`
	// TopicRefresh is how often each route lists the source topics to
	// follow new topics and new partitions.
	TopicRefresh Duration `json:"topic_refresh"`
	// SessionTimeout and HeartbeatInterval of the source consumer groups.
	// After a kill -9 the partitions of the dead mirror stay unassigned for
	// up to SessionTimeout.
	SessionTimeout    Duration `json:"session_timeout"`
	HeartbeatInterval Duration `json:"heartbeat_interval"`
	// InstanceID, when set, makes the mirror a static member of its source
	// consumer groups (group.instance.id, Kafka 2.3+): a restarted mirror
	// with the same InstanceID takes its partitions back at once instead of
	// waiting SessionTimeout for the dead member to expire. Give each mirror
	// process its own stable InstanceID.
	InstanceID string `json:"instance_id"`
	// ResumeScanMax bounds how many records at the end of a target
	// partition are read to find the last forwarded record.
	ResumeScanMax int64 `json:"resume_scan_max"`
	// ResumeTimeout bounds reading the end of one target partition.
	ResumeTimeout Duration `json:"resume_timeout"`
	// ShutdownTimeout bounds how long Run waits for records in flight to be
	// acknowledged by the target once its context is canceled.
	ShutdownTimeout Duration `json:"shutdown_timeout"`
	// RetryBackoffMax caps the exponential backoff of produce retries and of
	// restarting a route after an error.
	RetryBackoffMax Duration `json:"retry_backoff_max"`
	// MaxMessageBytes is the largest record batch the producer sends, so it
	// must not exceed the target topics' max.message.bytes (topics the
	// mirror creates allow max(source limit + 4 KiB, MaxMessageBytes)). A
	// source record larger than it minus the mirror's header (about 60
	// bytes) cannot be forwarded. Default: Kafka's default, 1048588.
	MaxMessageBytes int `json:"max_message_bytes"`
	// Compression of produced batches: none, gzip, snappy, lz4 or zstd.
	Compression string `json:"compression"`
	// ReplicationFactor of target topics the mirror creates; -1 uses the
	// target broker's default.
	ReplicationFactor int16 `json:"replication_factor"`
}

// ClusterConfig says how to reach one Kafka cluster.
type ClusterConfig struct {
	Brokers []string `json:"brokers"`
	// ClientID is sent to the brokers; default "dc2dc-mirror".
	ClientID string `json:"client_id"`
	// KafkaVersion is the protocol version to speak; at least 0.11
	// (idempotent producer, headers). Default 2.8.0.
	KafkaVersion string     `json:"kafka_version"`
	TLS          TLSConfig  `json:"tls"`
	SASL         SASLConfig `json:"sasl"`
}

// TLSConfig enables TLS towards a cluster.
type TLSConfig struct {
	Enabled bool `json:"enabled"`
	// CAFile is a PEM bundle of the CAs to trust; empty uses the system pool.
	CAFile string `json:"ca_file"`
	// CertFile and KeyFile are the client certificate for mutual TLS.
	CertFile           string `json:"cert_file"`
	KeyFile            string `json:"key_file"`
	ServerName         string `json:"server_name"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify"`
}

// SASLConfig enables SASL authentication towards a cluster.
type SASLConfig struct {
	// Mechanism is "", PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string `json:"mechanism"`
	Username  string `json:"username"`
	Password  string `json:"password"`
}

// Route mirrors the selected topics of cluster From to cluster To under the
// same names, partition for partition.
type Route struct {
	// Name labels the route in logs and metrics; default "<from>-to-<to>".
	Name string `json:"name"`
	From string `json:"from"`
	To   string `json:"to"`
	// Topics are exact source topic names; TopicRegex selects more topics
	// (anchored: it must match the whole name). Topics ending in ".poison"
	// and internal topics ("__...") are never mirrored.
	Topics     []string `json:"topics"`
	TopicRegex string   `json:"topic_regex"`
	// GroupID is the consumer group on the source cluster.
	GroupID string `json:"group_id"`
}

// Duration is a time.Duration that reads and writes as "10s" in JSON.
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalText writes the duration as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads a duration such as "1m30s".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration: write it like \"10s\" or \"1m30s\"", b)
	}
	*d = Duration(v)
	return nil
}

// DefaultConfig returns a Config with every default set and no clusters or
// routes.
func DefaultConfig() Config {
	var c Config
	c.EnsureDefaults()
	return c
}

// EnsureDefaults fills every unset field with its default.
func (c *Config) EnsureDefaults() {
	if c.GroupIDPrefix == "" {
		c.GroupIDPrefix = "dc2dc-mirror"
	}
	setDur := func(d *Duration, def time.Duration) {
		if *d == 0 {
			*d = Duration(def)
		}
	}
	setDur(&c.TopicRefresh, 10*time.Second)
	setDur(&c.SessionTimeout, 10*time.Second)
	setDur(&c.HeartbeatInterval, 3*time.Second)
	setDur(&c.ResumeTimeout, 30*time.Second)
	setDur(&c.ShutdownTimeout, 15*time.Second)
	setDur(&c.RetryBackoffMax, 5*time.Second)
	if c.ResumeScanMax == 0 {
		c.ResumeScanMax = 10000
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = 1048588
	}
	if c.Compression == "" {
		c.Compression = "none"
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
	}
	for name, cl := range c.Clusters {
		if cl.ClientID == "" {
			cl.ClientID = "dc2dc-mirror"
		}
		if cl.KafkaVersion == "" {
			cl.KafkaVersion = "2.8.0"
		}
		c.Clusters[name] = cl
	}
	for i := range c.Routes {
		r := &c.Routes[i]
		if r.Name == "" {
			r.Name = r.From + "-to-" + r.To
		}
		if r.GroupID == "" {
			r.GroupID = c.GroupIDPrefix + "." + r.Name
		}
	}
}

var compressions = map[string]sarama.CompressionCodec{
	"none": sarama.CompressionNone, "gzip": sarama.CompressionGZIP, "snappy": sarama.CompressionSnappy,
	"lz4": sarama.CompressionLZ4, "zstd": sarama.CompressionZSTD,
}

// Validate reports every problem of the configuration at once. Call it after
// EnsureDefaults.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Clusters) == 0 {
		add("mirror: no clusters configured: name at least a source and a target cluster with their brokers")
	}
	names := make([]string, 0, len(c.Clusters))
	for name := range c.Clusters {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		cl := c.Clusters[name]
		if name == "" || strings.ContainsAny(name, "/ \t\n") {
			add("mirror: cluster name %q is invalid: use a non-empty name without '/' or spaces, such as A or dc-east", name)
		}
		if len(cl.Brokers) == 0 {
			add("mirror: cluster %q has no brokers: list at least one host:port", name)
		}
		for _, b := range cl.Brokers {
			if !strings.Contains(b, ":") {
				add("mirror: cluster %q broker %q has no port: write it as host:port", name, b)
			}
		}
		v, err := sarama.ParseKafkaVersion(cl.KafkaVersion)
		if err != nil {
			add("mirror: cluster %q kafka_version %q is not a Kafka version: use a version such as 2.8.0", name, cl.KafkaVersion)
		} else if !v.IsAtLeast(sarama.V0_11_0_0) {
			add("mirror: cluster %q kafka_version %s is too old: the mirror needs record headers and the idempotent producer of 0.11.0 or later", name, cl.KafkaVersion)
		}
		if err == nil && c.InstanceID != "" && !v.IsAtLeast(sarama.V2_3_0_0) {
			add("mirror: instance_id needs Kafka 2.3 or later but cluster %q speaks %s: raise kafka_version or drop instance_id", name, cl.KafkaVersion)
		}
		switch strings.ToUpper(cl.SASL.Mechanism) {
		case "":
		case sarama.SASLTypePlaintext, sarama.SASLTypeSCRAMSHA256, sarama.SASLTypeSCRAMSHA512:
			if cl.SASL.Username == "" {
				add("mirror: cluster %q uses SASL %s without a username: set sasl.username and sasl.password", name, cl.SASL.Mechanism)
			}
		default:
			add("mirror: cluster %q SASL mechanism %q is not supported: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", name, cl.SASL.Mechanism)
		}
		if !cl.TLS.Enabled && (cl.TLS.CAFile != "" || cl.TLS.CertFile != "" || cl.TLS.KeyFile != "") {
			add("mirror: cluster %q names TLS files but TLS is not enabled: set tls.enabled", name)
		}
		if (cl.TLS.CertFile == "") != (cl.TLS.KeyFile == "") {
			add("mirror: cluster %q: tls.cert_file and tls.key_file go together: set both or neither", name)
		}
	}
	if len(c.Routes) == 0 {
		add("mirror: no routes configured: add at least one route with from, to and topics or topic_regex")
	}
	// A target topic must be written by one route only, or the last
	// record of a target partition would not tell where either stopped.
	owner := map[string]string{}
	routeNames := map[string]bool{}
	for i, r := range c.Routes {
		label := fmt.Sprintf("route %d (%s)", i, r.Name)
		if routeNames[r.Name] {
			add("mirror: %s: two routes are named %q: give each route its own name", label, r.Name)
		}
		routeNames[r.Name] = true
		if _, ok := c.Clusters[r.From]; !ok {
			add("mirror: %s: source cluster %q is not configured: add it to clusters or fix the name", label, r.From)
		}
		if _, ok := c.Clusters[r.To]; !ok {
			add("mirror: %s: target cluster %q is not configured: add it to clusters or fix the name", label, r.To)
		}
		if r.From == r.To && r.From != "" {
			add("mirror: %s: source and target are both %q: a route must cross clusters", label, r.From)
		}
		if len(r.Topics) == 0 && r.TopicRegex == "" {
			add("mirror: %s selects no topics: set topics or topic_regex", label)
		}
		if r.TopicRegex != "" {
			if _, err := regexp.Compile(r.TopicRegex); err != nil {
				add("mirror: %s: topic_regex %q does not compile: %v", label, r.TopicRegex, err)
			}
		}
		for _, t := range r.Topics {
			if !validTopic(t) {
				add("mirror: %s: topic %q is not a valid Kafka topic name: use letters, digits, '.', '_' and '-' (at most 249)", label, t)
			}
			if excludedTopic(t) {
				add("mirror: %s: topic %q is never mirrored (poison and internal topics stay in their cluster): remove it", label, t)
			}
			key := r.To + "/" + t
			if prev, ok := owner[key]; ok && prev != r.Name {
				add("mirror: topic %q on cluster %q is the target of routes %q and %q: give each target topic one source", t, r.To, prev, r.Name)
			}
			owner[key] = r.Name
		}
	}
	if c.TopicRefresh.D() < 100*time.Millisecond {
		add("mirror: topic_refresh %s is too short: use 100ms or more (default 10s)", c.TopicRefresh.D())
	}
	if c.HeartbeatInterval.D() <= 0 || c.SessionTimeout.D() < 3*c.HeartbeatInterval.D() {
		add("mirror: session_timeout %s must be at least 3 x heartbeat_interval %s: raise the timeout or lower the interval",
			c.SessionTimeout.D(), c.HeartbeatInterval.D())
	}
	if c.ResumeScanMax < 1 {
		add("mirror: resume_scan_max %d must be at least 1 (default 10000)", c.ResumeScanMax)
	}
	for name, d := range map[string]Duration{"resume_timeout": c.ResumeTimeout, "shutdown_timeout": c.ShutdownTimeout, "retry_backoff_max": c.RetryBackoffMax} {
		if d <= 0 {
			add("mirror: %s must be positive, got %s", name, d.D())
		}
	}
	if c.MaxMessageBytes < 1024 {
		add("mirror: max_message_bytes %d is too small: use at least the source's max.message.bytes (Kafka's default is 1048588)", c.MaxMessageBytes)
	}
	if _, ok := compressions[c.Compression]; !ok {
		add("mirror: compression %q is unknown: use none, gzip, snappy, lz4 or zstd", c.Compression)
	}
	if c.ReplicationFactor == 0 || c.ReplicationFactor < -1 {
		add("mirror: replication_factor %d is invalid: use -1 (broker default) or a positive count", c.ReplicationFactor)
	}
	return errors.Join(errs...)
}

var topicChars = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

func validTopic(t string) bool { return topicChars.MatchString(t) && t != "." && t != ".." }

// excludedTopic reports topics the mirror never forwards: poison topics stay
// in the datacenter that parked the records, and internal topics belong to
// their cluster.
func excludedTopic(t string) bool {
	return strings.HasSuffix(t, ".poison") || strings.HasPrefix(t, "__")
}

// Topic names of one dc2dc sync, as ARCHITECTURE.md defines them.
func DataTopic(syncID string) string    { return "dc2dc." + syncID + ".data" }
func CtlUpTopic(syncID string) string   { return "dc2dc." + syncID + ".ctl.up" }
func CtlDownTopic(syncID string) string { return "dc2dc." + syncID + ".ctl.down" }

// SyncRoutes returns the two routes of a dc2dc sync between the source
// datacenter's cluster from and the target datacenter's cluster to: data and
// upward control from -> to, downward control to -> from.
func SyncRoutes(syncID, from, to string) []Route {
	return []Route{
		{Name: from + "-to-" + to, From: from, To: to, Topics: []string{DataTopic(syncID), CtlUpTopic(syncID)},
			GroupID: "dc2dc." + syncID + ".mirror." + from + "-to-" + to},
		{Name: to + "-to-" + from, From: to, To: from, Topics: []string{CtlDownTopic(syncID)},
			GroupID: "dc2dc." + syncID + ".mirror." + to + "-to-" + from},
	}
}
