// Package registry is the leader master's in-memory view of its
// datacenter's workers and tasks, and the task scheduler. It does no I/O:
// the caller feeds it registrations, heartbeats and task definitions with
// the time they happened, runs Schedule periodically (every second) and
// persists the task records it returns (package state).
//
// # Workers
//
// A worker registers (id, endpoint, host, the DB-Server it sits next to,
// capacity) and heartbeats. A worker whose last registration or heartbeat
// is older than Config.DeadAfter (default 3 s) is dead: Schedule takes its
// tasks away in the same pass. A dead worker that heartbeats again is alive
// again, but gets only what the scheduler gives it.
//
// # Assignment invariants (checked by the fuzz test after every pass)
//
//   - A task is assigned to at most one worker (Task.Worker), and after
//     Schedule only to a live worker.
//   - Every task is assigned unless every live worker is at its capacity.
//   - Balanced by count: after Schedule, a live worker holds more than one
//     task more than another live worker only if that other one is full.
//   - Affinity: a send-shard task prefers a worker whose DBServer is the
//     shard's leader, as long as that keeps the balance.
//   - Stable: a pass moves a task only when its worker died or left, or to
//     restore the balance (a new worker, a capacity change); a second pass
//     with nothing changed moves nothing.
//   - Fencing: every (re)assignment of a task increments its Generation,
//     and carries the leader epoch (SetEpoch) of the master that made it. A
//     worker that sees a task of its own with a higher generation elsewhere,
//     or no longer gets it in its heartbeat answer, was superseded and stops
//     it; Report ignores reports of an older generation.
//
// The Registry is safe for concurrent use.
package registry
