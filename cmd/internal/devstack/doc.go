// Package devstack starts and stops the two-datacenter development stack
// behind `dc2dc dev` (`make run`): cluster A and cluster B (arangosim),
// Kafka A and Kafka B (`dc2dc kafka`), the mirror (`dc2dc mirror`) and,
// when asked (Config.ControlPlane), a master and a worker in each
// datacenter, all as child processes on 127.0.0.1. With the control plane,
// Stack.ConfigureSync tells B's master to follow A (the admin API's
// configure sync, skipped when B already runs the sync, e.g. on a second
// run) and Stack.SyncStatus reads GET /_api/status of B's leader. Without
// it, Replicator runs the whole data path in the calling process (the
// "standalone plan" of `dc2dc dev --plan standalone`).
//
// # Invariants
//
//   - Every child runs in its own process group and is started with a
//     parent-death signal (SIGKILL), so it does not outlive `dc2dc dev`
//     even when that process is killed with SIGKILL.
//   - Stack.Close stops everything Start started, also after a child died or
//     after Start failed half-way (Start then closes what it started before
//     it returns the error): SIGTERM to each process group, SIGKILL to the
//     groups still alive after Config.StopTimeout. Close is idempotent.
//   - One stack per state directory: Start takes an exclusive lock
//     (flock on <state>/lock) and refuses a second one with an error naming
//     the holder's pid. Processes a previous, killed run left behind (listed
//     in <state>/pids.json and still running the recorded binary) are
//     killed before anything starts.
//   - State lives under Config.StateDir: data/ (reused across runs unless
//     Config.Fresh), logs/<child>.log (stdout and stderr of each child,
//     truncated at each start), ports.json and secrets.json (remembered so
//     a second run finds its data on the same ports with the same
//     credentials), pids.json (every child's pid, written as soon as it
//     started) and the endpoints file.
//   - A child that exits while the stack runs is reported once on
//     Stack.Exited with the tail of its log.
package devstack
