// Package bench holds the side-by-side benchmarks behind `make bench`: each
// measures dc2dc next to the ceiling it runs under, in one run on the same
// brokers, and writes a markdown and JSON report under $DC2DC_RESULTS (default
// ../../results) besides the Go benchmark lines.
//
// Targets (ARCHITECTURE.md §11) are checked by reading the report, never by
// failing a timed test.
package bench
