// Package revtree implements the two pieces of ArangoDB's revision-based
// ("sync by revision") replication protocol that do not need a server:
//
//   - the _rev codec: a document revision is a 64-bit hybrid-logical-clock
//     value that ArangoDB prints in its own base64 variant (alphabet
//     "-_A-Za-z0-9", most significant digit first, no padding, at most 11
//     digits). EncodeHLC and DecodeHLC convert between the two forms exactly
//     like arangod's HybridLogicalClock::encodeTimeStamp/decodeTimeStamp and
//     go-driver's revision.go, except that DecodeHLC refuses input arangod
//     would silently mangle (see DecodeHLC).
//
//   - the Merkle tree that arangod keeps per shard (lib/Containers/MerkleTree.cpp):
//     only the bottom level is materialised, it has 8^depth buckets over the
//     half-open revision interval [rangeMin, rangeMax), each bucket holds the
//     number of revisions in it and the XOR of their hashes, and the hash of
//     a revision is 64-bit FNV-1a over its eight little-endian bytes
//     (TRI_FnvHashPod). The tree grows its range by doubling, to the right or
//     to the left, while keeping invariant 2 of arangod: (initialRangeMin -
//     rangeMin) is a multiple of the bucket width. Diff returns the revision
//     ranges whose buckets differ, merged like treeLeader.diff(treeLocal) in
//     DatabaseInitialSyncer, so a follower can ask the leader for exactly those
//     ranges (PUT /_api/replication/revisions/ranges).
//
// Invariants a Tree keeps after every successful call:
//   - rangeMax - rangeMin is a power of two and at least 8^depth;
//   - rangeMin <= initialRangeMin and (initialRangeMin - rangeMin) is a
//     multiple of (rangeMax - rangeMin) / 8^depth;
//   - the summary count is the sum of the bucket counts and the summary hash
//     the XOR of the bucket hashes; a bucket with count 0 has hash 0.
//
// PartitionKeys splits the range into parts of about equal revision counts
// (arangod's partitionKeys); Range marshals to the ["minHLC","maxHLC"] pair of
// the ranges request, so json.Marshal(ranges) is that request's body.
//
// A failed Insert or Remove leaves the tree unchanged. A Tree is not safe for
// concurrent use; Clone it to hand a snapshot to another goroutine.
//
// The JSON form is the one GET /_api/replication/revisions/tree returns in
// ArangoDB 3.8 and later: {"version":1,"maxDepth":d,"rangeMax":"<hlc>",
// "rangeMin":"<hlc>","initialRangeMin":"<hlc>","count":n,"hash":h,
// "nodes":[{"count":c,"hash":h},...]} with the bottom level only. Parse
// accepts what arangod's MerkleTree::deserialize accepts (also "{}" for an
// empty bucket and {"skip":n} for n empty buckets) and rejects everything
// else with an error that matches ErrMalformed. The usual form (nodes with
// only count and hash) is read by a strict hand-written scanner about 15x
// faster than encoding/json; a differential fuzz test keeps both in step.
package revtree
