// Package arangosim simulates an ArangoDB 3.12 cluster (Coordinators and DB-Servers, each
// on its own 127.0.0.1 port) closely enough that the official clients cannot tell the
// difference on the endpoints it serves. dc2dc's tests and demo run against it.
//
// Start a cluster in process with Start(ctx, Config{...}) and stop it with Close; the
// command cmd/arangosim runs the same cluster as a process.
//
// # Invariants
//
//   - The catalog (databases, collections, shard placement) is cluster-wide and guarded by
//     one RWMutex; documents live in per-DB-Server replicas; every DB-Server has its own
//     WAL whose ticks are its own (two servers never share a tick sequence).
//   - A write to a shard is applied to the leader and, synchronously, to every follower
//     that is up, with the same _key and _rev; each replica appends the real marker to its
//     server's WAL in the same critical section, so a snapshot (batch) taken at tick T
//     contains exactly the changes with ticks <= T.
//   - A request's changes to one shard on one server form one write batch; more than one
//     change is logged as a transaction (2200 … 2201); a stream transaction commits as one
//     transaction per DB-Server. Uncommitted stream-transaction writes are invisible.
//   - Stored documents are immutable values; snapshots share them (copy-on-snapshot maps).
//     A written document is rendered once: its JSON is shared by the WAL marker of every
//     replica and by answers (never copied until it is written out).
//   - The body of a document write (POST/PUT/PATCH/DELETE /_api/document) is a pooled
//     buffer, reused once the answer is written: nothing made from it may keep a slice
//     of it (newDoc copies the attributes, unquote copies keys and handles).
//   - No lock is held across network I/O; the Coordinator reaches DB-Servers in process.
//   - Sharding hashes the shard-key values (FNV-1a) modulo numberOfShards; it is consistent
//     within arangosim but not bit-identical to arangod's hash.
//   - With Config.DataDir the catalog, every replica's documents, every WAL and the users
//     live in Pebble. Writes are not fsynced: a clean Close (SIGTERM) keeps everything, a
//     kill -9 may lose the last few milliseconds of writes (never the catalog's consistency).
//   - Authentication: with JWTSecret or RootPassword set, every request but /_open/auth
//     needs credentials (401 before anything else); DB-Server WAL/replication APIs need a
//     superuser JWT (403/11 for users).
//   - The user cache is rebuilt from _system/_users after every user-API write and on
//     POST /_admin/auth/reload (admins only, any method, {"error":false,"code":200}), as
//     arangod's UserManager does; a plain document write to _users (e.g. an isRestore
//     copy from another cluster) takes effect only then.
//
// # Control API
//
// Every server also serves /_arangosim/ (superuser JWT required when authentication is
// on). The same operations exist as methods of *Cluster.
//
//	GET    /_arangosim/cluster                      {"clusterId", "servers":[{role,id,shortName,endpoint,up}]}
//	POST   /_arangosim/servers/{id}/stop            Cluster.StopServer: the port refuses connections, health
//	                                                shows FAILED, led shards fail over to a follower that is up
//	POST   /_arangosim/servers/{id}/restart         Cluster.RestartServer: catches up from the leaders, serves again
//	POST   /_arangosim/moveShard                    Cluster.MoveShard, body {database,collection,shard,fromServer,toServer}
//	                                                (also POST /_admin/cluster/moveShard on a Coordinator; likewise
//	                                                /_admin/cluster/resignLeadership and cleanOutServer, body {server})
//	POST   /_arangosim/servers/{id}/wal/prune       Cluster.PruneWAL, body {"upTo":"<tick>"}: older tailers get frompresent=false
//	POST   /_arangosim/servers/{id}/faults          Cluster.InjectFault, body {pathPrefix, latencyMs, status (e.g. 503),
//	                                                count (0 = unlimited), durationMs (0 = until cleared)}
//	DELETE /_arangosim/servers/{id}/faults          Cluster.ClearFaults
//
// {id} is a server id (PRMR-…/CRDN-…) or a short name (DBServer0001). Requests to a
// stopped server fail at the TCP level, so send restart to another server.
//
// See MODEL.md for the internal API other files of the package build on.
package arangosim
