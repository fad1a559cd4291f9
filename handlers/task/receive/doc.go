// Package receive is the receive side in cluster B (ARCHITECTURE §3 steps
// 9–10, §6.2): one consumer of dc2dc.<sync>.data in Kafka B (consumer group
// dc2dc.<sync>.apply) with the pipeline/middleware Chain, dispatching each
// batch to the target.Receiver of its shard, and answering the shard-level
// control requests of package task/ctl.
//
// # Durability order
//
// For every batch: apply to B (target.Receiver: dedupe and gap rules, the
// Applier) → the applied position in B's _system/_dc2dc (Receiver, If-Match
// and monotonic) → the worker's Pebble store.AppliedPosition (synced) → the
// handler returns, the message is acked, its offset marked and committed
// later. A crash anywhere replays a suffix that changes nothing on B
// (isRestore+replace, removal by key, transactions all or nothing). The
// chain's Dedupe reads its positions from B's _dc2dc (target.Positions), the
// same records the Receivers start from, so a new worker or a restarted one
// continues exactly where B is.
//
// A Receiver is created for a shard the first time one of its batches
// arrives; Start loads its position from B.
//
// # Resync
//
// A *target.ResyncError (truncate in A, a gap, a transaction too large) is
// turned into a "resync-request" (package ctl) on dc2dc.<sync>.ctl.down for
// the batch's epoch, at most once per Config.ResyncRepeat per shard and
// epoch, and the batch is acked: the rest of that epoch cannot be applied
// anyway (gaps, asked again) and the sender's new epoch, which begins with a
// revision snapshot, supersedes it. Dedupe's own gap refusals (after a
// restart) ask for a resync the same way and are parked on the poison topic.
//
// # Message timeout
//
// When two consecutive batches of one shard and epoch were sent further
// apart than Config.MessageTimeout (heartbeats come every second from a
// live send task, so this means the sender was gone), the later batch is
// applied and a resync request (reason "message-timeout") follows, so the
// shard is brought back by a revision snapshot of a new epoch.
//
// # Tree and revisions requests
//
// "tree-request" and "revisions-request" records arrive in the shard's data
// stream, so they are answered after everything before them was applied:
// B's revision tree of the partner shard (GET
// /_api/replication/revisions/tree on the shard leader at a replication
// batch, through handlers/arango/verify), or B's (key, revision) pairs in the
// requested ranges (revisions/ranges then revisions/documents on the leader),
// published on ctl.down. A replayed request is answered again (the sender
// ignores answers nobody waits for), unless older than Config.MaxRequestAge.
//
// # Resolver
//
// The target.Resolver comes from the caller (the control plane keeps the
// mapping). BatchResolver, for tests and a single sync, resolves a shard to
// A's collection name as the batches carry it (Batch.Collection): it assumes
// B's collection has A's name.
//
// # Status
//
// Status lists per shard: phase, applied position, lag in seconds (now −
// SentAt of the last applied batch) and ticks (the leader's latest tick from
// the last heartbeat − the applied tick, in the same epoch), the last
// snapshot (mode, documents and removals received) and the last error.
package receive
