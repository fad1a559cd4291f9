package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"
)

// DefaultTopicPrefix starts every dc2dc topic name.
const DefaultTopicPrefix = "dc2dc"

// maxTopicNameLen is Kafka's limit on topic names.
const maxTopicNameLen = 249

// Topics are the Kafka topics of one sync.
type Topics struct {
	// Data carries replication events A→B (mirrored).
	Data string
	// CtlUp carries control messages A→B (mirrored).
	CtlUp string
	// CtlDown carries control messages B→A (mirrored).
	CtlDown string
	// Poison holds messages a DC could not process (per DC, not mirrored).
	Poison string
}

// All returns the four topic names.
func (t Topics) All() []string { return []string{t.Data, t.CtlUp, t.CtlDown, t.Poison} }

// TopicsFor names the topics of sync syncID: <prefix>.<syncID>.data,
// .ctl.up, .ctl.down and .poison. An empty prefix means DefaultTopicPrefix.
func TopicsFor(prefix, syncID string) (Topics, error) {
	if prefix == "" {
		prefix = DefaultTopicPrefix
	}
	var errs []error
	if err := ValidateSyncID(syncID); err != nil {
		errs = append(errs, err)
	}
	if err := validateNamePart("topic prefix", prefix, true); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return Topics{}, errors.Join(errs...)
	}
	base := prefix + "." + syncID + "."
	t := Topics{Data: base + "data", CtlUp: base + "ctl.up", CtlDown: base + "ctl.down", Poison: base + "poison"}
	for _, name := range t.All() {
		if err := ValidateTopicName(name); err != nil {
			return Topics{}, err
		}
	}
	return t, nil
}

// ValidateSyncID checks that a sync id can be embedded in topic names: 1 to
// 200 letters, digits, '_' or '-' (no '.', which separates the name parts).
func ValidateSyncID(id string) error {
	return validateNamePart("sync id", id, false)
}

// ValidateTopicName applies Kafka's topic name rules: 1 to 249 characters
// from [a-zA-Z0-9._-], and not "." or "..".
func ValidateTopicName(name string) error {
	if name == "." || name == ".." {
		return newError(ErrInvalidTopicName, false, fmt.Sprintf("topic name %q is reserved by Kafka: choose another", name), nil)
	}
	return validateNamePart("topic name", name, true)
}

func validateNamePart(what, s string, allowDot bool) error {
	limit := maxTopicNameLen
	if !allowDot {
		limit = 200 // leaves room for the prefix and the longest suffix
	}
	if s == "" || len(s) > limit {
		return newError(ErrInvalidTopicName, false, fmt.Sprintf("%s %q must have 1 to %d characters", what, s, limit), nil)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || (allowDot && c == '.')
		if !ok {
			allowed := "letters, digits, '_' and '-'"
			if allowDot {
				allowed = "letters, digits, '.', '_' and '-'"
			}
			return newError(ErrInvalidTopicName, false, fmt.Sprintf("%s %q has %q at byte %d: use only %s", what, s, c, i, allowed), nil)
		}
	}
	return nil
}

// TopicSpec describes a topic EnsureTopics creates or verifies.
type TopicSpec struct {
	Name string
	// Partitions is required: the partition count fixes which shard lands
	// on which partition, so it is verified on existing topics.
	Partitions int32
	// ReplicationFactor; 0 means min(3, number of brokers).
	ReplicationFactor int16
	// Retention is retention.ms; 0 keeps the broker default, -1 keeps
	// records forever.
	Retention time.Duration
	// MaxMessageBytes is the topic's max.message.bytes; 0 keeps the default.
	MaxMessageBytes int
	// CleanupPolicy is "delete", "compact" or "compact,delete"; empty keeps
	// the default (delete).
	CleanupPolicy string
	// MinInsyncReplicas is min.insync.replicas: with acks=all, a write
	// succeeds only once this many replicas have it. 0 keeps the broker
	// default; 2 with a replication factor of 3 is the usual choice. It is
	// capped at the replication factor chosen by default (dev clusters).
	MinInsyncReplicas int
}

func (s TopicSpec) validate() []error {
	var errs []error
	if err := ValidateTopicName(s.Name); err != nil {
		errs = append(errs, err)
	}
	if s.Partitions < 1 {
		errs = append(errs, fmt.Errorf("kafka: topic %s: partitions %d must be at least 1", s.Name, s.Partitions))
	}
	if s.ReplicationFactor < 0 {
		errs = append(errs, fmt.Errorf("kafka: topic %s: replication factor %d is negative: use 0 for the default", s.Name, s.ReplicationFactor))
	}
	if s.Retention < -1 || (s.Retention > 0 && s.Retention < time.Millisecond) {
		errs = append(errs, fmt.Errorf("kafka: topic %s: retention %v: use 0 (default), -1ns (forever) or at least 1ms", s.Name, s.Retention))
	}
	if s.MinInsyncReplicas < 0 || (s.ReplicationFactor > 0 && s.MinInsyncReplicas > int(s.ReplicationFactor)) {
		errs = append(errs, fmt.Errorf("kafka: topic %s: min.insync.replicas %d must be between 0 (default) and the replication factor %d, or every write fails", s.Name, s.MinInsyncReplicas, s.ReplicationFactor))
	}
	if s.MaxMessageBytes < 0 {
		errs = append(errs, fmt.Errorf("kafka: topic %s: max message bytes %d is negative", s.Name, s.MaxMessageBytes))
	}
	switch s.CleanupPolicy {
	case "", "delete", "compact", "compact,delete", "delete,compact":
	default:
		errs = append(errs, fmt.Errorf("kafka: topic %s: cleanup policy %q: use delete, compact or compact,delete", s.Name, s.CleanupPolicy))
	}
	return errs
}

func (s TopicSpec) detail(brokers int) *sarama.TopicDetail {
	rf := s.ReplicationFactor
	if rf == 0 {
		rf = int16(min(3, brokers))
	}
	cfg := map[string]*string{}
	set := func(k, v string) { cfg[k] = &v }
	switch {
	case s.Retention == -1:
		set("retention.ms", "-1")
	case s.Retention > 0:
		set("retention.ms", strconv.FormatInt(s.Retention.Milliseconds(), 10))
	}
	if s.MaxMessageBytes > 0 {
		set("max.message.bytes", strconv.Itoa(s.MaxMessageBytes))
	}
	if s.CleanupPolicy != "" {
		set("cleanup.policy", s.CleanupPolicy)
	}
	if s.MinInsyncReplicas > 0 {
		set("min.insync.replicas", strconv.Itoa(min(s.MinInsyncReplicas, int(rf))))
	}
	return &sarama.TopicDetail{NumPartitions: s.Partitions, ReplicationFactor: rf, ConfigEntries: cfg}
}

// EnsureTopics creates the topics that do not exist and verifies the
// partition count of those that do. It is idempotent: a second call with the
// same specs changes nothing. It returns only after every topic is visible
// in the cluster metadata (or ctx ends). A partition count mismatch is an
// ErrTopicMismatch; it is never "fixed", because the count decides which
// shard lands on which partition.
func EnsureTopics(ctx context.Context, cfg Config, specs []TopicSpec) error {
	cfg.EnsureDefaults()
	errs := []error{cfg.Validate()}
	for _, s := range specs {
		errs = append(errs, s.validate()...)
	}
	if err := errors.Join(errs...); err != nil {
		return invalidConfig(err)
	}
	sc, err := cfg.saramaConfig()
	if err != nil {
		return err
	}
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, sc)
	if err != nil {
		return classify(err, cfg, "connecting to Kafka to manage topics")
	}
	defer func() { _ = admin.Close() }()

	brokers, _, err := admin.DescribeCluster()
	if err != nil {
		return classify(err, cfg, "describing the Kafka cluster")
	}
	for _, s := range specs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := ensureTopic(ctx, cfg, admin, s, len(brokers)); err != nil {
			return err
		}
	}
	return nil
}

func ensureTopic(ctx context.Context, cfg Config, admin sarama.ClusterAdmin, s TopicSpec, brokers int) error {
	op := "ensuring topic " + s.Name
	parts, exists, err := describePartitions(admin, s.Name)
	if err != nil {
		return classify(err, cfg, op)
	}
	if !exists {
		err := admin.CreateTopic(s.Name, s.detail(brokers), false)
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			return classify(err, cfg, "creating topic "+s.Name)
		}
		// Wait until the topic is visible, then verify it like an existing
		// one (it may have been created concurrently with other settings).
		for {
			parts, exists, err = describePartitions(admin, s.Name)
			if err != nil {
				return classify(err, cfg, op)
			}
			if exists && parts > 0 {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("kafka: topic %s was created but is not visible yet: %w", s.Name, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	if parts != int(s.Partitions) {
		return newError(ErrTopicMismatch, false, fmt.Sprintf(
			"kafka: topic %s exists with %d partitions but its spec asks for %d: the partition count decides which shard lands where, so dc2dc does not change it; delete the topic or configure %d partitions",
			s.Name, parts, s.Partitions, parts), nil)
	}
	return nil
}

// describePartitions returns the topic's partition count and whether it
// exists.
func describePartitions(admin sarama.ClusterAdmin, name string) (int, bool, error) {
	md, err := admin.DescribeTopics([]string{name})
	if err != nil {
		return 0, false, err
	}
	for _, t := range md {
		if t.Name != name {
			continue
		}
		switch {
		case errors.Is(t.Err, sarama.ErrUnknownTopicOrPartition):
			return 0, false, nil
		case !errors.Is(t.Err, sarama.ErrNoError):
			return 0, false, t.Err
		}
		return len(t.Partitions), true, nil
	}
	return 0, false, nil
}
