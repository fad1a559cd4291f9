// Package events is dc2dc's vocabulary: the typed events that travel from a
// send-shard task in datacenter A to a receive-shard task in datacenter B, and
// their wire encoding.
//
// # Vocabulary
//
// One Go type per WAL marker kind that ArangoDB's /_api/wal/tail emits
// (database create/drop 1100/1101, collection create/drop/rename/change/
// truncate 2000–2004, index create/drop 2100/2101, view create/drop/change
// 2110–2112, transaction start/commit/abort 2200–2202, document 2300 and
// remove 2302), plus dc2dc's own kinds in the 9000 range: the snapshot of an
// initial or repair sync (SnapshotBegin, SnapshotDocuments, SnapshotRemove,
// SnapshotEnd), Heartbeat, and Control messages of the control plane.
// A WAL-marker event's Kind equals the marker's type number, so logs and the
// spec read the same.
//
// # Batches
//
// Events never travel alone: a Batch carries the events of one shard for one
// contiguous range of its stream, and is one Kafka message (split into
// fragments by the transport only when it exceeds the message size limit).
// A batch is identified by (Shard, Epoch, Position) and every batch of a shard
// is strictly ordered by Position:
//
//   - Epoch is the shard stream's epoch. The sender starts a new epoch every
//     time it cannot continue the previous stream exactly (a new shard leader
//     whose ticks cannot be mapped, a pruned WAL, a reset): a new epoch always
//     begins with a snapshot, so it supersedes everything before it.
//   - Tick is the source tick of the last event in the batch (ticks are per
//     DBserver, hence only comparable within an epoch). Snapshot chunks sit
//     before the snapshot tick: Tick 0 and Sub = chunk number 1, 2, ...;
//     SnapshotEnd has Tick = snapshot tick; WAL batches follow with larger ticks.
//
// A batch also carries Prev, the position where its writer's previous batch
// ended. A receiver that has applied position P
//
//   - skips a batch with Pos <= P (a replay: the dedupe rule, Position.Less),
//   - applies a batch with Prev <= P < Pos (records at or below P inside it
//     are replays, which idempotent apply absorbs),
//   - and never applies a batch with P < Prev: something between is missing,
//     which is a bug or a lost message, so the shard is resynchronised.
//
// Two writers of one stream (a task that moved while its old worker still
// runs) read the same immutable WAL of the same leader in the same epoch, so
// their batches agree on every tick and any interleaving of the two is safe.
//
// # Encoding and versioning
//
// The payload is a compact binary framing (codec.go) in which documents and
// definitions are carried verbatim as the JSON bytes ArangoDB produced, never
// re-encoded. The envelope's major version is its third byte and the Kafka
// header dc2dc-v. Within a major version fields are only appended to a
// record's body; decoders ignore bytes after the fields they know. A payload of a newer major version, an
// unknown kind, or anything undecodable yields a *DecodeError (errors.Is
// ErrUnsupportedVersion, ErrUnknownKind or ErrMalformed): the consumer routes
// it to the poison topic with the reason and keeps going. Decoders never panic
// on any input (fuzzed).
package events
