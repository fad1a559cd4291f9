package loadgen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
	"github.com/dc2dc/dc2dc/pipeline/middleware"
	"github.com/dc2dc/dc2dc/store"
)

// ConsumeConfig configures Consume.
type ConsumeConfig struct {
	Kafka     kafka.Config // Consumer.Group defaults to dc2dc.<sync>.apply
	Sync      string
	StoreDir  string // the consumer's checkpoint store
	LedgerDir string // the stand-in for cluster B
	Logger    *slog.Logger
	// TracerProvider and MeterProvider for the middleware chain (nil: off).
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// Progress, when set, is called about every ProgressEvery with what has
	// been applied so far (over all shards, from the ledger).
	Progress      func(Progress)
	ProgressEvery time.Duration
	// OnApply, when set, is called after each batch that applied events,
	// for latency measurement.
	OnApply func(Applied)
}

// Applied describes one applied batch.
type Applied struct {
	Events    int         // events applied from the batch
	Created   []time.Time // creation time of each document event in the batch (see CreatedAt)
	SentAt    time.Time   // when the producer built the batch
	KafkaTime time.Time   // the record's timestamp (the producer's, kept by the mirror); zero if unknown
	HandledAt time.Time   // when the handler began applying the batch (after decode and dedupe)
	LedgerAt  time.Time   // when the ledger (cluster B) had applied it, before the checkpoint
	AppliedAt time.Time   // when the apply and its checkpoint finished
}

// Progress is the consumer's running account.
type Progress struct {
	Applied    uint64 `json:"applied"`
	Duplicates uint64 `json:"duplicates"`
	Gaps       uint64 `json:"gaps"`
	Batches    uint64 `json:"batches"`
}

// Validate reports every problem at once.
func (c ConsumeConfig) Validate() error {
	var errs []error
	if err := kafka.ValidateSyncID(c.Sync); err != nil {
		errs = append(errs, err)
	}
	if c.StoreDir == "" {
		errs = append(errs, errors.New("a checkpoint store directory is required (--store)"))
	}
	if c.LedgerDir == "" {
		errs = append(errs, errors.New("a ledger directory is required (--ledger)"))
	}
	return errors.Join(errs...)
}

// Consume applies the data topic of cfg.Sync to the ledger until ctx ends.
func Consume(ctx context.Context, cfg ConsumeConfig) (err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ProgressEvery == 0 {
		cfg.ProgressEvery = 500 * time.Millisecond
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	topics, err := kafka.TopicsFor(kafka.DefaultTopicPrefix, cfg.Sync)
	if err != nil {
		return err
	}
	if cfg.Kafka.Consumer.Group == "" {
		cfg.Kafka.Consumer.Group = kafka.DefaultTopicPrefix + "." + cfg.Sync + ".apply"
	}
	if err := kafka.EnsureTopics(ctx, cfg.Kafka, []kafka.TopicSpec{{Name: topics.Poison, Partitions: 1}}); err != nil {
		return err
	}
	// The data topic is created on this side by the mirror: subscribe only
	// once it exists.
	if _, err := kafka.WaitTopics(ctx, cfg.Kafka, 0, topics.Data); err != nil {
		return err
	}
	ledger, err := OpenLedger(cfg.LedgerDir)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, ledger.Close()) }()
	st, err := store.Open(store.Config{Dir: cfg.StoreDir, Logger: cfg.Logger})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, st.Close()) }()

	poisonPub, err := kafka.NewPublisher(cfg.Kafka)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, poisonPub.Close()) }()
	chain, err := middleware.New(middleware.Config{
		PoisonTopic:     topics.Poison,
		PoisonPublisher: poisonPub,
		Applied:         ledger,
		TracerProvider:  cfg.TracerProvider,
		MeterProvider:   cfg.MeterProvider,
		Logger:          cfg.Logger,
	})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, chain.Close()) }()
	sub, err := kafka.NewSubscriber(cfg.Kafka)
	if err != nil {
		return err
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, watermill.NewSlogLogger(cfg.Logger))
	if err != nil {
		return err
	}

	var mu sync.Mutex
	var prog Progress
	handler := func(msg *message.Message) ([]*message.Message, error) {
		handled := time.Now()
		b, ok := middleware.BatchFrom(msg)
		if !ok {
			return nil, errors.New("loadgen: the decode middleware did not run")
		}
		n, err := ledger.Apply(b)
		if err != nil {
			return nil, fmt.Errorf("apply batch %s %s: %w", b.Shard, b.Pos, err)
		}
		ledgerAt := time.Now()
		loc := middleware.KafkaLocation(msg)
		if err := st.Put(store.AppliedPosition{
			Sync: cfg.Sync, Shard: b.Shard.String(), Epoch: b.Pos.Epoch, Tick: b.Pos.Tick,
			Partition: loc.Partition, Offset: loc.Offset, Phase: store.PhaseTailing,
		}); err != nil {
			return nil, err
		}
		if cfg.OnApply != nil && n > 0 {
			ts, _ := wkafka.MessageTimestampFromCtx(msg.Context())
			a := Applied{Events: n, SentAt: b.SentAt, KafkaTime: ts, HandledAt: handled, LedgerAt: ledgerAt, AppliedAt: time.Now()}
			for _, r := range b.Records {
				if d, ok := r.Event.(*events.Document); ok {
					if c := CreatedAt(d.Doc); !c.IsZero() {
						a.Created = append(a.Created, c)
					}
				}
			}
			cfg.OnApply(a)
		}
		mu.Lock()
		prog.Batches++
		mu.Unlock()
		return nil, nil
	}
	wrapped := chain.Wrap(handler)
	router.AddConsumerHandler("apply", topics.Data, sub, func(msg *message.Message) error {
		_, err := wrapped(msg)
		return err
	})

	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		t := time.NewTicker(cfg.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
			case <-stopProgress:
				return
			}
			if cfg.Progress == nil {
				continue
			}
			reps, err := ledger.Summary()
			if err != nil {
				cfg.Logger.Warn("ledger summary", "err", err)
				continue
			}
			mu.Lock()
			reps.Batches = prog.Batches
			mu.Unlock()
			cfg.Progress(reps)
		}
	}()
	err = router.Run(ctx)
	close(stopProgress)
	<-progressDone
	if cerr := router.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}
