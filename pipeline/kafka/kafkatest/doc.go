// Package kafkatest is the conformance suite of the Kafka transport (package
// pipeline/kafka), modelled on Watermill's pubsub/tests: RunConformance
// checks one contract (publish/subscribe, per-key order, nack redelivery,
// consumer-group resume and splitting, large-message reassembly, compression,
// cancellation, topic creation) against whatever Kafka the caller's Config
// points at. The package's own tests run it against the embedded kfake broker
// always and against a real Kafka when KAFKA_BROKERS is set.
//
// Every subtest uses its own topics and consumer groups (random names), so
// the suite can run against a shared cluster; it never deletes anything.
package kafkatest
