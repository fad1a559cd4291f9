package middleware

import (
	"context"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

type batchKey struct{}

// BatchFrom returns the batch Decode attached to the message. Handlers behind
// Decode call it instead of decoding the payload themselves.
func BatchFrom(msg *message.Message) (*events.Batch, bool) {
	b, ok := msg.Context().Value(batchKey{}).(*events.Batch)
	return b, ok && b != nil
}

// WithBatch returns a context carrying b, as Decode attaches it (for tests of
// handlers that run without the chain).
func WithBatch(ctx context.Context, b *events.Batch) context.Context {
	return context.WithValue(ctx, batchKey{}, b)
}

// Decode parses the dc2dc headers and the payload of every message into an
// *events.Batch, attached to the message's context (BatchFrom). It fails
// permanently, with a code, on:
//
//   - a message without the dc2dc-v header: failure.CodeForeignMessage;
//   - a newer or older major version (header or payload):
//     failure.CodeUnsupportedVersion;
//   - an unknown event kind: failure.CodeUnknownKind;
//   - anything else undecodable, or headers that disagree with the payload:
//     failure.CodeMalformed.
//
// The handler is not called for such a message.
func Decode(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		b, err := decodeMessage(msg)
		if err != nil {
			return nil, err
		}
		msg.SetContext(WithBatch(msg.Context(), b))
		return h(msg)
	}
}

func decodeMessage(msg *message.Message) (*events.Batch, error) {
	if msg.Metadata.Get(events.MetaVersion) == "" {
		return nil, failure.WithCode(failure.CodeForeignMessage,
			fmt.Errorf("message %s has no %s header: not written by dc2dc", msg.UUID, events.MetaVersion))
	}
	hdr, err := events.ParseMetadata(msg.Metadata.Get)
	if err != nil {
		return nil, err // *events.DecodeError: permanent, coded by its reason
	}
	b, err := events.Decode(msg.Payload)
	if err != nil {
		return nil, err
	}
	if b.Shard != hdr.Shard || b.Pos != hdr.Pos || b.Sync != hdr.Sync ||
		(msg.Metadata.Get(events.MetaPrev) != "" && b.Prev != hdr.Prev) {
		return nil, failure.WithCode(failure.CodeMalformed, failure.Permanent(fmt.Errorf(
			"headers say %s %s at %s, payload says %s %s at %s",
			hdr.Sync, hdr.Shard, hdr.Pos, b.Sync, b.Shard, b.Pos)))
	}
	return b, nil
}
