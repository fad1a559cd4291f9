// Package kafkatest is the conformance suite of the Kafka transport (package
// pipeline/kafka), modelled on Watermill's pubsub/tests: RunConformance
// checks one contract (publish/subscribe with metadata, per-key order, nack
// redelivery, consumer-group resume with committed offsets respected, acks
// committed on Close and on cancel, two members splitting partitions,
// 10 MiB messages through a 1 MiB record limit, every compression codec,
// context cancellation, idempotent topic creation) against whatever Kafka
// the caller's Config points at. The package's own tests run it against the embedded kfake broker
// always and against a real Kafka when KAFKA_BROKERS is set.
//
// Every subtest uses its own topics and consumer groups (random names), so
// the suite can run against a shared cluster; it never deletes anything.
package kafkatest
