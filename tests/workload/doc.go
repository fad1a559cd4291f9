// Package workload is dc2dc's verification workload: a realistic, seeded,
// rate-limited write load on cluster A whose invariants make a lost or duplicated
// effect on the replica B detectable, and a key-by-key comparison of A and B.
// The end-to-end and chaos suites, `make run` and the hidden command
// `dc2dc workload run|verify` use it. It talks to ArangoDB (or arangosim) only
// through go-driver v1, the client a user of cluster A would use.
//
// # What Setup creates (in every configured database)
//
// accounts (sharded by _key, a persistent index by_owner), orders (shardKeys
// ["customer"], a unique persistent index by_customer_seq on [customer, seq] and a
// ttl index ttl_created), links (an edge collection accounts → orders), the
// analyzer workload_norm, the arangosearch view orders_view over orders, the
// accounts with their initial balance, and a user with read-only access to each
// database and read-write access to orders. Setup is idempotent.
//
// # Invariants of the load
//
//   - Ledger: the sum of the balances of a database's accounts is always
//     Accounts × InitialBalance. Balances only change in transfers, each one stream
//     transaction that debits one account and credits another. A transfer holds
//     both accounts' in-process locks, so no other worker interleaves; a failure
//     inside the transaction aborts it; a failed commit is retried (idempotent),
//     then aborted, and an abort that fails too is settled by re-reading the
//     debited account's lastTx. Nothing is ever applied twice.
//   - Version counter: every document carries FieldVersion ("ver"): 1 when
//     inserted, +1 with every write to it. Only the worker that created an order
//     writes it, always with If-Match on the revision it knows, so a retry after an
//     ambiguous failure cannot apply twice (it gets 412 and re-reads). On B, a
//     counter ahead of A's means a write was applied twice (DuplicatedEffect);
//     behind or another _rev or content means a write was lost or altered
//     (Mismatched).
//   - Inserts carry unique values (edge keys, the orders' [customer, seq]), so a
//     retried insert that already applied is refused with 1210 and counted as
//     applied, never inserted twice.
//   - Retryable errors (503, timeouts, refused or reset connections) are retried
//     Attempts times with backoff and counted in Stats; a fatal error
//     (authentication, missing database or collection) stops Run.
//
// # Verify
//
// Verify compares the databases, each collection's type, numberOfShards,
// shardKeys and index definitions, the views, the analyzers, the users and their
// permissions, the ledger sums, and every document by _key: _rev, a hash of its
// content (attribute-order independent) and its version counter. arangosim has no
// AQL cursor API, so documents are read with the replication dump of every shard
// through the Coordinator's trampoline (POST /_api/replication/batch and GET
// /_api/replication/dump with ?DBserver=), which a real cluster serves too; a
// collection larger than VerifyOptions.MaxKeysInMemory is compared in hash
// partitions (one dump of each side per partition), so memory stays bounded.
// Verify only reads (the dump batches it opens on the DB-Servers are deleted at
// the end, or expire). It needs a superuser (JWT secret) or a user with admin
// rights on _system, as the replication API does.
//
// Each DB-Server's batch is a consistent snapshot of that server, not of the
// whole cluster: while A is being written, a transfer whose two accounts live on
// different DB-Servers can be seen half-applied, so compare a quiet A (stop the
// workload first) or let WaitConverged poll Verify with backoff until B equals A.
package workload
