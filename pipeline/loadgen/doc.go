// Package loadgen drives the pipeline end to end without ArangoDB: a
// synthetic send-shard side and a synthetic receive-shard side that use the
// real pipeline pieces (batcher, Kafka publisher and subscriber, middleware
// chain, checkpoint store), so that process tests can kill -9 any process and
// check that every event arrived and was applied exactly once, in per-shard
// order, and so that benchmarks measure the pipeline's own rate and latency.
//
// Produce generates, per shard, documents with contiguous ticks 1..N (the
// tick is the event's sequence number), batches them with pipeline/batcher,
// publishes each batch synchronously and checkpoints the acknowledged tick in
// the store after every batch. A restart resumes after the checkpoint, with
// the batch's Prev set to it: the batches sent between the last checkpoint
// and the crash are sent again, which the receiver must absorb. Documents
// are padded with a run of 'x' (compresses about 80 times) or, with
// ProduceConfig.RandomPad, with random characters that hardly compress.
//
// Consume runs a Watermill router on the data topic with the middleware
// chain, and applies batches to a Ledger, a Pebble database standing in for
// cluster B. The ledger is deliberately not idempotent: it appends every
// applied event under its (shard, tick) key and counts an event applied twice
// as a duplicate and a tick that does not follow the previous one as a gap.
// The applied position lives in the ledger, written in the same atomic batch
// as the events (as the applied-position record lives in cluster B); the
// checkpoint store is written after it, following the durability order.
// Records at or below the applied position inside a batch that straddles it
// are skipped one by one, so an exactly-once ledger is the expected outcome,
// not a tolerance. Shards apply concurrently, each under its own lock (as B
// applies shards in parallel), so their synced commits share fsyncs.
package loadgen
