// Package store keeps dc2dc's per-shard checkpoints in Pebble, so that every
// send-shard and receive-shard task resumes exactly where it stopped after a
// crash, with nothing lost and nothing applied twice.
//
// # Records
//
// Three typed records, each under the key kind 0x00 sync-id 0x00 shard:
//
//   - SourcePosition (sending side, cluster A): the shard leader (Epoch,
//     Leader) and the last position (Tick, Sub) whose events Kafka
//     acknowledged, plus the initial-sync progress (SnapshotTick,
//     LastScanned) and the Phase.
//   - AppliedPosition (receiving side, cluster B): the source position
//     (Epoch, Tick, Sub) of the last batch applied to cluster B and the
//     Kafka Partition/Offset of its last message.
//   - SyncMeta: per-sync process metadata, e.g. the highest leader epoch
//     seen (fencing) and the owner.
//
// Listing one sync's shards is a prefix scan. Values are versioned (a
// leading version byte, then varints and length-prefixed strings); a value
// that does not decode returns a *DecodeError (ErrCorruptRecord).
//
// # Invariants
//
//   - Monotonicity: Put and PutMany refuse to move a record backwards (a
//     lower Pos: epoch, then tick, then sub; the leader epoch for SyncMeta)
//     with a *RegressionError (ErrRegression). Other fields (LastScanned,
//     Phase, Offset) are not compared. Equal positions are accepted, so rewriting a
//     checkpoint after a replay is harmless. Only Reset moves backwards, and
//     it logs each such move.
//   - Atomicity and durability: PutMany writes all its records in one Pebble
//     batch, fsynced before it returns (unless Config.NoSync, for tests).
//     Checkpoint per batch of events, not per event. When several shards
//     checkpoint at once, group them: one PutMany, or a Committer whose Put
//     is called by every shard's task concurrently and whose Run commits
//     all waiting requests in one synced batch (each request still atomic
//     and guarded on its own). Plain concurrent Puts also share fsyncs in
//     Pebble's commit pipeline, but less well with many shards.
//   - Exclusivity: one process opens a store at a time (Pebble's directory
//     lock, even for ReadOnly). A second opener gets a *LockedError naming
//     the holder's pid; operator commands must ask the running worker
//     instead (admin API: List, or Export, which writes a consistent copy
//     that can be opened read-only elsewhere) or run while it is stopped.
//
// # Durability order
//
// Receiving side: (1) apply a batch to cluster B, idempotently; (2) Put its
// AppliedPosition (synced); (3) mark the Kafka offset, committed later by
// the consumer group's autocommit. A crash after (1) or (2) replays a suffix
// of batches whose application changes nothing, because apply is idempotent
// and the applied position tells the receiver where B already is. Cluster B
// and Pebble cannot commit atomically together; this order makes that
// unnecessary.
//
// Sending side: a SourcePosition advances only after Kafka acknowledged every
// batch up to it (see package store/progress, which turns out-of-order acks
// into that position). A crash re-sends a suffix that the receiver
// deduplicates by (Epoch, Tick).
package store
