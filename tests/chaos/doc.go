// Package chaos is dc2dc's chaos suite (issue #7): under a steady write load
// on cluster A (tests/workload: ledger invariant, per-document version
// counters), it injects each fault at each phase of a sync and proves that B
// ends equal to A with nothing lost, duplicated or altered.
//
// The matrix is fault × phase. Phases: initial-sync (the fault hits while
// the first snapshot of a bulk collection runs), tailing (under the steady
// write load), stop (while `dc2dc stop sync --ensure-in-sync` runs, A quiet).
// Faults (faults_test.go, each a small named function that breaks one
// thing and returns its repair): kill -9 of the leader master of A and of B,
// of a follower master, of a worker of A and of B, of the mirror, of each
// Kafka broker (restarted on the same port and data directory); a DB-Server
// failover in A (the shard leader's server stopped, restarted after the
// hold); a shard leader move in A (moveShard); the mirror down for 60 s
// (10 s bounded); A's WAL pruned past the tailers of a shard leader; 503s
// and latency from B's Coordinator for a while. arangosim faults go through
// its control API (/_arangosim/…).
//
// After each run the runner repairs what the fault broke, then restores
// everything else (restoreAll: every process running, no arangosim fault
// left, every DB-Server up), stops the load, waits until B equals A key by
// key (workload.WaitConverged), runs `dc2dc check sync` on B until every
// shard is equal (a stopped sync has no shard to compare: there the
// key-by-key comparison decides), and records lost, duplicated-effect,
// mismatched and extra
// documents (all must be 0), the ledger, and the time to converge. A run
// that fails prints the logs of the processes it involved and of both
// leaders. The suite prints a table of every run at the end and writes it to
// $DC2DC_RESULTS/chaos.md when that is set.
//
// Forms: `go test ./tests/chaos` runs the bounded matrix (a few
// representative faults on one topology, minutes on 2 cores) so CI covers
// it; DC2DC_CHAOS=full (`make test-chaos`) runs every fault at every phase;
// -short skips both. Sessions (one topology with the workload's structure
// and the bulk collection) are reused across runs; an initial-sync run and
// a run after a failure start a fresh one. Until the control plane
// configures a sync (`dc2dc configure sync`), the runs are skipped with
// that reason. DC2DC_CHAOS_LOG sets the processes' log level (default info);
// DC2DC_CHAOS_RUNS selects runs by a regular expression on phase/fault.
//
// Every load is a new workload.Workload (its own run id), so the inserts of
// one run never collide with an earlier run's. The table also counts, from
// the workers' logs, how dc2dc reacted: new epochs, resync requests,
// poisoned messages and revision resyncs that fell back to a full snapshot.
//
// Synchronisation is by polling with deadlines; the only timed waits are
// the faults' own durations (an outage, a hold).
package chaos
