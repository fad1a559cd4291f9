// Package ctl is the shard-level control traffic between a send-shard task
// in datacenter A and the receive side in datacenter B (ARCHITECTURE §6.4):
// the revision-tree resync and resync requests. Only Kafka crosses
// datacenters, so every question and answer is a Kafka message.
//
// # Messages
//
// Every message is an events.Batch of the shard with one events.Control
// record; Control.Payload is JSON:
//
//   - "tree-request" and "revisions-request" (A → B) travel IN THE SHARD'S
//     DATA STREAM (dc2dc.<sync>.data), as records of the shard's batches, so
//     B answers only after it applied everything before them. Payload:
//     Request (ID, shard, epoch; Ranges for revisions).
//   - "tree" and "revisions" (B → A) travel on dc2dc.<sync>.ctl.down.
//     Payload: Answer (ID; B's revision tree of the partner shard as
//     revtree JSON, or B's (key, revision) pairs in the ranges, ascending by
//     revision; Error when B could not answer).
//   - "resync-request" (B → A) on ctl.down: Resync (shard, the epoch B
//     complains about, reason). The send task honours it only when that
//     epoch is its current one (an older epoch is already superseded).
//
// Payloads can be MBs (a depth-6 tree, 64Ki revisions): the transport
// fragments them (pipeline/kafka).
//
// # Listener
//
// A Listener consumes ctl.down in A (one per worker, its own consumer
// group) and dispatches answers to the waiter that registered the request
// ID (Expect, before the request is published) and resync requests to the
// shard's subscriber. Answers nobody waits for (a timed-out request, a
// replay) are dropped. Every message is acked: ctl.down carries no state
// that must survive a crash (a lost answer ends in the waiter's timeout, a
// lost resync request is asked again by B on the next batch of the epoch).
package ctl
