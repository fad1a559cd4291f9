// Package worker is one sync worker process: it opens its checkpoint store
// (package store, in <data dir>/checkpoints, locked against a second
// process), serves its small HTTP API (version, metrics), registers with the
// masters of its datacenter and heartbeats every second. The heartbeat
// answer lists the tasks the leader assigned to this worker with the leader
// epoch and each task's assignment generation.
//
// # Fencing
//
// The worker remembers the highest leader epoch it has seen and ignores an
// answer of a lower epoch (a deposed leader that still answers). When the
// leader does not know the worker (after a master failover, or after the
// worker was declared dead) the worker registers again at once. A task
// that disappears from the answer, or comes back with a higher generation,
// was taken away or reassigned: the Runner is told to stop it (or restart
// it under the new generation) before anything else happens to it. Task
// reports sent with the heartbeat carry the generation they run under;
// the leader ignores reports of a superseded generation and says so.
//
// The answer also lists the active syncs of the datacenter
// (plan.Assignment): the worker hands them to the Runner (Syncs, before
// Assign), and sends the Runner's receive-side shard reports
// (ShardReports) with the next heartbeat.
//
// Running the tasks themselves is the Runner's job (package
// handlers/control/runner); without a Runner the worker only keeps its
// assignment list. A Runner that is a StoreUser gets the checkpoint store
// once it is open; on shutdown the worker empties the Runner's lists and,
// when it is an io.Closer, closes it (waiting for its tasks) before the
// store closes.
package worker
