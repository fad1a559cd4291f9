// Package runner runs a sync worker's tasks (worker.Runner): in a source
// datacenter the send-shard tasks the leader master assigns, in a target
// datacenter the receive side of every active sync. It is the
// cmd/internal/devstack standalone replication split by datacenter: a
// runner talks only to its own cluster and its own Kafka.
//
// # Source side (send-shard tasks)
//
// Assign gets the complete list of this worker's registry tasks after each
// heartbeat. Every send-shard task runs one send.Task (handlers/task/send)
// on the shard the task names (Sync, Shard, Collection, ShardName,
// ShardLeader; missing names are looked up in the local shard map). The
// tasks of one sync share a ctl.Listener on dc2dc.<sync>.ctl.down (the
// consumer group dc2dc.<sync>.ctl.<worker id>: every worker needs every
// answer), started when the sync's first task starts and stopped after its
// last one ended. All tasks share one Kafka publisher (decorated with
// tracing and metrics), one client of the local cluster (the DB-Server
// dialer, superuser JWT) and one shard-map watcher (Deps.Leaders).
//
// Invariants:
//   - A task that is no longer listed, or listed under another generation
//     (or with another shard), is cancelled in that very Assign call; a
//     new run of the same sync/shard starts only after the previous run's
//     goroutine ended. So one worker never runs two tasks of one shard.
//   - Stream epochs come from Epochs: a counter per sync and shard in the
//     local _system/_dc2dc (key EpochKey), incremented by compare-and-set
//     on _rev, and kept above the epoch in the worker's own checkpoint. A
//     task that moves to another worker therefore never reuses an epoch,
//     and two concurrent allocations never return the same number.
//   - A task never resumes a checkpoint of an epoch another worker has
//     superseded since (the task moved away and came back: B would skip
//     every batch of the lower epoch): before it starts, the checkpoint's
//     epoch is compared with the counter, and a stale checkpoint is reset
//     to "initial sync" so the task starts a new epoch.
//   - A task that ended with a permanent error stays failed (reported with
//     its code) until the leader reassigns it under a new generation.
//   - Topics that do not exist yet are waited for (logged at once and
//     every Config.TopicWaitLog, shown in the task's report) rather than
//     failed.
//
// Reports maps a send task's status to a registry.Report: its generation,
// phase (snapshot → initial-sync, tailing → running, failed → failed,
// done → stopped, before the first epoch → pending; a resumed tailing
// checkpoint with nothing new yet → running), stream epoch, the
// Kafka-acknowledged position, the leader's tick, the last error and its
// code (a task keeps its last error after it recovered: it is reported
// while younger than a minute, or while the task is failed; what a task
// waits for — topics, the previous run — is reported as its error while it
// is pending). The topic prefix of a source sync is taken from the heartbeat's
// sync list (role source) when it is listed, else the default.
//
// # Target side (receive)
//
// Syncs gets the heartbeat's sync list. For every target sync that is
// running or stopping the runner runs one receive.Receiver (a member of
// the consumer group dc2dc.<sync>.apply, applying through the local
// Coordinators with the superuser JWT, publishing resync requests and
// answers to ctl.down and poison in the local Kafka). It is stopped when
// the sync disappears or is stopped or aborted, restarted when its topic
// prefix changes, and started again with backoff after an error. As on the
// source side, a new receive side of a sync starts only after the previous
// one ended. ShardReports maps Receiver.Status to plan.ShardReport (errors
// younger than a minute; a shard whose consumed messages since the
// receive side started were all replays Dedupe skipped is "tailing").
//
// The sync's message timeout (Assignment.MessageTimeoutMillis, default 1h)
// goes to the receive side (receive.Config.MessageTimeout) and follows
// `set message timeout` without a restart (Receiver.SetMessageTimeout): a
// shard stream silent longer is resynchronised when it resumes.
//
// # Lifecycle
//
// New does no I/O. The worker hands over its checkpoint store (UseStore)
// once it is open. Close cancels everything, waits for every goroutine and
// releases the shared connections; the worker calls it before its store
// closes.
package runner
