// Package mirror forwards Kafka records between the two datacenters' Kafka
// clusters: the only dc2dc component that crosses datacenters.
//
// For a sync it forwards dc2dc.<syncId>.data and dc2dc.<syncId>.ctl.up from
// cluster A to cluster B and dc2dc.<syncId>.ctl.down from B to A
// (SyncRoutes). Each direction is a Route: a source cluster, a target
// cluster, and topics by name or regular expression. Topics keep their names.
// Poison topics (*.poison) and internal topics (__*) are never mirrored.
//
// # Why sarama and not Watermill
//
// The mirror is a byte-level forwarder: it must keep each record's
// partition, key, headers (W3C traceparent travels in them) and timestamp,
// and it must know, per partition, which source offset each acknowledged
// record came from. Watermill turns records into messages (UUID, metadata,
// payload), chooses partitions through a marshaler and acknowledges per
// message without exposing offsets; its per-ack commit mode runs at ~20
// records/s on kfake. IBM/sarama gives the consumer group (with marked
// offsets and its own periodic commit) and an idempotent AsyncProducer with a
// manual partitioner, which is exactly the forwarder's shape, at the
// transport's speed.
//
// # Invariants
//
//   - Partition and order: a record of source partition p goes to target
//     partition p of the topic of the same name, in source order. The target
//     topic is created explicitly with the source's partition count (and grown
//     with it), the source topic's retention and cleanup policy, and its
//     record size limit plus room for the added header; the producer is
//     idempotent with one request in flight per broker and retries retriable
//     errors (1000 times, capped backoff), so it neither reorders nor
//     duplicates within a session. The source is read read_committed:
//     records of aborted transactions are never forwarded.
//   - Content: key, value (nil stays nil), headers and timestamp are copied.
//     One header is added (replacing one copied from the source):
//     SourceHeader = "<srcCluster>/<topic>/<partition>/<offset>".
//   - The target is the checkpoint: at every (re)start and after every
//     rebalance, for each claimed partition, the mirror reads the last record
//     of the target partition carrying its header and resumes the source
//     partition at offset+1. The header is written atomically with the record,
//     so after a kill -9 at any moment the mirror neither skips nor repeats a
//     record, even when its source offset commit was lost or is ahead of what
//     the target holds (a target that lost acknowledged writes gets them
//     again). When the target partition holds no forwarded record (new topic,
//     all of it deleted by retention) the group's committed offset is used,
//     else the oldest source record.
//   - Committed source offsets only follow acknowledgements: an offset is
//     marked when the oldest record in flight of its partition is
//     acknowledged, never past a refused record. They exist so Kafka tooling
//     shows the mirror's lag and as the fallback above.
//   - A generation (consumer-group session) closes its producer before it
//     ends, waiting for every record in flight, so the next generation's
//     resume sees them.
//
// Order of duties, per generation: (1) create or grow the claimed target
// topics, (2) read the last forwarded record of each claimed target
// partition and set the source position after it, (3) forward records in
// order, (4) on each acknowledgement mark offset+1 (sarama commits marks every
// second), (5) on session end close the producer and wait for acks.
//
// # Errors
//
// Retriable problems (brokers down, rebalances, timeouts, a produce error
// after a broker lost state) restart the route with an exponential backoff;
// the restart resumes from the target, so they cost time, not records. The
// target client rides out a target outage of up to a minute without failing
// records (metadata retries), and retries failed produce requests.
//
// One hazard remains: sarama may give up on a record (no leader found) and
// still deliver a later record of the same partition once the target is
// back, which leaves a hole that resuming after the last record would keep.
// So whenever a record fails, its offset is committed on the source with the
// metadata "dc2dc-mirror:failed" (acknowledgements past it clear the mark),
// and every (re)start checks, for each partition with such a failed offset,
// that the target does not hold a later record without holding the failed
// one. Two conditions stop the mirror (Run returns a *StopError wrapping
// ErrPermanent), because continuing would lose a record:
//
//   - CodeRefused: the target refuses a record for good (larger than
//     MaxMessageBytes or the broker's limit, not authorized, invalid).
//   - CodeGap: the hole above was found. Re-forward the record by hand or
//     reset the target partition, then commit the group's offset without the
//     mark (e.g. kafka-consumer-groups --reset-offsets) and restart.
//
// A mirror killed within a second of a failure may die before the mark is
// committed; the hole is then not detected.
//
// Shutdown is bounded: when Run's context ends, metadata retries stop at
// once, records in flight get ShutdownTimeout to be acknowledged, then the
// target connection is closed under them (the next run resumes from the
// target anyway).
//
// # What is not guaranteed
//
// Two mirror processes in the same consumer group split the partitions. If
// one of them is cut off from its group but still connected to the target
// (a zombie), both may write a partition for up to a session timeout, which
// duplicates records. Downstream dedupe (by the per-shard sequence in the
// record) absorbs duplicates; it cannot repair reordering, which a single
// writer per partition rules out. Run one mirror per route, or accept
// duplicates during rebalances.
//
// # Observability
//
// Metrics (Prometheus registerer and OpenTelemetry meter passed to New, none
// global): dc2dc_mirror_records_forwarded_total and
// dc2dc_mirror_bytes_forwarded_total {route, topic} (acknowledged by the
// target), dc2dc_mirror_lag_records {route, topic, partition} (source
// high-water mark minus the next offset the target lacks, updated on every
// acknowledgement and every 5s; it exists while this mirror owns the
// partition: while a route reconnects, the group's lag in Kafka tooling
// shows it), dc2dc_mirror_errors_total {route, kind: consume, produce,
// resume, topics, route, and rebalance, which is expected noise}, and
// dc2dc_mirror_resumes_total {route, from=target|group}.
package mirror
