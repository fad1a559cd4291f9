package middleware

import (
	"context"
	"errors"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/dc2dc/dc2dc/pipeline/failure"
)

func newRecorder(t *testing.T) (*tracetest.SpanRecorder, *sdktrace.TracerProvider) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return rec, tp
}

func spanNamed(t *testing.T, spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	for _, s := range spans {
		if s.Name() == name {
			return s
		}
	}
	names := []string{}
	for _, s := range spans {
		names = append(names, s.Name())
	}
	t.Fatalf("no span %q among %v", name, names)
	return nil
}

func attr(s sdktrace.ReadOnlySpan, key string) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// A batch's trace goes send-shard task → send span → (Kafka, mirror copying
// headers) → process span → apply span.
func TestTracingAcrossTheWire(t *testing.T) {
	rec, tp := newRecorder(t)
	tr := NewTracing(tp)

	// Datacenter A: the send-shard task's span, then publish.
	ctx, root := tp.Tracer("test").Start(context.Background(), "send-shard")
	msg := msgFor(t, batchAt(testShard, 1, 10, 0, 2))
	msg.SetContext(ctx)
	wire := newRecordingPublisher()
	pub, err := DecoratePublisher(wire, tr.PublisherDecorator())
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish("dc2dc.s1.data", msg); err != nil {
		t.Fatal(err)
	}
	root.End()
	sent := wire.topic("dc2dc.s1.data")[0]
	if sent.Metadata.Get("traceparent") == "" {
		t.Fatal("no traceparent header injected")
	}

	// The mirror copies payload and headers into a new message, with a
	// fresh context (nothing travels but the headers).
	mirrored := message.NewMessage("m", sent.Payload)
	for k, v := range sent.Metadata {
		mirrored.Metadata.Set(k, v)
	}

	// Datacenter B: decode + apply under the tracing middleware.
	h := tr.Middleware(Decode(func(m *message.Message) ([]*message.Message, error) {
		_, span := tp.Tracer("test").Start(m.Context(), "apply")
		span.End()
		return nil, nil
	}))
	if _, err := h(mirrored); err != nil {
		t.Fatal(err)
	}

	spans := rec.Ended()
	send := spanNamed(t, spans, "send dc2dc.s1.data")
	process := spanNamed(t, spans, "process ")
	apply := spanNamed(t, spans, "apply")
	if send.Parent().SpanID() != root.SpanContext().SpanID() {
		t.Error("send span is not the send-shard task's child")
	}
	if process.Parent().SpanID() != send.SpanContext().SpanID() || !process.Parent().IsRemote() {
		t.Error("process span is not the (remote) child of the send span")
	}
	if apply.Parent().SpanID() != process.SpanContext().SpanID() {
		t.Error("apply span is not the process span's child")
	}
	for _, s := range []sdktrace.ReadOnlySpan{send, process, apply} {
		if s.SpanContext().TraceID() != root.SpanContext().TraceID() {
			t.Errorf("%s is in another trace", s.Name())
		}
	}
	if send.SpanKind() != trace.SpanKindProducer || process.SpanKind() != trace.SpanKindConsumer {
		t.Error("span kinds")
	}
	if v, ok := attr(process, "dc2dc.position"); !ok || v.AsString() != "1:10.0" {
		t.Errorf("position attribute %v", v)
	}
	if v, ok := attr(process, "dc2dc.shard"); !ok || v.AsString() != testShard.String() {
		t.Errorf("shard attribute %v", v)
	}
}

func TestTracingRecordsErrors(t *testing.T) {
	rec, tp := newRecorder(t)
	tr := NewTracing(tp)
	msg := msgFor(t, batchAt(testShard, 1, 10, 0, 1))
	_, err := tr.Middleware(func(*message.Message) ([]*message.Message, error) {
		return nil, failure.WithCode(failure.CodeArangoUnreachable, errors.New("refused"))
	})(msg)
	if err == nil {
		t.Fatal("error swallowed")
	}
	s := rec.Ended()[0]
	if s.Status().Code != codes.Error || len(s.Events()) == 0 {
		t.Errorf("status %v, %d events", s.Status(), len(s.Events()))
	}
	if v, _ := attr(s, "dc2dc.error.code"); v.AsString() != string(failure.CodeArangoUnreachable) {
		t.Errorf("code attribute %v", v)
	}
	if v, _ := attr(s, "dc2dc.error.class"); v.AsString() != "retryable" {
		t.Errorf("class attribute %v", v)
	}

	// A failed publish marks the send span.
	wire := newRecordingPublisher()
	wire.failures = 1
	pub, _ := DecoratePublisher(wire, tr.PublisherDecorator())
	if err := pub.Publish("t", message.NewMessage("u", nil)); err == nil {
		t.Fatal("publish error swallowed")
	}
	if s := spanNamed(t, rec.Ended(), "send t"); s.Status().Code != codes.Error {
		t.Errorf("send span status %v", s.Status())
	}
}

func TestTracingNilProviderAndInject(t *testing.T) {
	tr := NewTracing(nil)
	msg := message.NewMessage("u", nil)
	if _, err := tr.Middleware(func(*message.Message) ([]*message.Message, error) { return nil, nil })(msg); err != nil {
		t.Fatal(err)
	}
	// With a real provider, Inject writes the context's span without a new span.
	rec, tp := newRecorder(t)
	ctx, span := tp.Tracer("x").Start(context.Background(), "op")
	m := &message.Message{}
	m.SetContext(ctx)
	NewTracing(tp).Inject(m)
	span.End()
	if m.Metadata.Get("traceparent") == "" || len(rec.Ended()) != 1 {
		t.Errorf("inject: %v, %d spans", m.Metadata, len(rec.Ended()))
	}
	c := MetadataCarrier{"a": "1", "b": "2"}
	c.Set("c", "3")
	if len(c.Keys()) != 3 || c.Get("c") != "3" {
		t.Error("carrier")
	}
}
