package failure

import "sort"

// Code is a stable error code such as "DC2DC-E1001". Codes are what operators
// alert on and what the poison topic's dc2dc-poison-reason header carries.
type Code string

// The codes. Ranges: 1xxx Kafka, 2xxx messages (poison reasons), 3xxx
// ArangoDB, 4xxx the checkpoint store, 5xxx configuration and the sync,
// 9xxx internal. Never renumber or reuse a code; append new ones.
const (
	CodeKafkaUnreachable   Code = "DC2DC-E1001"
	CodeKafkaAuth          Code = "DC2DC-E1002"
	CodeKafkaTLS           Code = "DC2DC-E1003"
	CodeKafkaTooLarge      Code = "DC2DC-E1004"
	CodeKafkaTopicMissing  Code = "DC2DC-E1005"
	CodeKafkaTopicMismatch Code = "DC2DC-E1006"
	CodeKafka              Code = "DC2DC-E1007"
	CodePoisonPublish      Code = "DC2DC-E1008"

	CodeMalformed          Code = "DC2DC-E2001"
	CodeUnsupportedVersion Code = "DC2DC-E2002"
	CodeUnknownKind        Code = "DC2DC-E2003"
	CodeForeignMessage     Code = "DC2DC-E2004"
	CodeHandlerPanic       Code = "DC2DC-E2005"
	CodeApplyRejected      Code = "DC2DC-E2006"
	CodeStreamGap          Code = "DC2DC-E2007"

	CodeArangoUnreachable  Code = "DC2DC-E3001"
	CodeArangoAuth         Code = "DC2DC-E3002"
	CodeTargetMismatch     Code = "DC2DC-E3003"
	CodeWALPruned          Code = "DC2DC-E3004"
	CodeArangoUnavailable  Code = "DC2DC-E3005"
	CodeSourceShardMissing Code = "DC2DC-E3006"

	CodeCheckpointIO      Code = "DC2DC-E4001"
	CodeCheckpointCorrupt Code = "DC2DC-E4002"
	CodeCheckpointLocked  Code = "DC2DC-E4003"

	CodeConfigInvalid    Code = "DC2DC-E5001"
	CodeSyncIncompatible Code = "DC2DC-E5002"
	CodeSyncFenced       Code = "DC2DC-E5003"

	CodeInternal Code = "DC2DC-E9001"
)

// Info describes a code: its short name (used in metrics labels next to the
// code), whether errors of this kind are retryable by default, what it means
// and what the operator should do.
type Info struct {
	Code      Code
	Name      string
	Retryable bool
	Summary   string
	Fix       string
}

// catalog is the one list of error kinds. Keep it sorted by code.
var catalog = []Info{
	{CodeKafkaUnreachable, "kafka-unreachable", true,
		"no Kafka broker answered",
		"check that the brokers are running and reachable from this host, and --kafka.brokers"},
	{CodeKafkaAuth, "kafka-auth", false,
		"Kafka refused the SASL credentials or an ACL denied the request",
		"check --kafka.sasl.user, --kafka.sasl.password, --kafka.sasl.mechanism and the user's ACLs on the sync's topics and group"},
	{CodeKafkaTLS, "kafka-tls", false,
		"the TLS handshake with Kafka failed",
		"check --kafka.tls.ca-file, --kafka.tls.server-name and that the brokers listen with TLS"},
	{CodeKafkaTooLarge, "kafka-message-too-large", false,
		"Kafka refused a message as too large",
		"lower --kafka.max-message-bytes below the topic's max.message.bytes, or raise the topic's limit"},
	{CodeKafkaTopicMissing, "kafka-topic-missing", false,
		"a topic of the sync does not exist",
		"dc2dc creates its topics when a sync starts: check the sync id, that topic creation succeeded and that the mirror created the topics in the target Kafka"},
	{CodeKafkaTopicMismatch, "kafka-topic-mismatch", false,
		"an existing topic does not match what the sync needs",
		"compare the topic's partitions, replication factor and configs with `dc2dc` sync settings; recreate the topic or change the settings"},
	{CodeKafka, "kafka-error", true,
		"Kafka or its client reported another error",
		"read the error text; if it persists check the broker logs and --kafka.version"},
	{CodePoisonPublish, "poison-publish-failed", true,
		"a message could not be published to the poison topic (it is retried, never dropped)",
		"check that the poison topic exists and that the user may write to it"},
	{CodeMalformed, "malformed", false,
		"a message is not a valid dc2dc batch (garbage payload or broken headers)",
		"inspect the message on the poison topic with `dc2dc events decode`; something other than dc2dc writes to the sync's topics or a mirror altered the payload"},
	{CodeUnsupportedVersion, "unsupported-version", false,
		"a message was written by a dc2dc with a different major envelope version",
		"upgrade the receiving datacenter's dc2dc to at least the sender's version, then replay the poison topic"},
	{CodeUnknownKind, "unknown-kind", false,
		"a message holds an event kind this dc2dc does not know",
		"upgrade the receiving datacenter's dc2dc to at least the sender's version, then replay the poison topic"},
	{CodeForeignMessage, "foreign-message", false,
		"a message without dc2dc headers arrived on a dc2dc topic",
		"find the producer that writes to the sync's topics and stop it; check that the mirror copies headers"},
	{CodeHandlerPanic, "handler-panic", false,
		"the handler panicked on a message (a bug in dc2dc)",
		"report the poison message and the stack in dc2dc-poison-error to the dc2dc developers"},
	{CodeApplyRejected, "apply-rejected", false,
		"the target cluster refused to apply a batch and a retry cannot help",
		"read the error (schema validation, unique constraint, missing collection); fix the target and replay the poison topic or start a repair sync"},
	{CodeStreamGap, "stream-gap", false,
		"a batch does not continue the shard's applied position (its writer's previous batch was never applied): something is missing",
		"nothing if it stops: the shard is resynchronised with a new epoch; if it repeats, check that the topic's retention exceeds the receiver's downtime"},
	{CodeArangoUnreachable, "arangodb-unreachable", true,
		"no coordinator or DBserver of an ArangoDB cluster answered",
		"check the cluster's health and --arangodb.endpoints"},
	{CodeArangoAuth, "arangodb-auth", false,
		"ArangoDB refused the credentials or the JWT secret",
		"check --arangodb.user / --arangodb.password or the JWT secret file"},
	{CodeTargetMismatch, "target-mismatch", false,
		"the target collection differs from the source in a way replication cannot bridge (shard count, shard keys, type)",
		"drop the target collection and let the sync recreate it, or make its properties match the source"},
	{CodeWALPruned, "wal-pruned", true,
		"the source WAL no longer holds the tick the shard must continue from",
		"nothing: the shard starts a new epoch with a snapshot; raise the source's --rocksdb.wal-file-timeout-initial if it happens often"},
	{CodeArangoUnavailable, "arangodb-unavailable", true,
		"ArangoDB answered but is busy or in failover (503, leadership change)",
		"nothing: the request is retried; check the cluster's health if it persists"},
	{CodeSourceShardMissing, "source-shard-missing", false,
		"the shard or collection no longer exists in the source cluster",
		"nothing if the collection was dropped on purpose: the shard is released; otherwise check the source cluster"},
	{CodeCheckpointIO, "checkpoint-io", false,
		"the checkpoint store could not read or write its files",
		"check the data directory's disk space and permissions"},
	{CodeCheckpointCorrupt, "checkpoint-corrupt", false,
		"the checkpoint store holds data it cannot read",
		"stop dc2dc, move the data directory aside and restart: the shards resync from a snapshot"},
	{CodeCheckpointLocked, "checkpoint-locked", false,
		"another dc2dc process holds the checkpoint store's lock",
		"stop the other process or give this one its own --data-dir"},
	{CodeConfigInvalid, "config-invalid", false,
		"the configuration is invalid",
		"read the listed problems; each names the flag to change"},
	{CodeSyncIncompatible, "sync-incompatible", false,
		"the two datacenters run dc2dc versions or sync settings that cannot work together",
		"upgrade both sides to the same dc2dc version and compare the sync's settings"},
	{CodeSyncFenced, "sync-fenced", false,
		"a newer sync master took over; this one's messages are ignored",
		"nothing: this process stops its tasks; check that only one master per datacenter is expected"},
	{CodeInternal, "internal", false,
		"an invariant of dc2dc broke (a bug)",
		"report the error text and logs to the dc2dc developers"},
}

var byCode = func() map[Code]Info {
	m := make(map[Code]Info, len(catalog))
	for _, i := range catalog {
		m[i.Code] = i
	}
	return m
}()

// Lookup returns the description of a code.
func Lookup(c Code) (Info, bool) {
	i, ok := byCode[c]
	return i, ok
}

// All returns every code, sorted.
func All() []Info {
	out := append([]Info(nil), catalog...)
	sort.Slice(out, func(a, b int) bool { return out[a].Code < out[b].Code })
	return out
}

// Name returns the code's short name, or "unknown" for a code not in the list.
func (c Code) Name() string {
	if i, ok := byCode[c]; ok {
		return i.Name
	}
	return "unknown"
}

// Fix returns what the operator should do, or "" for an unknown code.
func (c Code) Fix() string { return byCode[c].Fix }

// String returns "DC2DC-E1001 kafka-unreachable".
func (c Code) String() string { return string(c) + " " + c.Name() }
