// Package broker runs an embedded Kafka cluster (franz-go's kfake) for
// development, tests and the `dc2dc kafka` command.
//
// It exists so that `make run`, the end-to-end tests and the transport's
// conformance suite have a real Kafka protocol endpoint on a machine where no
// Kafka can be installed. dc2dc's own code never talks to kfake directly: it
// speaks the Kafka protocol through sarama (package pipeline/kafka), so the
// same code runs unchanged against a real Kafka cluster.
//
// Invariants and caveats:
//
//   - Every broker listens on 127.0.0.1 only. Ports are chosen by the kernel
//     unless Config.Ports or Config.BasePort name them; a restart on the same
//     DataDir must use the same ports, because clients cache broker addresses.
//   - With Config.DataDir set the cluster persists topics, records and
//     committed group offsets there and reloads them on Start. Without it,
//     everything lives in memory with no retention: never point a long
//     benchmark at an in-memory cluster.
//   - Topics that kfake auto-creates on a metadata request do not reliably
//     survive a kill -9 of the process (measured). Auto-creation is therefore
//     off by default: create topics explicitly (pipeline/kafka.EnsureTopics).
//   - Without Config.SyncWrites, records reach the disk through the page
//     cache like Kafka's default flush policy: a crash of the machine (not of
//     the process) can lose the last batches.
//   - Close is idempotent and, with a DataDir, writes the final state.
package broker
