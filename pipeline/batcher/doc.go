// Package batcher groups the records of one shard stream into batches on the
// sending side: "block for the first record, then fill until MaxRecords,
// MaxBytes or Linger elapses". Many operations per Kafka message are what make
// the pipeline fast (a Watermill Publish is synchronous per call).
//
// # Positions
//
// The batcher is given the stream's epoch and the position of the last batch
// sent before (Stream.Start; {Epoch,0,0} for a new epoch) and sets every
// batch's Pos and Prev (Prev = the previous batch's Pos), following package
// events:
//
//   - Pos.Tick is the tick of the batch's last record with a tick, or the
//     SnapshotEnd's snapshot tick when the batch holds one;
//   - batches that do not move the tick share it and are numbered by Sub:
//     snapshot chunks (records with Tick 0) get Tick 0 and Sub 1, 2, ...;
//     a heartbeat-only batch gets the previous batch's tick and Sub+1;
//     a batch that moves the tick has Sub 0. Positions therefore strictly
//     increase;
//   - a SnapshotEnd always closes its batch, so snapshot and WAL batches never
//     mix.
//
// # Transactions
//
// A transaction (TransactionStart 2200 … TransactionCommit 2201 or
// TransactionAbort 2202, operations carrying its TID) is never split across
// batches: while one is open, MaxRecords and Linger do not cut the batch. Only
// MaxBytes does, because a Kafka message cannot exceed it: then the
// transaction continues in the following batches, and every batch that ends
// with a transaction open says so (Out.OpenTransactions and the
// dc2dc-open-tx header from Out.Metadata), so the receiver buffers its
// operations until the commit.
//
// # Memory and backpressure
//
// At most Config.QueueRecords records and Config.QueueBytes bytes (the
// batch being built and waiting for Emit included) are held. Add blocks when
// either is used up, until Emit has taken batches away: a slow publisher
// slows the producer instead of growing memory. A single record larger than
// MaxBytes travels alone in its batch (the transport fragments it).
//
// # Lifecycle
//
// Run(ctx) is the loop; it calls Emit synchronously, one batch at a time, in
// order. Close flushes what is buffered and makes Run return nil; a failed
// Emit, or ctx ending, makes Run return the error (buffered records are then
// dropped: the caller restarts from its checkpoint).
package batcher
