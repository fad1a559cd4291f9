// Package conformance is the one suite of cluster-access tests dc2dc's
// ArangoDB code must pass, written against the contract and run against
// every implementation through the same client (STYLE.md example 15):
// always against an in-process arangosim cluster (TestSim), and against a
// real ArangoDB 3.11/3.12 cluster when the environment names one (TestReal).
//
// # What it checks
//
//   - client: Ping and /_api/version; the health report's roles, ids and
//     endpoints; the topology of a 3-shard collection with
//     replicationFactor 2 (shards in index order, distinct leader and
//     follower, both DB-Servers of the health report; the shards API
//     agrees); DB-Server access with the superuser JWT; error
//     classification (an unknown database or shard is permanent with
//     CodeSourceShardMissing and named; a wrong JWT secret is a permanent
//     CodeArangoAuth on the Coordinators and on a DB-Server).
//   - wal: tailing a shard on its leader through inserts, an update, a
//     replace, a remove and a stream transaction gives every operation once,
//     in order, with strictly ascending ticks above from, the transaction
//     framed 2200 … 2201 with its tid; an empty tail is a 204 with headers
//     and no records (the position never goes back); a tail from tick 0 is
//     never "start tick not present"; from beyond the last tick gives no
//     records (and 1414 only when the server says frompresent=false); the
//     same WAL read with a small MaxRecords, cutting answers inside a
//     transaction's write batch, loses nothing (testWALTruncated).
//   - source: a full-snapshot epoch of a shard, then tailing through
//     inserts, updates, removes and a stream transaction: the records
//     reproduce the shard exactly (compared document by document with a
//     replication dump on the leader).
//   - target (needs cluster B): every shard's records applied to B with
//     Receiver and Positions; a Receiver restarted from B's recorded
//     position skips the replayed suffix, an Applier applying it again
//     changes nothing; verify reports 0 differences for every shard; a
//     database B lacks is a retryable *StructureMissingError naming it.
//   - verify: a collection and a copy written with isRestore have equal
//     counts and checksums per shard and as a whole; planted differences
//     are listed by key and kind.
//   - faults (arangosim only, Cluster.Faults): a moved leader and a stopped
//     DB-Server end the source's epoch with a *NewEpochError naming the new
//     leader; a WAL pruned past the position gives frompresent=false, 1414
//     from the Tailer and a new epoch on the same leader.
//
// TestFixtures parses the recorded ArangoDB 3.12 answers of the same
// endpoints (../shared/fixtures/arangodb-3.12: RestWalAccess*, RestGetShards*,
// RestGetResponsibleShard*, every error answer) through dc2dc's parsers; it
// skips when the folder is absent.
//
// # Safety on a real cluster
//
// Every test works in its own database, dc2dc_conformance_<random>, and drops
// it at the end (also on failure). The target tests also write B's
// _system/_dc2dc (creating it when missing, as dc2dc does) and delete the
// records they wrote. Nothing else is changed: no server is stopped, no
// shard moved, no WAL pruned (the fault tests are skipped with a message).
// Tests that need replicationFactor 2 skip on a cluster with fewer than two
// healthy DB-Servers.
//
// # Running it against your cluster
//
//	ARANGODB_ENDPOINTS=https://coord1:8529,https://coord2:8529 \
//	ARANGODB_JWT_SECRET="$(cat /etc/arangodb/jwt-secret)" \
//	go test ./handlers/arango/conformance -run Real -v
//
// ARANGODB_ENDPOINTS lists the Coordinators (comma-separated);
// ARANGODB_JWT_SECRET is the cluster's JWT secret, from which the suite signs
// the superuser JWT the DB-Servers' replication APIs require (the
// DB-Servers are reached at the endpoints the health report gives, so they
// must be reachable from where the test runs). ARANGODB_USERNAME and
// ARANGODB_PASSWORD are optional user credentials. To run the target tests,
// also set ARANGODB_B_ENDPOINTS and ARANGODB_B_JWT_SECRET for a second
// cluster; without them those tests are skipped with a message. Without
// ARANGODB_ENDPOINTS TestReal is skipped. Timeout bounds every wait (60 s).
//
// A new implementation (another simulator, a cluster behind a proxy) runs
// the same suite with Run and a function returning its Cluster.
package conformance
