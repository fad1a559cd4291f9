// Package progress turns out-of-order delivery acknowledgements into a
// checkpoint: the highest position below which every batch has been
// acknowledged. It is pure (no I/O, no Pebble) and safe for concurrent use.
//
// A sender calls Add(seq, pos) for every batch it hands to Kafka, in send
// order, with strictly increasing sequence numbers (gaps are allowed). The
// Kafka producer's acknowledgement callback calls Ack(seq), in any order.
// Checkpoint returns the position of the last batch of the longest prefix of
// added batches that are all acknowledged.
//
// Invariants:
//   - The checkpoint advances only over an unbroken run of acknowledged
//     batches: it is never the position of a batch that has an
//     unacknowledged predecessor. It is driven by acks only, never by
//     "sent" or by a timer (as TiCDC's table sink progress tracker).
//   - The checkpoint never moves backwards.
//   - Memory is bounded: at most Config.Window batches are in flight (added
//     and not yet below the checkpoint). Add blocks until there is room (or
//     its context ends); TryAdd returns ErrFull instead.
//   - An Ack for a sequence number that is not in flight, or a second Ack for
//     the same batch, is refused with ErrUnknownSeq or ErrDuplicateAck: both
//     mean the caller lost track of its batches, and the checkpoint is left
//     untouched.
//
// The tracker does not persist anything: the caller writes Checkpoint() to
// the checkpoint store (package store) when it changes, typically once per
// acknowledged batch or per group of shards.
package progress
