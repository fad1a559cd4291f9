// Package source is the send-shard source: for one shard of cluster A it
// produces the ordered stream of events.Records that the pipeline batches
// and publishes, starting with a snapshot (initial or repair sync) and
// continuing with the shard leader's WAL.
//
// # One epoch
//
// A Source runs one epoch of one shard on one leader (ARCHITECTURE.md §6.3,
// §6.4). Without a start tick it first takes a snapshot:
//
//  1. POST /_api/replication/batch on the leader gives the snapshot tick T;
//     the batch is extended at a quarter of its ttl while it is used and
//     deleted at the end.
//  2. SnapshotBegin{T, leader, mode} is emitted. Mode "full" (no Target, or
//     the Target's tree is empty): the shard is dumped
//     (/_api/replication/dump?useEnvelope=false) in SnapshotDocuments chunks.
//     Mode "revisions": A's revision tree at T is compared with the Target's
//     (B's) tree; for the differing ranges A's revisions
//     (/revisions/ranges) and B's revisions (Target.Revisions) are compared;
//     the documents B lacks or holds in another revision are sent
//     (/revisions/documents) as SnapshotDocuments, then the documents only B
//     holds as SnapshotRemove (never a key that was just sent).
//     The Target's tree must already contain every record emitted before
//     (the task drains its pipeline before it starts a new epoch); it is read
//     once, before the batch is created.
//  3. SnapshotEnd{T} is emitted and tailing starts at from=T: the WAL
//     records have ticks > T, and the snapshot holds every change <= T, so
//     there is no gap and no overlap.
//
// Then it tails the shard (package wal) until the context ends or the
// epoch cannot continue.
//
// # Ordering and transactions
//
// Records are emitted in WAL order. The records of a transaction (2200 …
// 2201 with the same tid) are emitted in one Emit call, start first and
// commit last; a transaction larger than Config.MaxTxnRecords/MaxTxnBytes is
// emitted in order in several calls, still start first and commit last. A
// commit is never emitted without its documents: transaction markers with no
// record of this shard between them (other shards' transactions) and lone
// commits are dropped; an aborted transaction that was not emitted yet is
// dropped with its records. A transaction whose write batch ends without its
// commit (the server scanned past it, or a record of another transaction
// follows) breaks the WAL's framing: the source emits what came before it and
// ends the epoch (ReasonInvalidWAL) rather than guess.
//
// # Positions
//
// Every Emit carries the Position to resume from once the emitted records
// are acknowledged: in the snapshot phase it cannot be resumed (a new epoch
// starts over); in the tailing phase Tick is the exclusive "from" tick. While
// a transaction is open the position stays before its start, so a resumed
// stream re-reads the whole transaction (duplicates are absorbed by the
// receiver's dedupe and idempotent apply), never its tail alone.
//
// # End of an epoch
//
// Run returns a *NewEpochError (errors.Is ErrNewEpoch) when the stream
// cannot continue exactly: the shard's leader changed (failover or a moved
// leader, seen in the Leaders map after an error or between two polls), the
// WAL was pruned past the position (frompresent=false, 1414), or the
// snapshot failed after SnapshotBegin was emitted. It names the leader the
// next epoch must use; the task allocates a new epoch and starts a new
// Source without a start tick, whose snapshot repairs whatever the target
// lacks. Nothing is ever skipped silently. A collection drop marker ends the
// stream after the records before it (ErrShardDropped). Retryable errors are
// retried with jittered backoff; permanent ones are returned.
//
// # Memory
//
// Bounded by configuration whatever the shard size or backlog: one WAL
// response (ChunkSize) or dump chunk (DumpChunkSize) and its records, an
// open transaction up to MaxTxnRecords/MaxTxnBytes, and in revisions mode
// one page of A's revisions in the differing ranges (the leader bounds a
// page) with the target's revisions in the same part of the ranges, plus the
// keys sent and the removal candidates, both proportional to the difference.
// The differing ranges are first cut, by the target tree's bucket counts,
// into parts of at most MaxRepairRevisions target revisions, so a target far
// larger than A (a truncate in A) is also read in bounded parts.
// Sink.Emit blocks for backpressure.
//
// # Observability
//
// Config.Logger (nil: off) and Config.OnTail, a callback after every WAL
// answer with the records read, the position and the leader's latest tick
// (ticks behind = LastTick - From) and the request time, from which the
// task feeds dc2dc_source_tail_records_total, dc2dc_source_ticks_behind and
// dc2dc_source_tail_request_seconds.
package source
