// Package state is the control plane's storage in the local ArangoDB
// cluster: the documents of the `_dc2dc` system collection of the `_system`
// database (created when missing) that the masters of one datacenter share.
//
// # Two layers
//
// Docs is raw compare-and-set document access: Get returns a document and
// its `_rev`; Create fails with ErrConflict when the key exists; Replace is
// a compare-and-set on `_rev` (ArangoDB's `ignoreRevs=false` precondition,
// the same check as an `If-Match` header) and fails with ErrConflict when the
// document changed since it was read (HTTP 412). The election (package
// election) keeps its lease in the document LeaseKey through Docs.
//
// Store is the fenced layer for the records the leader master keeps
// (workers, task records, sync configuration). Every record is wrapped in
// an envelope that carries the epoch of the leader that wrote it. A write
// names the writer's leader epoch and is refused with a *FencedError
// (errors.Is ErrFenced, code DC2DC-E5003, permanent) when
//
//   - the lease document holds a higher epoch (a newer leader took over), or
//   - the stored record carries a higher epoch (a newer leader already wrote it).
//
// and it is a compare-and-set on the record's `_rev`, so two writers never
// overwrite each other blindly: a writer that lost the race gets ErrConflict
// (reload and decide again) or, when the winner is a newer leader, a
// *FencedError.
//
// # Why this fences a stale leader
//
// The lease check and the record write are two requests, so a takeover can
// fall between them. That window is closed by the compare-and-set: the
// stale leader's write names the `_rev` it read, and any write of the new
// leader to that record changes it (412 → the reload shows the higher epoch
// → *FencedError). A record the new leader has not written yet can still
// receive one last write of the stale leader if that write was in flight
// across the takeover; the election makes this window small (a leader stops
// acting before its lease could have expired for the others, see package
// election) and the record then carries the stale epoch, so the new leader
// sees it and overwrites it. Every reader of a record can compare its epoch
// with the current one.
//
// # Errors
//
// Transport failures and ArangoDB errors come classified from
// handlers/arango/client (retryable when a retry can help). ErrConflict and
// ErrNotFound are plain sentinels (expected outcomes, not failures). A
// record that cannot be decoded is CodeCheckpointCorrupt.
package state
