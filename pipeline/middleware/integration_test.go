package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	wkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/batcher"
	"github.com/dc2dc/dc2dc/pipeline/failure"
	"github.com/dc2dc/dc2dc/pipeline/middleware"
)

const (
	dataTopic   = "dc2dc.s1.data"
	poisonTopic = "dc2dc.s1.poison"
	// keyHeader overrides the partition key in the Kafka test, so that bad
	// messages land in the same partition as a valid shard's batches.
	keyHeader = "test-partition-key"
)

var (
	shardA     = events.ShardRef{Database: "db", CollectionID: "1001", Index: 0}
	shardB     = events.ShardRef{Database: "db", CollectionID: "1001", Index: 1}
	panicShard = events.ShardRef{Database: "db", CollectionID: "666", Index: 0}
)

// transport is what a scenario runs on.
type transport struct {
	pub       message.Publisher // raw publisher (data and poison topics)
	sub       message.Subscriber
	poisonSub message.Subscriber
	kafka     bool // messages carry partition/offset
}

// makeBatches runs records through a batcher and returns the batches.
func makeBatches(t *testing.T, shard events.ShardRef, n int) []batcher.Out {
	t.Helper()
	var outs []batcher.Out
	b, err := batcher.New(batcher.Config{MaxRecords: 16, Linger: time.Hour},
		batcher.Stream{Sync: "s1", Shard: shard, Leader: "PRMR-1", Epoch: 1},
		func(_ context.Context, o batcher.Out) error { outs = append(outs, o); return nil })
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- b.Run(context.Background()) }()
	ctx := context.Background()
	add := func(r events.Record) {
		if err := b.Add(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	tick := uint64(100)
	for i := 0; i < n; i++ {
		tick++
		if i%25 == 10 { // a transaction of 5 documents now and then
			tid := strconv.FormatUint(tick, 10)
			add(events.Record{Tick: tick, Event: &events.TransactionStart{Database: "db", TID: tid}})
			for j := 0; j < 5; j++ {
				tick++
				add(docRec(tick, tid))
			}
			tick++
			add(events.Record{Tick: tick, Event: &events.TransactionCommit{Database: "db", TID: tid}})
			continue
		}
		add(docRec(tick, ""))
		if i%40 == 39 {
			add(events.Record{Event: &events.Heartbeat{SourceTime: time.Now(), LeaderTick: tick + 50}})
		}
	}
	b.Close()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return outs
}

func docRec(tick uint64, tid string) events.Record {
	key := "k" + strconv.FormatUint(tick, 10)
	return events.Record{Tick: tick, Event: &events.Document{TID: tid, Key: key, Rev: "_r" + key,
		Doc: json.RawMessage(`{"_key":"` + key + `","n":` + strconv.FormatUint(tick, 10) + `}`)}}
}

func outMessage(t *testing.T, o batcher.Out) *message.Message {
	t.Helper()
	payload, err := events.Encode(o.Batch)
	if err != nil {
		t.Fatal(err)
	}
	msg := message.NewMessage(watermill.NewUUID(), payload)
	for k, v := range o.Metadata() {
		msg.Metadata.Set(k, v)
	}
	return msg
}

// applier is the handler: it records what it applied, panics on the panic
// shard and fails retryably twice on one chosen batch.
type applier struct {
	t        *testing.T
	tp       *sdktrace.TracerProvider
	mu       sync.Mutex
	applied  map[string][]events.Position
	flaky    events.Position
	attempts int
}

func (a *applier) handle(msg *message.Message) error {
	_, span := a.tp.Tracer("test").Start(msg.Context(), "apply")
	defer span.End()
	b, ok := middleware.BatchFrom(msg)
	if !ok {
		a.t.Error("handler called without a decoded batch")
		return failure.New(failure.CodeInternal, "no batch")
	}
	if b.Shard == panicShard {
		var m map[string]int
		m["boom"]++ //nolint:staticcheck // a real bug on purpose: write to a nil map
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if b.Shard == shardA && b.Pos == a.flaky {
		a.attempts++
		if a.attempts <= 2 {
			return failure.WithCode(failure.CodeArangoUnavailable, errors.New("503 cluster in failover"))
		}
	}
	a.applied[b.Shard.String()] = append(a.applied[b.Shard.String()], b.Pos)
	return nil
}

func (a *applier) count(shard events.ShardRef) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.applied[shard.String()])
}

// poisonCollector reads the poison topic.
type poisonCollector struct {
	mu   sync.Mutex
	msgs []*message.Message
}

func (p *poisonCollector) run(ch <-chan *message.Message) {
	for m := range ch {
		p.mu.Lock()
		p.msgs = append(p.msgs, m)
		p.mu.Unlock()
		m.Ack()
	}
}

func (p *poisonCollector) get() []*message.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*message.Message(nil), p.msgs...)
}

func waitUntil(t *testing.T, timeout time.Duration, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: %s", timeout, what())
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
}

func runScenario(t *testing.T, tr transport) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()

	chain, err := middleware.New(middleware.Config{
		PoisonTopic: poisonTopic, PoisonPublisher: tr.pub,
		Retry:          middleware.RetryConfig{InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond},
		TracerProvider: tp, MeterProvider: mp,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer chain.Close()

	as := makeBatches(t, shardA, 300)
	bs := makeBatches(t, shardB, 200)
	if len(as) < 12 || len(bs) < 8 {
		t.Fatalf("too few batches: %d %d", len(as), len(bs))
	}
	app := &applier{t: t, tp: tp, applied: map[string][]events.Position{}, flaky: as[3].Batch.Pos}

	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 15 * time.Second}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	router.AddMiddleware(chain.Middlewares()...)
	router.AddConsumerHandler("apply", dataTopic, tr.sub, app.handle)

	pc := &poisonCollector{}
	poisonCh, err := tr.poisonSub.Subscribe(context.Background(), poisonTopic)
	if err != nil {
		t.Fatal(err)
	}
	pcDone := make(chan struct{})
	go func() { pc.run(poisonCh); close(pcDone) }()

	runCtx, stop := context.WithCancel(context.Background())
	routerDone := make(chan error, 1)
	go func() { routerDone <- router.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-routerDone; err != nil {
			t.Errorf("router: %v", err)
		}
		_ = tr.poisonSub.Close()
		<-pcDone
	}()
	<-router.Running()

	// The send side: tracing and metrics decorate the raw publisher.
	pub, err := middleware.DecoratePublisher(tr.pub, middleware.NewTracing(tp).PublisherDecorator(), chain.Metrics.PublisherDecorator())
	if err != nil {
		t.Fatal(err)
	}
	send := func(name string, msg *message.Message) {
		ctx, span := tp.Tracer("test").Start(context.Background(), "send-shard "+name)
		msg.SetContext(ctx)
		err := pub.Publish(dataTopic, msg)
		span.End()
		if err != nil {
			t.Fatalf("publish %s: %v", name, err)
		}
	}
	sendOut := func(o batcher.Out) { send(o.Batch.Shard.String(), outMessage(t, o)) }

	halfA, halfB := len(as)/2, len(bs)/2
	for _, o := range as[:halfA] {
		sendOut(o)
	}
	for _, o := range bs[:halfB] {
		sendOut(o)
	}
	// The bad ones, in shard A's partition.
	foreign := message.NewMessage(watermill.NewUUID(), []byte(`{"not":"dc2dc"}`))
	foreign.Metadata.Set(keyHeader, shardA.String())
	send("foreign", foreign)
	garbage := outMessage(t, as[0])
	garbage.Payload = []byte("\x00\x01garbage")
	garbage.Metadata.Set(keyHeader, shardA.String())
	send("garbage", garbage)
	v2 := outMessage(t, as[1])
	v2.Metadata.Set(events.MetaVersion, "2")
	v2.Payload[2] = 2
	v2.Metadata.Set(keyHeader, shardA.String())
	send("v2", v2)
	pb := makeBatches(t, panicShard, 3)[0]
	panicMsg := outMessage(t, pb)
	panicMsg.Metadata.Set(keyHeader, shardA.String())
	send("panic", panicMsg)
	// The rest, with replays before each shard's last batch.
	for _, o := range as[halfA : len(as)-1] {
		sendOut(o)
	}
	for _, o := range bs[halfB : len(bs)-1] {
		sendOut(o)
	}
	replays := 0
	for _, o := range as[:5] {
		sendOut(o)
		replays++
	}
	for _, o := range append([]batcher.Out{bs[2], bs[0]}, bs[halfB]) {
		sendOut(o)
		replays++
	}
	sendOut(as[len(as)-1])
	sendOut(bs[len(bs)-1])

	waitUntil(t, 60*time.Second, func() string {
		return fmt.Sprintf("applied A %d/%d, B %d/%d, poisoned %d/4", app.count(shardA), len(as), app.count(shardB), len(bs), len(pc.get()))
	}, func() bool {
		return app.count(shardA) >= len(as) && app.count(shardB) >= len(bs) && len(pc.get()) >= 4
	})

	// Everything valid applied exactly once, in per-shard order.
	for shard, outs := range map[events.ShardRef][]batcher.Out{shardA: as, shardB: bs} {
		app.mu.Lock()
		got := append([]events.Position(nil), app.applied[shard.String()]...)
		app.mu.Unlock()
		if len(got) != len(outs) {
			t.Fatalf("%s: applied %d batches, want %d", shard, len(got), len(outs))
		}
		for i, o := range outs {
			if got[i] != o.Batch.Pos {
				t.Fatalf("%s: batch %d applied at %s, want %s", shard, i, got[i], o.Batch.Pos)
			}
		}
	}
	if app.count(panicShard) != 0 {
		t.Error("the panicking batch was recorded as applied")
	}
	app.mu.Lock()
	if app.attempts != 3 {
		t.Errorf("the flaky batch was attempted %d times, want 3", app.attempts)
	}
	app.mu.Unlock()

	// The bad ones sit on the poison topic with their reason.
	reasons := map[string]*message.Message{}
	for _, m := range pc.get() {
		reasons[m.Metadata.Get(middleware.PoisonReason)] = m
	}
	for _, c := range []failure.Code{failure.CodeForeignMessage, failure.CodeMalformed, failure.CodeUnsupportedVersion, failure.CodeHandlerPanic} {
		m, ok := reasons[string(c)]
		if !ok {
			t.Errorf("no poison message with reason %s (%s)", c, c.Name())
			continue
		}
		if m.Metadata.Get(middleware.PoisonTopic) != dataTopic || m.Metadata.Get(middleware.PoisonError) == "" {
			t.Errorf("%s: poison metadata %v", c, m.Metadata)
		}
		if m.Metadata.Get(keyHeader) != shardA.String() {
			t.Errorf("%s: original headers not kept: %v", c, m.Metadata)
		}
		if tr.kafka {
			if _, err := strconv.Atoi(m.Metadata.Get(middleware.PoisonOffset)); err != nil || m.Metadata.Get(middleware.PoisonPartition) == "" {
				t.Errorf("%s: no partition/offset: %v", c, m.Metadata)
			}
		}
	}
	if len(pc.get()) != 4 {
		t.Errorf("%d poison messages, want 4", len(pc.get()))
	}
	if st := reasons[string(failure.CodeHandlerPanic)]; st != nil && st.Metadata.Get(middleware.PoisonStack) == "" {
		t.Error("the panic's stack is not in the poison message")
	}

	// Metrics: replays skipped, poison by reason, retries.
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	sums := map[string]map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok {
				sums[m.Name] = map[string]int64{}
				for _, dp := range s.DataPoints {
					v, _ := dp.Attributes.Value(attribute.Key("reason"))
					sums[m.Name][v.AsString()] += dp.Value
				}
			}
		}
	}
	if got := sums[middleware.MetricDuplicates][""]; got != int64(replays) {
		t.Errorf("duplicates metric %d, want %d", got, replays)
	}
	if got := sums[middleware.MetricRetries][""]; got != 2 {
		t.Errorf("retries metric %d, want 2", got)
	}
	for _, c := range []failure.Code{failure.CodeForeignMessage, failure.CodeMalformed, failure.CodeUnsupportedVersion, failure.CodeHandlerPanic} {
		if sums[middleware.MetricPoisoned][string(c)] != 1 {
			t.Errorf("poisoned{reason=%s} = %d", c, sums[middleware.MetricPoisoned][string(c)])
		}
	}
	wantMsgs := int64(len(as) + len(bs) + 4 + replays)
	if got := sums[middleware.MetricPublished][""]; got != wantMsgs {
		t.Errorf("published metric %d, want %d", got, wantMsgs)
	}

	// One trace per batch: send-shard → send → process → apply.
	spans := rec.Ended()
	byID := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byID[s.SpanContext().SpanID().String()] = s
	}
	traced := 0
	for _, s := range spans {
		if s.Name() != "apply" {
			continue
		}
		process := byID[s.Parent().SpanID().String()]
		if process == nil || process.Name() != "process "+dataTopic {
			t.Fatalf("apply span's parent is %v", process)
		}
		send := byID[process.Parent().SpanID().String()]
		if send == nil || send.Name() != "send "+dataTopic {
			t.Fatalf("process span's parent is not a send span: %v", send)
		}
		root := byID[send.Parent().SpanID().String()]
		if root == nil || root.SpanContext().TraceID() != s.SpanContext().TraceID() {
			t.Fatalf("apply span is not in the send-shard task's trace")
		}
		traced++
	}
	if traced < len(as)+len(bs) {
		t.Errorf("%d traced applies, want at least %d", traced, len(as)+len(bs))
	}
}

func TestIntegrationGoChannel(t *testing.T) {
	// Blocking publish keeps gochannel's delivery in publish order (as a
	// Kafka partition does).
	gc := gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, watermill.NopLogger{})
	defer gc.Close()
	runScenario(t, transport{pub: gc, sub: gc, poisonSub: gc})
}

func TestIntegrationKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("in-process Kafka: skipped with -short")
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, dataTopic, poisonTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()

	pcfg := wkafka.DefaultSaramaSyncPublisherConfig()
	pcfg.Version = sarama.V2_8_0_0
	pcfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	pub, err := wkafka.NewPublisher(wkafka.PublisherConfig{
		Brokers: brokers, OverwriteSaramaConfig: pcfg,
		Marshaler: wkafka.NewWithPartitioningMarshaler(func(_ string, msg *message.Message) (string, error) {
			if k := msg.Metadata.Get(keyHeader); k != "" {
				return k, nil
			}
			return msg.Metadata.Get(events.MetaShard), nil
		}),
	}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()

	newSub := func(group string) message.Subscriber {
		cfg := wkafka.DefaultSaramaSubscriberConfig()
		cfg.Version = sarama.V2_8_0_0
		cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
		cfg.Consumer.Offsets.AutoCommit.Enable = true
		cfg.Consumer.Offsets.AutoCommit.Interval = 200 * time.Millisecond
		cfg.Consumer.Group.Session.Timeout = 6 * time.Second
		cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
		sub, err := wkafka.NewSubscriber(wkafka.SubscriberConfig{
			Brokers: brokers, ConsumerGroup: group, OverwriteSaramaConfig: cfg,
			Unmarshaler: wkafka.DefaultMarshaler{}, NackResendSleep: 10 * time.Millisecond,
			ReconnectRetrySleep: 100 * time.Millisecond,
		}, watermill.NopLogger{})
		if err != nil {
			t.Fatal(err)
		}
		return sub
	}
	runScenario(t, transport{pub: pub, sub: newSub("dc2dc-apply"), poisonSub: newSub("poison-reader"), kafka: true})
}

// Closing the router stops a handler that keeps failing retryably: the
// retry wait ends with the message's context, nothing is poisoned, and the
// router returns.
func TestIntegrationStopWhileRetrying(t *testing.T) {
	gc := gochannel.NewGoChannel(gochannel.Config{}, watermill.NopLogger{})
	defer gc.Close()
	poison := &countingPublisher{}
	chain, err := middleware.New(middleware.Config{
		PoisonTopic: poisonTopic, PoisonPublisher: poison,
		Retry: middleware.RetryConfig{InitialInterval: time.Hour, MaxInterval: time.Hour},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer chain.Close()
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 20 * time.Second}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	router.AddMiddleware(chain.Middlewares()...)
	attempts := make(chan struct{}, 10)
	router.AddConsumerHandler("apply", dataTopic, gc, func(*message.Message) error {
		attempts <- struct{}{}
		return failure.WithCode(failure.CodeArangoUnreachable, errors.New("connection refused"))
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- router.Run(ctx) }()
	<-router.Running()
	o := makeBatches(t, shardA, 1)[0]
	if err := gc.Publish(dataTopic, outMessage(t, o)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-attempts:
	case <-time.After(20 * time.Second):
		t.Fatal("handler never called")
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("router did not stop while the handler was waiting to retry")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stopping took %v", d)
	}
	if poison.n() != 0 {
		t.Errorf("%d messages poisoned on shutdown", poison.n())
	}
}

type countingPublisher struct {
	mu    sync.Mutex
	count int
}

func (p *countingPublisher) Publish(string, ...*message.Message) error {
	p.mu.Lock()
	p.count++
	p.mu.Unlock()
	return nil
}
func (p *countingPublisher) Close() error { return nil }
func (p *countingPublisher) n() int       { p.mu.Lock(); defer p.mu.Unlock(); return p.count }
