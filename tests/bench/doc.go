// Package bench holds the side-by-side benchmarks behind `make bench`: each
// measures dc2dc next to the ceiling it runs under, in one run, and writes a
// markdown and JSON report under $DC2DC_RESULTS (default ../../results)
// besides the Go benchmark lines. `make bench` runs both, the pipeline
// first; the replication benchmark then writes bench.md and bench.json,
// which hold both reports (replication first), so one file shows every
// figure next to its target.
//
// Targets (ARCHITECTURE.md §11) are checked by reading the report, never by
// failing a timed test: a report's verdicts say met / NOT met. A benchmark
// fails only when a step could not be measured or A and B differ at the end.
//
// # BenchmarkPipelineVsTransport (pipeline.md, pipeline.json)
//
// The machine is often shared, so it runs rounds, each on fresh in-process
// brokers with the ceiling and the pipeline back to back, and reports
// medians, the CPU time per record and per event (which other load disturbs
// far less than the rates) and, per event, where the lag went. Environment:
// DC2DC_BENCH_RECORDS (records per round, 200000), DC2DC_BENCH_ROUNDS (3),
// DC2DC_BENCH_HALF_SECONDS (10, the latency phase per round),
// DC2DC_BENCH_LINGER (batcher lingers measured side by side, e.g.
// "5ms,50ms"; the verdict is about the first), DC2DC_BENCH_COMPRESSION (the
// pipeline producer's codec), DC2DC_BENCH_SARAMA_METRICS=1 (keep sarama's
// go-metrics), DC2DC_BENCH_LOG=1 with -v (log the components).
//
// # BenchmarkReplication (replication.md, replication.json)
//
// dc2dc as an operator runs it: tests/harness StartTopology (two
// datacenters of processes: arangosim, `dc2dc kafka`, the mirror, 2 masters
// and 2 workers each, default flags), 1 KiB documents of random padding in
// 3 collections × 4 shards, written by the package's loader (batched
// inserts from concurrent writers). One step after the other:
//
//  1. A's ingest ceiling with no sync configured (documents/s, MB/s); what it
//     writes (DC2DC_BENCH_VOLUME_MB, bounded by DC2DC_BENCH_LOAD_SECONDS) is
//     the initial volume;
//  2. the initial sync: `configure sync` until B's status shows every shard
//     running (MB/s, documents/s), then `check sync`; A's workers' VmRSS;
//  3. the steady rate: A written at its maximum while replicating, documents
//     counted in A and in B over a window after a 5 s warm-up; ratios to A's
//     rate, to (1) and to the Kafka ceiling of the pipeline benchmark
//     (read from pipeline.json of the same run); the CPU of every process
//     group per document B applied;
//     3b. the same as two datacenters: each datacenter's processes pinned
//     to its own half of the CPUs with `taskset -a -p` (A: arangosim A,
//     Kafka A, A's masters and workers, and the bench process, which is
//     A's clients; B: the mirror, Kafka B, B's masters and workers,
//     arangosim B), as they would run on their own machines; unpinned
//     afterwards;
//  4. the lag at half of min(A's ceiling, B's steady rate): one probe
//     document every 200 ms inserted into A and polled in B every 10 ms
//     (time from A's acknowledgement to the first read that finds it;
//     p50/p99), and B's status maxLagSeconds sampled every 250 ms;
//  5. the resume of a shard after kill -9 of the worker holding it (A, then
//     B): with A quiet and in sync, the kill (the worker restarted at once),
//     then writes at half load; seconds until B's applied position of the
//     shard moves by data or a new epoch (a heartbeat's sub does not count);
//  6. master failover (A, then B): kill -9 of the leader; seconds until a new
//     leader answers GET /_api/status (polled every 100 ms through any
//     master);
//  7. worker RSS with a backlog, twice (a quarter of the backlog, then all
//     of it): B's workers stopped (SIGTERM), A written at its maximum
//     (DC2DC_BENCH_BACKLOG_DOCS, bounded by DC2DC_BENCH_BACKLOG_SECONDS),
//     the workers started again and their VmRSS sampled every 250 ms until
//     B holds every document (bounded by DC2DC_BENCH_CATCHUP_TIMEOUT), with
//     the catch-up rate; bounded = four times the backlog takes at most
//     1.25× the memory + 32 MiB;
//
// and at the end `check sync` and tests/workload.Verify (key by key) with A
// quiet. Environment (defaults): DC2DC_BENCH_WRITERS (4), DC2DC_BENCH_BATCH
// (100 documents per insert), DC2DC_BENCH_VOLUME_MB (100),
// DC2DC_BENCH_LOAD_SECONDS (60), DC2DC_BENCH_SYNC_TIMEOUT (240),
// DC2DC_BENCH_STEADY_SECONDS (30), DC2DC_BENCH_LAG_SECONDS (30),
// DC2DC_BENCH_BACKLOG_DOCS (200000), DC2DC_BENCH_BACKLOG_SECONDS (60),
// DC2DC_BENCH_CATCHUP_TIMEOUT (240), DC2DC_BENCH_WORKER_ARGS (extra flags of
// every worker, space-separated, e.g. "--kafka.session-timeout 4s"),
// DC2DC_BENCH_REPLICATION=0 (skip it).
// The loader is not the verification workload: tests/workload's bulk mix
// turns into removals past 2,000 orders per writer, so it cannot load a
// fixed volume.
package bench
