// Package election elects one leader among the sync masters of one
// datacenter with a lease document in the local ArangoDB cluster
// (`_system/_dc2dc`, key `leader`, see package state): holder, endpoint,
// epoch, lease duration. Every write of the lease is a compare-and-set on
// the document's `_rev`; HTTP 412 means another master won the race.
//
// # Clock-skew tolerance
//
// No master ever compares its clock with another host's clock. Expiry is
// judged by each master's own monotonic clock and by the `_rev` of the lease
// document changing:
//
//   - The holder renews every RenewInterval (default 1.5 s). Before sending a
//     renewal it notes t_send on its monotonic clock; when the renewal
//     succeeds it considers itself leader until
//     t_send + LeaseDuration − SafetyMargin (defaults 5 s and 1 s). It steps
//     down by itself at that instant if no later renewal succeeded, even when
//     a request is still in flight (every request's deadline is that
//     instant).
//   - A follower reads the lease every RenewInterval. It notes t_seen, its
//     own monotonic time just after it received a `_rev` it had not seen
//     before. It may try to take over only when the same `_rev` has been
//     unchanged for a whole LeaseDuration since t_seen. The takeover is a
//     compare-and-set on that `_rev` with Epoch+1.
//
// The renewal that produced a `_rev` was sent before the server applied it
// (t_send ≤ apply) and the follower received it after (apply ≤ t_seen), so
// the follower's earliest takeover t_seen + LeaseDuration comes after the
// holder's own deadline t_send + LeaseDuration − SafetyMargin on any clock
// that runs at a similar rate: the SafetyMargin (20% of the lease) absorbs
// clock-rate drift and scheduling delays, not clock offsets, which cancel
// out. Latency only makes the follower later. A renewal and a takeover that
// race are serialized by the compare-and-set: exactly one of them wins.
//
// So, at any instant, at most one master believes it is leader; the epoch
// strictly increases with every term (it is only ever written by a
// compare-and-set over the previous value), and everything the leader does
// carries it (fencing: package state refuses writes with a lower epoch).
//
// # Other cases
//
//   - No lease document: the first master creates it with epoch 1 (create
//     fails with a conflict for every other one).
//   - Released lease (Holder ""; a leader that stops cleanly releases it):
//     taken over at once with Epoch+1.
//   - A lease held by this very elector (same id and incarnation) while it
//     still leads, e.g. after a renewal whose answer was lost: renewed by
//     compare-and-set at the same epoch.
//   - A lease held by this very elector that it no longer considers its
//     own (it stepped down: no renewal came back in time, or a won write
//     came back too late): taken back by compare-and-set with Epoch+1. It
//     is a new term, and every term has its own epoch, so that whatever
//     tells terms apart by their epoch can (the planner's message counters
//     start again in each term; with the old epoch the other datacenter's
//     leader took the new term's messages for stale ones).
//   - A restarted master has a new incarnation, so it waits for its old
//     lease to expire like any other follower.
//   - Safety over liveness: when the cluster answers slower than
//     LeaseDuration − SafetyMargin, a won write comes back too late to act
//     on and nobody leads until the answers are faster again. The holder
//     keeps writing its own lease meanwhile (its `_rev` changes), so the
//     others do not take over a lease whose holder is merely slow.
//
// # Use
//
// Run(ctx) runs the protocol until ctx ends; OnElected(epoch) and
// OnLost(epoch) are called from Run's goroutine, in order, never
// overlapping. Leader() answers "am I leader now, with which epoch" from the
// monotonic clock, so it turns false at the deadline even before OnLost
// runs. Metrics (injected meter provider): dc2dc.master.leader (gauge 0/1)
// and dc2dc.master.elections (counter of won elections).
package election
