// Package task holds the send-shard (task/send) and receive-shard
// (task/receive) tasks and their shard-level control messages (task/ctl).
// This package itself has no code: its in-process integration test wires two
// arangosim clusters, two kfake brokers and the mirror into the whole data
// path (cluster A's WAL → Kafka A → mirror → Kafka B → cluster B) and checks
// that A and B become identical (handlers/arango/verify) through initial
// sync, tailing, a DB-Server failover, a pruned WAL, a receive-side restart
// and a truncate; BenchmarkDataPath measures the path's throughput.
package task
