// Package pipeline is the pipeline's end-to-end proof with real processes:
// two embedded Kafka clusters (`dc2dc kafka`), the synthetic send side
// (`dc2dc loadgen produce`), the mirror (`dc2dc mirror`) and the synthetic
// receive side (`dc2dc loadgen consume`), each killed with SIGKILL
// mid-stream and restarted, after which every event must have been applied
// exactly once, in per-shard order (`dc2dc loadgen verify`'s checks).
package pipeline
