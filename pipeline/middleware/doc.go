// Package middleware is the receive side's cross-cutting behaviour as
// Watermill handler middleware (func(message.HandlerFunc) message.HandlerFunc),
// plus the producer-side publisher decorators for tracing and metrics.
//
// # The order, written down once
//
// Chain (chain.go) applies them in this order, outermost first:
//
//	Tracing → Poison → Metrics → Recover → Decode → Dedupe → Retry → handler
//
// Why this order:
//
//   - Tracing is outermost so that one consumer span, the child of the
//     producer's span from the message headers, covers everything done for
//     the message, including publishing it to the poison topic.
//   - Poison is outside everything that can fail permanently: decode errors,
//     foreign messages, unknown versions, recovered panics and permanent
//     apply errors all reach it. It parks the message on the poison topic and
//     reports success, so the original is acked and the partition moves on.
//     If the poison publish fails, the original is nacked (never lost).
//   - Metrics is inside Poison so it still sees (and counts by code) the
//     errors Poison swallows, and outside Decode so it can count messages
//     that do not decode.
//   - Recover is inside Poison, so a panic becomes a permanent error that is
//     poisoned (with its stack) instead of being redelivered forever.
//   - Decode runs before Dedupe and the handler: the handler never decodes
//     (BatchFrom), and Dedupe reads the batch's shard and position.
//   - Dedupe is outside Retry, so a duplicate is never retried, and its
//     position advances only after the handler (with its retries) succeeded.
//   - Retry is innermost: it repeats only the handler, and only for
//     failure.IsRetryable errors, with exponential backoff, jitter and a
//     cap, stopping when the message's context ends.
//
// # Invariants
//
//   - A message is acked only when the handler succeeded, when Dedupe found
//     it already applied, or when it is safely on the poison topic.
//   - Every other outcome (retryable errors after the retries, unclassified
//     errors, cancellation, a failed poison publish) returns an error: the
//     router nacks and the subscriber redelivers. Nothing is dropped.
//   - Batches of one shard come from one Kafka partition, in order, one at a
//     time; Dedupe relies on that and on the receiver's rule of package
//     events: a batch at or below the last applied position P of its shard
//     is skipped, one with Prev <= P < Pos (or starting a newer epoch) is
//     applied, and one with P < Prev is a gap, never applied. Because the
//     handler applies, then the checkpoint is synced, then the offset is
//     committed, a crash replays a suffix that Dedupe (or the idempotent
//     apply) turns into no-ops.
//   - Errors are classified where they enter (package pipeline/failure);
//     middleware only asks (IsRetryable, IsPermanent, CodeOf).
//   - Tracer and meter providers are injected; nil means off. Nothing here
//     touches the global providers.
package middleware
