// Package bench holds the side-by-side benchmarks behind `make bench`: each
// measures dc2dc next to the ceiling it runs under, in one run on the same
// brokers, and writes a markdown and JSON report under $DC2DC_RESULTS (default
// ../../results) besides the Go benchmark lines.
//
// Targets (ARCHITECTURE.md §11) are checked by reading the report, never by
// failing a timed test.
//
// The machine is often shared, so BenchmarkPipelineVsTransport runs rounds,
// each on fresh in-process brokers with the ceiling and the pipeline back to
// back, and reports medians, the CPU time per record and per event (which
// other load disturbs far less than the rates) and, per event, where the lag
// went. Environment: DC2DC_BENCH_RECORDS (records per round, 200000),
// DC2DC_BENCH_ROUNDS (3), DC2DC_BENCH_HALF_SECONDS (10, the latency phase per
// round), DC2DC_BENCH_LINGER (batcher lingers measured side by side, e.g.
// "5ms,50ms"; the verdict is about the first), DC2DC_BENCH_COMPRESSION (the
// pipeline producer's codec), DC2DC_BENCH_SARAMA_METRICS=1 (keep sarama's
// go-metrics), DC2DC_BENCH_LOG=1 with -v (log the components).
package bench
