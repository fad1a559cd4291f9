package loadgen

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"golang.org/x/sync/errgroup"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/batcher"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
	"github.com/dc2dc/dc2dc/store"
)

// Database is the database name of the synthetic shards.
const Database = "loadgen"

// ProduceConfig configures Produce.
type ProduceConfig struct {
	Kafka    kafka.Config
	Sync     string
	Shards   int    // shard streams, each its own goroutine
	Events   uint64 // events per shard
	DocBytes int    // size of each document (default 1024)
	// RandomPad pads documents with pseudo-random letters and digits instead
	// of a run of 'x', so that they hardly compress and Kafka carries about
	// their full size (as it does real documents; the benchmark compares
	// with a transport ceiling of uncompressed records).
	RandomPad  bool
	Rate       float64 // events per second over all shards; 0 = as fast as possible
	Partitions int32   // partitions of the data topic when it is created (default 12)
	StoreDir   string  // the producer's checkpoint store
	Batch      batcher.Config
	Logger     *slog.Logger
	// Decorators wrap the publisher (tracing and metrics from
	// pipeline/middleware).
	Decorators []message.PublisherDecorator
	// Progress, when set, is called about every ProgressEvery with the number
	// of events whose batches Kafka acknowledged (checkpointed included).
	Progress      func(acked uint64)
	ProgressEvery time.Duration
}

func (c *ProduceConfig) ensureDefaults() {
	if c.DocBytes == 0 {
		c.DocBytes = 1024
	}
	if c.Partitions == 0 {
		c.Partitions = 12
	}
	if c.ProgressEvery == 0 {
		c.ProgressEvery = 500 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every problem at once.
func (c ProduceConfig) Validate() error {
	var errs []error
	if err := kafka.ValidateSyncID(c.Sync); err != nil {
		errs = append(errs, err)
	}
	if c.Shards < 1 {
		errs = append(errs, errors.New("shards must be at least 1"))
	}
	if c.Events < 1 {
		errs = append(errs, errors.New("events per shard must be at least 1"))
	}
	if c.DocBytes < 64 {
		errs = append(errs, errors.New("document size must be at least 64 bytes"))
	}
	if c.StoreDir == "" {
		errs = append(errs, errors.New("a checkpoint store directory is required (--store)"))
	}
	if c.Rate < 0 {
		errs = append(errs, errors.New("rate must not be negative"))
	}
	return errors.Join(errs...)
}

// ShardRef returns the ref of synthetic shard i.
func ShardRef(i int) events.ShardRef {
	return events.ShardRef{Database: Database, CollectionID: "100", Index: i}
}

// Produce publishes cfg.Events events on each of cfg.Shards shard streams,
// resuming every shard after its checkpoint. It returns when all are
// acknowledged and checkpointed, or on the first error.
func Produce(ctx context.Context, cfg ProduceConfig) (err error) {
	cfg.ensureDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	topics, err := kafka.TopicsFor(kafka.DefaultTopicPrefix, cfg.Sync)
	if err != nil {
		return err
	}
	if err := kafka.EnsureTopics(ctx, cfg.Kafka, []kafka.TopicSpec{
		{Name: topics.Data, Partitions: cfg.Partitions},
		{Name: topics.Poison, Partitions: 1},
	}); err != nil {
		return err
	}
	st, err := store.Open(store.Config{Dir: cfg.StoreDir, Logger: cfg.Logger})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, st.Close()) }()
	var pub message.Publisher
	if pub, err = kafka.NewPublisher(cfg.Kafka); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, pub.Close()) }()
	for _, dec := range cfg.Decorators {
		if pub, err = dec(pub); err != nil {
			return err
		}
	}

	var acked atomic.Uint64
	g, gctx := errgroup.WithContext(ctx)
	if cfg.Progress != nil {
		done := make(chan struct{})
		defer close(done)
		go func() {
			t := time.NewTicker(cfg.ProgressEvery)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					cfg.Progress(acked.Load())
				case <-done:
					return
				}
			}
		}()
	}
	var perShardRate float64
	if cfg.Rate > 0 {
		perShardRate = cfg.Rate / float64(cfg.Shards)
	}
	for i := 0; i < cfg.Shards; i++ {
		ref := ShardRef(i)
		g.Go(func() error {
			return produceShard(gctx, cfg, st, pub, topics.Data, ref, perShardRate, &acked)
		})
	}
	err = g.Wait()
	if cfg.Progress != nil {
		cfg.Progress(acked.Load())
	}
	return err
}

func produceShard(ctx context.Context, cfg ProduceConfig, st *store.Store, pub message.Publisher, topic string, ref events.ShardRef, rate float64, acked *atomic.Uint64) error {
	shard := ref.String()
	start := events.Position{Epoch: 1}
	pos, err := st.Source(cfg.Sync, shard)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return err
	default:
		start = events.Position{Epoch: pos.Epoch, Tick: pos.Tick}
		acked.Add(pos.Tick)
	}
	if start.Tick >= cfg.Events {
		return nil
	}
	emit := func(ctx context.Context, out batcher.Out) error {
		payload, err := events.Encode(out.Batch)
		if err != nil {
			return err
		}
		msg := message.NewMessage(watermill.NewUUID(), payload)
		msg.SetContext(ctx)
		for k, v := range out.Metadata() {
			msg.Metadata.Set(k, v)
		}
		if err := pub.Publish(topic, msg); err != nil {
			return err
		}
		if err := st.Put(store.SourcePosition{
			Sync: cfg.Sync, Shard: shard, Epoch: out.Batch.Pos.Epoch, Leader: "loadgen",
			Tick: out.Batch.Pos.Tick, Phase: store.PhaseTailing,
		}); err != nil {
			return err
		}
		acked.Add(uint64(countTicks(out.Batch)))
		return nil
	}
	b, err := batcher.New(cfg.Batch, batcher.Stream{
		Sync: cfg.Sync, Shard: ref, Collection: "loadgen", Leader: "loadgen", Epoch: start.Epoch, Start: start,
	}, emit)
	if err != nil {
		return err
	}
	runErr := make(chan error, 1)
	go func() { runErr <- b.Run(ctx) }()

	doc := make([]byte, 0, cfg.DocBytes)
	began := time.Now()
	for tick := start.Tick + 1; tick <= cfg.Events; tick++ {
		if rate > 0 {
			due := began.Add(time.Duration(float64(tick-start.Tick) / rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					b.Close()
					return errors.Join(ctx.Err(), <-runErr)
				}
			}
		}
		key := "k" + strconv.FormatUint(tick, 10)
		rev := strconv.FormatUint(tick, 36)
		doc = makeDoc(doc[:0], key, rev, tick, time.Now().UnixNano(), cfg.DocBytes, cfg.RandomPad)
		rec := events.Record{Tick: tick, Event: &events.Document{TID: "0", Key: key, Rev: rev, Doc: append([]byte(nil), doc...)}}
		if err := b.Add(ctx, rec); err != nil {
			b.Close()
			if rerr := <-runErr; rerr != nil {
				return rerr
			}
			return err
		}
	}
	b.Close()
	return <-runErr
}

// countTicks counts the records of a batch that carry a tick.
func countTicks(b *events.Batch) int {
	n := 0
	for _, r := range b.Records {
		if r.Tick != 0 {
			n++
		}
	}
	return n
}

// makeDoc appends a JSON document of about size bytes. "t" is the event's
// creation time in Unix nanoseconds, which the consumer reads back to measure
// each event's latency (CreatedAt). The padding is a run of 'x', or random
// letters and digits copied from randomPad at an offset drawn from seq and
// created.
func makeDoc(buf []byte, key, rev string, seq uint64, created int64, size int, random bool) []byte {
	buf = append(buf, `{"_key":"`...)
	buf = append(buf, key...)
	buf = append(buf, `","_rev":"`...)
	buf = append(buf, rev...)
	buf = append(buf, `","seq":`...)
	buf = strconv.AppendUint(buf, seq, 10)
	buf = append(buf, `,"t":`...)
	buf = strconv.AppendInt(buf, created, 10)
	buf = append(buf, `,"pad":"`...)
	if n := size - 2 - len(buf); n > 0 {
		src, off := xPad, 0
		if random {
			src = randomPad()
			off = int((seq*0x9E3779B97F4A7C15 ^ uint64(created)) % uint64(len(src)))
		}
		for n > 0 {
			k := min(n, len(src)-off)
			buf = append(buf, src[off:off+k]...)
			n -= k
			off = 0
		}
	}
	return append(buf, `"}`...)
}

// xPad is the compressible padding.
var xPad = bytes.Repeat([]byte{'x'}, 4096)

// randomPad is 16 MiB of pseudo-random letters, digits, '-' and '_' (six
// bits each), made once: a document's padding is a slice of it at a random
// offset, so that two documents within lz4's 64 KiB window rarely share
// bytes and batches hardly compress, without generating every byte anew.
var randomPad = sync.OnceValue(func() []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_"
	b := make([]byte, 16<<20)
	x := uint64(0x9E3779B97F4A7C15)
	for i := 0; i < len(b); {
		// xorshift64: ten 6-bit characters per step.
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		for j, v := 0, x; j < 10 && i < len(b); j, v = j+1, v>>6 {
			b[i] = alphabet[v&63]
			i++
		}
	}
	return b
})

// CreatedAt returns the creation time makeDoc wrote into a document, or the
// zero time when the document has none.
func CreatedAt(doc []byte) time.Time {
	i := bytes.Index(doc, []byte(`,"t":`))
	if i < 0 {
		return time.Time{}
	}
	rest := doc[i+5:]
	j := bytes.IndexByte(rest, ',')
	if j < 0 {
		return time.Time{}
	}
	n, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(0, n)
}
