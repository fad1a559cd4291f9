// Package client is dc2dc's access to one ArangoDB cluster: it connects to
// the cluster's Coordinators with github.com/arangodb/go-driver (v1), reaches
// DB-Servers directly for the replication APIs, reads the cluster's topology
// and watches it for changes.
//
// # Connections and authentication
//
// New builds a go-driver HTTP connection to the Coordinators with one of
// three authentications (Config.Authentication): HTTP basic, a user JWT
// obtained from POST /_open/auth (the driver refreshes it), or a superuser
// JWT signed with the cluster's JWT secret (HS256, iss=arangodb, made with
// github.com/arangodb/go-driver/jwt). The replication endpoints (WAL tail,
// batches, dump, revision trees) are not usable through the driver's typed
// API (v2 drops the x-arango-replication-* headers, v1 has no WAL tail), so
// Conn.Do sends raw requests through the driver's own connection and returns
// the status, the headers and the body bytes verbatim.
//
// DB-Servers are reached at the Endpoint /_admin/cluster/health reports for
// them (tcp:// → http://, ssl:// → https://) with the superuser JWT, because
// ArangoDB refuses user tokens on DB-Server-internal APIs. Without a JWT
// secret the Coordinators' credentials are used (only useful against test
// clusters without authentication).
//
// # Errors
//
// Every error that leaves this package is classified once, here, with
// pipeline/failure: transport failures, timeouts, 503 and the leadership
// errors 1491/1496, and 1457 (cluster timeout) are retryable; 401/403 are
// permanent with CodeArangoAuth and a message about the credentials or JWT
// secret; 1228 (database not found) and 1203 (collection not found) are
// permanent with CodeSourceShardMissing and name what is missing. The
// ArangoDB error (HTTP status, errorNum, errorMessage) stays available as an
// *ArangoError through errors.As; ErrorNum reads its number.
//
// # Topology
//
// Topology reads the servers (health), the databases and, per database, the
// cluster inventory: every collection with the properties needed to recreate
// it and its shards in index order (shard k is the k-th shard by ascending
// numeric id, which is how ArangoDB maps hash slots to shards), each with its
// planned leader and followers. Diff compares two topologies; a Watcher polls
// the cluster at an interval (with jittered exponential backoff while it
// fails) and reports the changes. A Watcher's answers are snapshots: a
// *Topology is never modified after it has been handed out.
package client
