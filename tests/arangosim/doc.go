// Package arangosim simulates an ArangoDB 3.12 cluster (Coordinators and DB-Servers, each
// on its own 127.0.0.1 port) closely enough that the official clients cannot tell the
// difference on the endpoints it serves. dc2dc's tests and demo run against it.
//
// Invariants:
//   - The catalog (databases, collections, shard placement) is cluster-wide and guarded by
//     one RWMutex; documents live in per-DB-Server replicas; every DB-Server has its own
//     WAL whose ticks are its own (two servers never share a tick sequence).
//   - A write to a shard is applied to the leader and, synchronously, to every follower
//     that is up, with the same _key and _rev; each replica appends the real marker to its
//     server's WAL in the same critical section, so a snapshot (batch) taken at tick T
//     contains exactly the changes with ticks <= T.
//   - Stored documents are immutable values; snapshots share them (copy-on-snapshot maps).
//   - No lock is held across network I/O; the Coordinator reaches DB-Servers in process.
//
// See MODEL.md for the internal API other files of the package build on, and control.go
// for the /_arangosim/ fault-injection API.
package arangosim
