// Package send is the send-shard task: one shard of cluster A, from its
// leader's WAL to dc2dc.<sync>.data in Kafka A (ARCHITECTURE §3 steps 2–7).
//
// # Flow
//
// A Task runs epochs one after another. Each epoch is a source.Source (one
// leader, snapshot then WAL tail) whose Sink feeds a pipeline/batcher
// (Stream: the epoch, Start = the checkpoint position); the batcher's Emit
// publishes each batch synchronously through the given publisher (the
// pipeline/kafka publisher decorated with tracing and metrics) to the data
// topic, keyed by the shard.
//
// # Checkpoints (ack-driven)
//
// Only after Kafka acknowledged a batch does the task store a
// store.SourcePosition: the source position of the last Emit whose records
// are all in acknowledged batches. Its Tick is min(source tick, tick of the
// acknowledged batch), so the batcher of a resumed task starts with Prev at
// or before what the receiver has applied (no false gap) and the source
// re-reads at most records the receiver deduplicates. In the snapshot phase
// the position cannot be resumed (Phase initial-sync): a restart starts a new
// epoch. Idle shards move their checkpoint with heartbeats that carry the
// source tick (only when no transaction is open), so a restart does not
// re-scan, or lose to pruning, a WAL the shard had no records in.
//
// # Epochs
//
// Epochs come from Epochs.Next (the control plane: a fenced counter in A's
// _dc2dc; StoreEpochs for one worker and tests). A new epoch is written to
// the checkpoint store before anything of it is published, and every epoch
// begins with a snapshot. A *source.NewEpochError first lets the batcher
// publish (and Kafka acknowledge) everything emitted, then starts a new
// epoch on the leader the error names. A resync request from B for the
// current epoch (ctl.down) ends the epoch the same way. source.ErrShardDropped,
// or CodeSourceShardMissing (the shard left the shard map: a drop whose
// marker the tail could not see), ends the task (nil, phase "done"). Retryable errors back off and resume from the
// checkpoint; permanent errors are returned.
//
// # Revision resync across datacenters
//
// RemoteTarget is the source.Target of a new epoch: it puts a "tree-request"
// (then "revisions-request"s) into the shard's own data stream, so B answers
// after applying everything before, and waits for the answer on ctl.down
// (package ctl). When the tree does not come within Config.TreeTimeout it
// falls back to a full snapshot and logs a warning: a full snapshot does not
// remove documents B holds that A no longer has, so the fallback is only
// exact for an empty or lagging-but-complete B. A revisions answer that does
// not come in time fails the snapshot (a new epoch tries again).
//
// # Heartbeats
//
// When nothing was emitted for Config.HeartbeatInterval, an
// events.Heartbeat (the leader's latest tick from the tail, the phase) goes
// into the stream, so B knows A is alive and computes lag in ticks.
//
// # Metrics
//
// Metrics (Deps.Metrics, shared by a worker's tasks) feeds the WAL tail hop
// of ARCHITECTURE §9 from source.Config.OnTail: dc2dc.source.tail.records
// and dc2dc.source.ticks_behind per shard (deleted when the task ends) and
// dc2dc.source.tail.request.seconds. Publish metrics come from the
// publisher's decorators (pipeline/middleware).
package send
