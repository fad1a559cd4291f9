// Package target applies shard streams to cluster B through B's Coordinators
// (ARCHITECTURE §3 step 10, §6), records the applied position of every shard
// in B's _system/_dc2dc collection, and offers the structure operations the
// sync master calls (databases, collections with identical sharding, indexes,
// views, analyzers, users).
//
// # Apply (Applier)
//
// One Applier per shard stream, used by one goroutine, in stream order.
//
//   - Documents (Document, SnapshotDocuments) are written verbatim in
//     multi-document requests POST /_api/document/{coll}?isRestore=true&
//     overwriteMode=replace (plus skipDocumentValidation=true unless
//     Config.ValidateSchema), so B holds exactly A's _key and _rev however
//     often a document is written. Consecutive writes of the same kind share
//     a request (Config.MaxRequestDocs, MaxRequestBytes); a long run outside
//     transactions may be split by key hash over Config.Parallelism
//     concurrent requests (each key's writes stay in order; unique conflicts
//     are repaired after all streams finished). Per-item errors are read
//     from the answer array when x-arango-error-codes is present.
//   - A unique-constraint violation (1210) is repaired like ArangoDB's own
//     follower (DatabaseInitialSyncer): the conflicting document named in the
//     error is removed and the write retried, at most Config.UniqueRetries
//     times.
//   - Removals (Remove, SnapshotRemove) go by key with ignoreRevs; "document
//     not found" is success.
//   - Writes between TransactionStart and TransactionCommit of a tid are held
//     (also across batches) and applied as one stream transaction on B at the
//     commit: all or nothing. TransactionAbort drops them. Writes that follow
//     an open transaction in the stream wait behind it, so B sees the stream's
//     order. At most Config.MaxTxnBytes are held; beyond it the shard needs a
//     resync (*ResyncError, ReasonTxnTooLarge).
//   - The ready units at the head of the queue (committed transactions and
//     the plain writes between them, up to Config.MaxMergeBytes) are applied
//     together: as one stream transaction when they hold a transaction. Each
//     transaction stays all or nothing (the merged run is), writes keep their
//     stream order, and a WAL of small multi-document transactions costs
//     begin, writes and commit once per batch instead of once per
//     transaction. B refusing a merged run for its size (errorNum 32)
//     applies its transactions one by one. A run ends before a unit that
//     removes a key an earlier unit of the run wrote: with shard keys other
//     than _key, a removal by key inside a stream transaction cannot find a
//     document written by that same transaction in arangosim (it locates
//     the shard in committed data), and the document would stay in B.
//   - CollectionTruncate → *ResyncError (ReasonTruncate): B's Coordinator API
//     has no per-shard truncate (ARCHITECTURE §4). CollectionDrop and
//     DatabaseDrop → *StreamEndError (errors.Is ErrStreamEnded) after the
//     records before them. Index, view and collection-definition markers are
//     ignored: the master owns structure.
//   - The shard's collection name in B comes from a Resolver (the control
//     plane's mapping of (database, source collection id, index)). A missing
//     collection or database (404 with 1203/1228, or ErrUnknownShard from
//     the Resolver) is a retryable *StructureMissingError naming the
//     collection; it turns permanent after Config.StructureWait.
//
// On any error Apply forgets what it buffered from the failed batch, so the
// same batch can be applied again; writes already made are idempotent.
//
// # Durability order and positions (Receiver, Positions)
//
// Before it judges a batch, a Receiver that wrote no position for
// DefaultRecheckAfter (2 s, below any Kafka session timeout) reads its
// shard's record in B again,
// and so does one that sees a gap: when another worker recorded a different
// position meanwhile (it took the shard's partition over while this one
// was stalled or away), the Receiver continues from that one (Reloads
// counts it), so a woken worker's old batches are skipped instead of
// writing older versions over newer ones, and a partition that comes back
// is not taken for a gap.
//
// Receive applies the dedupe and gap rules of events/doc.go (Check): skip
// Pos <= applied; apply Prev <= applied < Pos, or the first batch of a newer
// epoch (Prev = {epoch,0,0}); applied < Prev is a gap → *ResyncError
// (CodeStreamGap). Then: apply to B → record the position in B (Positions.Save)
// → the caller acks the Kafka message. A crash anywhere between replays a
// suffix, which changes nothing on B (isRestore+replace, removal by key,
// transactions all-or-nothing).
//
// The recorded position is Applier.Durable: the batch's Pos when nothing is
// buffered, otherwise the position before the batch in which the oldest open
// transaction began, with the Kafka offset of that batch: replaying from it
// rebuilds the transaction after a crash.
//
// Positions keeps one document per (sync, shard) in _system/_dc2dc
// (created with isSystem when missing): epoch, tick, sub, leader, Kafka
// partition and offset, updatedAt. Save is a compare-and-set with If-Match
// on _rev and monotonic: a writer behind the stored position loses with a
// *StaleError (errors.Is ErrStale, CodeSyncFenced).
//
// # Structure (Structure)
//
// The master's operations, all idempotent: CreateDatabase, CreateCollection
// from A's definition with identical sharding (numberOfShards, shardKeys,
// shardingStrategy, distributeShardsLike, keyOptions, type, schema,
// computedValues; replicationFactor bounded by B's DB-Server count,
// writeConcern by the replication factor; an existing collection with other
// sharding is CodeTargetMismatch), the shard-pairing check (ShardProbes and
// ProbeShardIndexes on each side through its own Coordinators with
// responsibleShard, VerifyPairing in B: no process talks to the other
// datacenter's cluster), EnsureIndex, EnsureView, EnsureAnalyzer, renames
// and drops, and users.
//
// Users: the user API takes plain passwords only, so A's password hashes
// travel as _system/_users documents, replicated like any shard with
// isRestore (the resolver maps the _users shard stream to "_users"; B's own
// user of the same name, e.g. root, is replaced through the unique-index
// repair, so B ends up with A's credentials), followed by ReloadUsers (POST
// /_admin/auth/reload, which on a Coordinator triggers a cluster-wide
// reload; UNCONFIRMED on a running 3.12, ARCHITECTURE §12 experiment 3).
// EnsureUser/SetGrant/DropUser are the fallback through the user API (a new
// password must then be given).
//
// # Connection
//
// conn.go is a minimal raw HTTP access, kept until handlers/arango/client
// offers request headers (x-arango-trx-id, If-Match) and verbatim bodies.
// Raw requests go through net/http with the same credentials as the
// go-driver client (Conn.Client, used for databases and users): go-driver's
// JSON body re-encodes every body, which cost a third of the CPU of an apply.
// Errors are classified once there with pipeline/failure: transport
// failures, 503, 1457, 1491/1495/1496 and lock timeouts retryable; 401/403
// permanent (CodeArangoAuth); other answers permanent (CodeApplyRejected),
// keeping the errorNum in *ArangoError.
//
// # Metrics
//
// NewMetrics (Config.Metrics): apply duration per batch, writes, bytes,
// transactions by outcome, unique repairs, bytes held for open
// transactions, resync requests. Lag per shard is pipeline/middleware's.
package target
