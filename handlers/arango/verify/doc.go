// Package verify compares shard k of a collection in cluster A with shard k
// of its partner collection in cluster B: document count, a checksum, and
// the exact list of keys that differ.
//
// # Why revision trees
//
// A Coordinator's GET /_api/collection/{name}/checksum covers a whole
// collection, not a shard, and a per-shard checksum on a DB-Server (the
// shard as a local collection) scans every document on every call and says
// nothing about where two shards differ. Every DB-Server instead keeps a
// revision Merkle tree per shard (collections with syncByRevision, 3.8+),
// which ArangoDB's own follower sync compares (spec §2.5). verify reads it
// from the shard leader with the superuser JWT, at a consistent snapshot (a
// replication batch): GET /_api/replication/revisions/tree gives the count
// and the XOR hash of all revisions in O(1) server work. dc2dc writes with
// isRestore, so a document has the same _rev in A and B and equal shards have
// equal trees.
//
// # Listing differing keys in bounded memory
//
// The trees' Diff gives the revision ranges whose buckets differ. Both
// leaders stream the revisions in those ranges (PUT .../revisions/ranges,
// paged with resume, at most 64Ki per answer), merged in ascending order: a
// revision on only one side belongs to a differing document. Its key comes
// from PUT .../revisions/documents in chunks. A key with a revision only in A
// and another only in B differs; only in A it is missing in B; only in B it is
// extra in B. Memory is bounded by one page of revisions per side plus the
// differences found (capped by Config.MaxDifferences).
//
// Collection is the cheap whole-collection check through a Coordinator:
// count and GET /_api/collection/{name}/checksum?withRevisions=true.
//
// A compares against A's snapshot and B against B's, taken at slightly
// different times: while replication runs, recent writes show up as
// differences. Compare when the sync is idle (or stopped) for an exact answer.
package verify
