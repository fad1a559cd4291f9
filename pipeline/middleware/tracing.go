package middleware

import (
	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// TracerName is the instrumentation scope of dc2dc's pipeline spans.
const TracerName = "github.com/dc2dc/dc2dc/pipeline/middleware"

// MetadataCarrier lets OpenTelemetry propagators read and write Watermill
// message metadata (which travels as Kafka headers, and which the mirror
// copies from Kafka A to Kafka B).
type MetadataCarrier message.Metadata

// Get returns the value of key.
func (c MetadataCarrier) Get(key string) string { return c[key] }

// Set stores a value.
func (c MetadataCarrier) Set(key, value string) { c[key] = value }

// Keys lists the keys.
func (c MetadataCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

var _ propagation.TextMapCarrier = MetadataCarrier(nil)

// Tracing follows a batch from the send-shard task in datacenter A to its
// apply in datacenter B as one trace. The producer side (PublisherDecorator)
// starts a "send" span as a child of the message's context and writes its W3C
// traceparent/tracestate into the message metadata; the consumer side
// (Middleware) reads them back and runs the handler under a "process" span
// that is the send span's child. The handler's own spans, started from
// msg.Context(), nest below.
type Tracing struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

// NewTracing uses tp (nil: no tracing), never the global provider.
func NewTracing(tp trace.TracerProvider) *Tracing {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return &Tracing{
		tracer: tp.Tracer(TracerName),
		prop:   propagation.TraceContext{},
	}
}

func messageAttrs(topic string, msg *message.Message, op string) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		attribute.String("messaging.system", "kafka"),
		attribute.String("messaging.operation.type", op),
		attribute.String("messaging.destination.name", topic),
		attribute.Int("messaging.message.body.size", len(msg.Payload)),
	}
	if s := msg.Metadata.Get(events.MetaShard); s != "" {
		attrs = append(attrs, attribute.String("dc2dc.shard", s))
	}
	return attrs
}

// Middleware is the consumer side, a message.HandlerMiddleware.
func (t *Tracing) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		topic := message.SubscribeTopicFromCtx(msg.Context())
		ctx := t.prop.Extract(msg.Context(), MetadataCarrier(msg.Metadata))
		ctx, span := t.tracer.Start(ctx, "process "+topic,
			trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(messageAttrs(topic, msg, "process")...))
		defer span.End()
		msg.SetContext(ctx)

		out, err := h(msg)

		if b, ok := BatchFrom(msg); ok {
			span.SetAttributes(
				attribute.String("dc2dc.position", b.Pos.String()),
				attribute.Int("dc2dc.records", len(b.Records)))
		}
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
			span.SetAttributes(attribute.String("dc2dc.error.class", failure.Classify(err).String()))
			if c := failure.CodeOf(err); c != "" {
				span.SetAttributes(attribute.String("dc2dc.error.code", string(c)))
			}
		}
		return out, err
	}
}

// Inject writes the trace context of msg.Context() into msg's metadata
// without starting a span (for publishers that trace themselves).
func (t *Tracing) Inject(msg *message.Message) {
	if msg.Metadata == nil {
		msg.Metadata = make(message.Metadata)
	}
	t.prop.Inject(msg.Context(), MetadataCarrier(msg.Metadata))
}

// PublisherDecorator is the producer side: a message.PublisherDecorator
// that wraps every Publish in a producer span per message (a child of the
// message's context, msg.SetContext) and injects the span's context into the
// message metadata before the message is handed to the publisher.
func (t *Tracing) PublisherDecorator() message.PublisherDecorator {
	return func(pub message.Publisher) (message.Publisher, error) {
		return &tracingPublisher{Publisher: pub, t: t}, nil
	}
}

type tracingPublisher struct {
	message.Publisher
	t *Tracing
}

func (p *tracingPublisher) Publish(topic string, msgs ...*message.Message) error {
	spans := make([]trace.Span, len(msgs))
	for i, msg := range msgs {
		if msg.Metadata == nil {
			msg.Metadata = make(message.Metadata)
		}
		ctx, span := p.t.tracer.Start(msg.Context(), "send "+topic,
			trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(messageAttrs(topic, msg, "send")...))
		p.t.prop.Inject(ctx, MetadataCarrier(msg.Metadata))
		spans[i] = span
	}
	err := p.Publisher.Publish(topic, msgs...)
	for _, span := range spans {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
	return err
}
