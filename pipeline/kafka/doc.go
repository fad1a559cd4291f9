// Package kafka is dc2dc's Kafka transport: Watermill publishers and
// subscribers built on watermill-kafka (sarama underneath), topic naming and
// explicit topic creation, and the splitting of messages larger than a Kafka
// record into fragments.
//
// The code speaks only the Kafka protocol through sarama, so it runs the same
// against a real Kafka cluster and against the embedded kfake broker
// (package pipeline/broker). The conformance suite in kafkatest pins the
// contract on both.
//
// Invariants:
//
//   - Order. A message's Kafka key is its dc2dc-shard metadata, so all
//     messages of one shard land in one partition. The producer is
//     idempotent by default (acks=all, one in-flight request per broker,
//     retries), so retries neither reorder nor duplicate records within a
//     partition. Publish is synchronous: when it returns nil, every record
//     was acknowledged by all in-sync replicas. A Publish of several
//     messages keeps them in flight together (much faster than one call per
//     message) in order within each partition; if it fails, the error names
//     every failed message (records batched with a rejected one fail with
//     it) and the messages it does not name were written.
//   - Acked. A subscriber hands out one message per partition at a time.
//     Acking it marks its offset; sarama commits marked offsets every
//     Consumer.AutoCommitInterval and when the subscriber closes (Close, and
//     cancelling a subscription's context, first wait briefly until every
//     acked message is marked: watermill-kafka would otherwise pick at random
//     between marking a last-moment ack and stopping; the wait does not
//     cover a message acked after being nacked, which watermill-kafka
//     redelivers as a copy we do not see). Nacking redelivers the same
//     message. A message not committed before a crash or rebalance (not
//     acked, or acked within the last AutoCommitInterval) is delivered
//     again (at-least-once): consumers apply
//     idempotently, and checkpoints, not Kafka offsets, are the source of
//     truth for resuming (durability order: apply, sync the checkpoint, then
//     the offset commit may follow).
//   - Fragments. A message whose record would exceed Config.MaxMessageBytes
//     is published as consecutive records with the same key and metadata,
//     plus dc2dc-frag-id/-idx/-n headers. The subscriber reassembles the
//     run below Watermill and delivers one message carrying the offset of the
//     run's last record: nothing of a run is committed until the whole
//     message is acked. A run that cannot be reassembled (incomplete,
//     interleaved, inconsistent, over Config.MaxReassembledBytes) is
//     delivered as one payload-less message with dc2dc-frag-error set;
//     BrokenFragments turns it into an ErrBrokenFragments error for the
//     poison path. A partial run followed by the same message from its first
//     fragment again (a retried Publish) is superseded silently. Memory: one
//     run per claimed partition, each bounded by MaxReassembledBytes.
//   - Errors are classified where they enter: every error is a
//     *failure.Error (pipeline/failure) with its class and stable code
//     (DC2DC-E1xxx for Kafka, E5001 for configuration, E2001 for a broken
//     fragment run) wrapping an *Error with one kind (ErrUnreachable,
//     ErrAuth, ErrTLS, ErrMessageTooLarge, ...) and a message naming the fix.
//     It matches exactly one of ErrRetryable and ErrPermanent (failure's
//     markers). Context cancellation is passed through as is.
//   - Topics are created explicitly (EnsureTopics), never auto-created: the
//     partition count is fixed at creation and verified afterwards.
package kafka
