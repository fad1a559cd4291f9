// Package sync holds the end-to-end tests of the control plane with real
// processes (issue #6, Done-when): two datacenters on 127.0.0.1, each an
// arangosim cluster, a `dc2dc kafka` broker, two `dc2dc master` and two
// `dc2dc worker` processes, and the `dc2dc mirror` between the brokers
// (harness.StartTopology). Everything is driven through the real command
// line (`dc2dc configure sync`, `get status`, `check sync`, `stop sync`,
// `abort sync`, `abort outgoing sync`, `reset failed shard`) and the admin
// API; cluster A carries the verification workload (tests/workload) whose
// ledger invariant and version counters make a lost or doubled write
// visible in B.
//
// What the tests show: databases, collections (sharded, edge), indexes,
// views and analyzers and the data written before and during the sync reach
// B (users and permissions too with the masters' --sync.replicate-users:
// the user logs in to B with its password from A); B is read-only for
// users while it follows; `get status` shows every shard running with a
// small lag, then in sync once A is quiet, also after kill -9 of a worker
// and of the leader master in B while A is idle; `check sync` and the
// workload's key-by-key comparison find A and B identical after kill -9 of
// a worker and of the leader master in each datacenter, mid-initial-sync
// and mid-tailing; stop sync with ensure-in-sync (A read-only
// for users meanwhile, writable after; B writable after), stop sync
// without it, abort sync, abort outgoing sync, a new configure sync, set
// message timeout and reset failed shard (after a permanent WAL tail error
// in A) do what the operator model says.
//
// Every test starts its own topology (about 8 s) and is skipped with -short.
// Synchronisation is by polling with deadlines (harness.Eventually), never
// by sleeping. The processes' logs are in the test's temp directory and
// printed (their ends) when a test fails; DC2DC_TEST_LOGS=1 prints them
// always.
package sync
