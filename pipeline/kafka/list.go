package kafka

import (
	"context"

	"github.com/IBM/sarama"
)

// ListTopics returns every topic of the cluster with its partition count
// (internal topics such as __consumer_offsets included). The planning
// package discovers the syncs that follow this datacenter by listing the
// ctl.down topics the mirror created.
func ListTopics(ctx context.Context, cfg Config) (map[string]int, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, invalidConfig(err)
	}
	sc, err := cfg.saramaConfig()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, sc)
	if err != nil {
		return nil, classify(err, cfg, "connecting to Kafka to list topics")
	}
	defer func() { _ = admin.Close() }()
	topics, err := admin.ListTopics()
	if err != nil {
		return nil, classify(err, cfg, "listing topics")
	}
	out := make(map[string]int, len(topics))
	for name, d := range topics {
		out[name] = int(d.NumPartitions)
	}
	return out, nil
}
