package middleware

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/dc2dc/dc2dc/events"
)

// chainMessages pre-encodes a run of consecutive batches of one shard with
// records documents of ~1 KiB each.
func chainMessages(b *testing.B, n, records int) []*message.Message {
	msgs := make([]*message.Message, n)
	var prev *events.Batch
	for i := range msgs {
		bt := batchAt(testShard, 1, uint64((i+1)*records), 0, records)
		for j := range bt.Records {
			d := bt.Records[j].Event.(*events.Document)
			d.Doc = append(d.Doc[:len(d.Doc)-1:len(d.Doc)-1], `,"pad":"`+pad1k+`"}`...)
		}
		if prev != nil {
			bt.Prev = prev.Pos
		}
		prev = bt
		msgs[i] = msgFor(b, bt)
	}
	return msgs
}

var pad1k = strings.Repeat("x", 1000)

// benchChain measures one message through h. Every iteration gets a fresh
// message (as a subscriber delivers) over the same payload; after each run
// of n the shard is forgotten, so Dedupe applies the run again.
func benchChain(b *testing.B, records int, wrap func(message.HandlerFunc) message.HandlerFunc, release func()) {
	const n = 256
	msgs := chainMessages(b, n, records)
	h := wrap(func(*message.Message) ([]*message.Message, error) { return nil, nil })
	b.ReportAllocs()
	b.SetBytes(int64(len(msgs[0].Payload)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		src := msgs[i%n]
		if i%n == 0 && release != nil {
			release()
		}
		msg := message.NewMessageWithContext(context.Background(), src.UUID, src.Payload)
		msg.Metadata = src.Metadata
		if _, err := h(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func newBenchChain(b *testing.B, withSDK bool) *Chain {
	cfg := Config{PoisonTopic: "poison", PoisonPublisher: newRecordingPublisher()}
	if withSDK {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tracetest.NewSpanRecorder()), sdktrace.WithSampler(sdktrace.AlwaysSample()))
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		b.Cleanup(func() { _ = tp.Shutdown(context.Background()); _ = mp.Shutdown(context.Background()) })
		cfg.TracerProvider, cfg.MeterProvider = tp, mp
	}
	c, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// BenchmarkChain: the per-message overhead of the handler chain, for batches
// of 1 and 100 ~1 KiB documents. "decode-only" is the floor (Decode is work
// the handler would do anyway); "noop" is the full chain with tracing and
// metrics off; "sdk" with the OpenTelemetry SDK recording every span (an
// in-memory recorder that keeps growing) and a manual metric reader.
func BenchmarkChain(b *testing.B) {
	for _, records := range []int{1, 100} {
		b.Run("decode-only/records="+strconv.Itoa(records), func(b *testing.B) {
			benchChain(b, records, Decode, nil)
		})
		b.Run("noop/records="+strconv.Itoa(records), func(b *testing.B) {
			c := newBenchChain(b, false)
			benchChain(b, records, c.Wrap, func() { c.ReleaseShard(testShard.String()) })
		})
		b.Run("sdk/records="+strconv.Itoa(records), func(b *testing.B) {
			c := newBenchChain(b, true)
			benchChain(b, records, c.Wrap, func() { c.ReleaseShard(testShard.String()) })
		})
	}
}
