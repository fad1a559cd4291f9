package mirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
)

type topicPartition struct {
	topic     string
	partition int32
}

func (tp topicPartition) String() string { return fmt.Sprintf("%s/%d", tp.topic, tp.partition) }

// route forwards the selected topics of one source cluster to one target
// cluster. Its state outlives the connections: run reconnects after errors.
type route struct {
	m              *Mirror
	cfg            Route
	srcCfg, dstCfg *sarama.Config
	names          map[string]bool
	re             *regexp.Regexp
	log            *slog.Logger
	readyOnce      sync.Once
	// stopping is set when Run's context ends; it cuts the target client's
	// metadata retries short (see targetConfig).
	stopping atomic.Bool

	// failedAt holds, per partition, the lowest source offset the target
	// refused in the previous generation. The next generation checks that
	// the target holds no later record of that partition (a hole).
	failedAt map[topicPartition]int64
}

// run keeps the route going until ctx is done or it stops for good.
func (r *route) run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { r.stopping.Store(true) })
	defer stop()
	backoff := 100 * time.Millisecond
	for {
		start := time.Now()
		err := r.runOnce(ctx)
		if ctx.Err() != nil {
			if errors.Is(err, ErrPermanent) {
				return err
			}
			return nil
		}
		if errors.Is(err, ErrPermanent) {
			r.log.Error("mirror route stopped", "err", err)
			r.m.met.error(r.cfg.Name, errKindRoute)
			return err
		}
		if time.Since(start) > time.Minute {
			backoff = 100 * time.Millisecond
		}
		r.log.Warn("mirror route restarts", "err", err, "backoff", backoff)
		r.m.met.error(r.cfg.Name, errKindRoute)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(backoff*2, r.m.cfg.RetryBackoffMax.D())
	}
}

// runOnce connects to both clusters and runs consumer-group sessions until
// an error, a context cancellation, or forever.
func (r *route) runOnce(ctx context.Context) (err error) {
	src, err := sarama.NewClient(r.m.cfg.Clusters[r.cfg.From].Brokers, r.srcCfg)
	if err != nil {
		return fmt.Errorf("connect to source cluster %s: %w", r.cfg.From, err)
	}
	defer func() { _ = src.Close() }() // the source is only read; the group's Close below commits its offsets
	dst, err := sarama.NewClient(r.m.cfg.Clusters[r.cfg.To].Brokers, r.dstCfg)
	if err != nil {
		return fmt.Errorf("connect to target cluster %s: %w", r.cfg.To, err)
	}
	defer func() { _ = dst.Close() }() // a forced shutdown may have closed it already
	admin, err := sarama.NewClusterAdminFromClient(dst)
	if err != nil {
		return fmt.Errorf("admin client on target cluster %s: %w", r.cfg.To, err)
	}
	srcAdmin, err := sarama.NewClusterAdminFromClient(src)
	if err != nil {
		return fmt.Errorf("admin client on source cluster %s: %w", r.cfg.From, err)
	}
	// The admins' Close would close their clients, which the deferred
	// Closes do.
	group, err := sarama.NewConsumerGroupFromClient(r.cfg.GroupID, src)
	if err != nil {
		return fmt.Errorf("consumer group %s on source cluster %s: %w", r.cfg.GroupID, r.cfg.From, err)
	}
	var groupErrs sync.WaitGroup
	groupErrs.Go(func() {
		for err := range group.Errors() {
			if isRebalanceNoise(err) {
				// Commits and fetches of a session the group already moved
				// past: expected around every rebalance.
				r.m.met.error(r.cfg.Name, errKindRebalance)
				r.log.Debug("source consumer error during a rebalance", "err", err)
				continue
			}
			r.m.met.error(r.cfg.Name, errKindConsume)
			r.log.Warn("source consumer error", "err", err)
		}
	})
	defer func() {
		if cerr := group.Close(); cerr != nil && err == nil {
			err = cerr
		}
		groupErrs.Wait()
	}()
	r.m.routeConnected(r)
	r.log.Info("mirror route connected", "group", r.cfg.GroupID)

	for {
		topics, err := r.discover(src)
		if err != nil {
			r.m.met.error(r.cfg.Name, errKindTopics)
			return err
		}
		if len(topics) == 0 {
			r.log.Debug("no source topic selected yet", "topics", r.cfg.Topics, "regex", r.cfg.TopicRegex)
			if !sleepCtx(ctx, r.m.cfg.TopicRefresh.D()) {
				return nil
			}
			continue
		}
		sessCtx, cancel := context.WithCancel(ctx)
		var watch sync.WaitGroup
		watch.Go(func() { r.watchTopics(sessCtx, cancel, src, topics) })
		gen := &generation{r: r, src: src, dst: dst, admin: admin, srcAdmin: srcAdmin, runCtx: ctx, failed: make(chan struct{})}
		err = group.Consume(sessCtx, slices.Sorted(maps.Keys(topics)), gen)
		cancel()
		watch.Wait()
		if ferr := gen.fatal(); ferr != nil {
			return ferr
		}
		if ctx.Err() != nil {
			return nil
		}
		if gen.failedErr() != nil {
			return gen.failedErr()
		}
		if err != nil {
			return err
		}
		// The session ended for a rebalance or a topic change: consume again.
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// discover lists the source topics the route selects, with their partition
// counts.
func (r *route) discover(src sarama.Client) (map[string]int, error) {
	if err := src.RefreshMetadata(); err != nil {
		return nil, fmt.Errorf("list topics of source cluster %s: %w", r.cfg.From, err)
	}
	all, err := src.Topics()
	if err != nil {
		return nil, fmt.Errorf("list topics of source cluster %s: %w", r.cfg.From, err)
	}
	out := map[string]int{}
	for _, t := range all {
		if !r.selects(t) {
			continue
		}
		ps, err := src.Partitions(t)
		if err != nil {
			return nil, fmt.Errorf("partitions of source topic %s: %w", t, err)
		}
		out[t] = len(ps)
	}
	return out, nil
}

// watchTopics ends the session (cancel) when the selected topics or their
// partition counts change, so the next session follows them.
func (r *route) watchTopics(ctx context.Context, cancel context.CancelFunc, src sarama.Client, have map[string]int) {
	t := time.NewTicker(r.m.cfg.TopicRefresh.D())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now, err := r.discover(src)
		if err != nil {
			r.m.met.error(r.cfg.Name, errKindTopics)
			r.log.Warn("topic refresh failed", "err", err)
			continue
		}
		if !maps.Equal(now, have) {
			r.log.Info("source topics changed: restarting the session", "before", have, "after", now)
			cancel()
			return
		}
	}
}

// ensureTarget creates the target topic with the source's partition count,
// or adds partitions to an existing one. Topics are always created
// explicitly: a broker that auto-creates topics may not keep them (kfake
// loses auto-created topics on a crash) and would pick its own count.
func (r *route) ensureTarget(ctx context.Context, admin, srcAdmin sarama.ClusterAdmin, dst sarama.Client, topic string, partitions int) error {
	md, err := admin.DescribeTopics([]string{topic})
	if err != nil {
		return fmt.Errorf("describe target topic %s: %w", topic, err)
	}
	have := 0
	exists := false
	for _, t := range md {
		if t.Name == topic && !errors.Is(t.Err, sarama.ErrUnknownTopicOrPartition) {
			if t.Err != sarama.ErrNoError {
				return fmt.Errorf("describe target topic %s: %w", topic, t.Err)
			}
			exists = true
			have = len(t.Partitions)
		}
	}
	switch {
	case !exists:
		configs := r.copiedConfigs(srcAdmin, topic)
		err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: int32(partitions), ReplicationFactor: r.m.cfg.ReplicationFactor,
			ConfigEntries: configs}, false)
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			return fmt.Errorf("create target topic %s with %d partitions: %w", topic, partitions, err)
		}
		r.log.Info("created target topic", "topic", topic, "partitions", partitions, "configs", len(configs))
	case have < partitions:
		if err := admin.CreatePartitions(topic, int32(partitions), nil, false); err != nil {
			return fmt.Errorf("grow target topic %s from %d to %d partitions: %w", topic, have, partitions, err)
		}
		r.log.Info("added partitions to target topic", "topic", topic, "from", have, "to", partitions)
	default:
		return nil
	}
	// The producer checks partitions against its metadata: wait until the
	// target's metadata shows them.
	deadline := time.Now().Add(r.m.cfg.ResumeTimeout.D())
	for {
		if err := dst.RefreshMetadata(topic); err == nil {
			if ps, err := dst.Partitions(topic); err == nil && len(ps) >= partitions {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("target topic %s does not show %d partitions after creation", topic, partitions)
		}
		if !sleepCtx(ctx, 50*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// copiedTopicConfigs are the topic settings a created target topic takes
// over from its source topic when they are set there: how long records are
// kept. (max.message.bytes is always taken over, with headroom.) message.timestamp.type is not copied: the
// mirror writes the source's timestamps, which LogAppendTime would replace.
var copiedTopicConfigs = []string{
	"cleanup.policy", "retention.ms", "retention.bytes",
	"min.compaction.lag.ms", "delete.retention.ms",
}

// describeTopicConfig returns the configuration entries of topic: what the
// deprecated ClusterAdmin.DescribeConfig returned, by way of DescribeConfigs.
func describeTopicConfig(admin sarama.ClusterAdmin, topic string) ([]sarama.ConfigEntry, error) {
	results, err := admin.DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.TopicResource, Name: topic}}, sarama.DescribeConfigsOptions{})
	if err != nil {
		return nil, err
	}
	var entries []sarama.ConfigEntry
	for _, res := range results {
		if res.Name != topic {
			continue
		}
		if res.ErrorCode != sarama.ErrNoError {
			return nil, &sarama.DescribeConfigError{Err: res.ErrorCode, ErrMsg: res.ErrorMsg}
		}
		entries = append(entries, res.Configs...)
	}
	return entries, nil
}

// copiedConfigs reads the settings of copiedTopicConfigs that are set on the
// source topic itself. A failure to read them is logged, not fatal: the
// topic is then created with the target broker's defaults.
func (r *route) copiedConfigs(srcAdmin sarama.ClusterAdmin, topic string) map[string]*string {
	entries, err := describeTopicConfig(srcAdmin, topic)
	if err != nil {
		r.log.Warn("cannot read the source topic's configuration: creating the target topic with broker defaults", "topic", topic, "err", err)
		return nil
	}
	out := map[string]*string{}
	for _, e := range entries {
		switch {
		case e.Name == "max.message.bytes":
			// The source's limit in force (explicit or default) plus room
			// for the header the mirror adds, so that a record that fits the
			// source fits the target; and at least the producer's batch
			// limit, since the mirror may batch small records together.
			if n, err := strconv.Atoi(e.Value); err == nil && n > 0 {
				v := strconv.Itoa(max(n+headerHeadroom, r.m.cfg.MaxMessageBytes))
				out[e.Name] = &v
				if n > r.m.cfg.MaxMessageBytes {
					r.log.Warn("source topic allows larger records than the mirror sends: raise max_message_bytes or records near the limit are refused",
						"topic", topic, "source_max_message_bytes", n, "max_message_bytes", r.m.cfg.MaxMessageBytes)
				}
			}
		case e.Source == sarama.SourceTopic && slices.Contains(copiedTopicConfigs, e.Name):
			v := e.Value
			out[e.Name] = &v
		}
	}
	return out
}

// headerHeadroom is how many bytes more than the source topic a created
// target topic allows per record batch, for the SourceHeader the mirror adds
// to each record (about 60 bytes each).
const headerHeadroom = 4096
