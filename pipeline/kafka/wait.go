package kafka

import (
	"context"
	"fmt"
	"time"

	"github.com/IBM/sarama"
)

// WaitTopics waits until every named topic exists, polling every poll (50ms
// when 0), and returns their partition counts. A consumer group subscribes
// only to topics that exist when it joins (sarama notices new ones only at
// its next metadata refresh, minutes later), so a receiver whose topic is
// created by someone else (the mirror, another datacenter's master) waits
// for it first.
func WaitTopics(ctx context.Context, cfg Config, poll time.Duration, names ...string) (map[string]int, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, invalidConfig(err)
	}
	if poll <= 0 {
		poll = 50 * time.Millisecond
	}
	sc, err := cfg.saramaConfig()
	if err != nil {
		return nil, err
	}
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, sc)
	if err != nil {
		return nil, classify(err, cfg, "connecting to Kafka to look up topics")
	}
	defer func() { _ = admin.Close() }()
	found := make(map[string]int, len(names))
	for _, name := range names {
		for {
			parts, exists, err := describePartitions(admin, name)
			if err != nil {
				return nil, classify(err, cfg, "looking up topic "+name)
			}
			if exists && parts > 0 {
				found[name] = parts
				break
			}
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("kafka: waiting for topic %s to exist (it is created by the producer side or the mirror): %w", name, ctx.Err())
			case <-time.After(poll):
			}
		}
	}
	return found, nil
}
