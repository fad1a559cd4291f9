// Package failure classifies errors once, where they enter dc2dc's code, so
// that every later stage asks instead of guessing.
//
// # Classes
//
// Every error is in exactly one class (see Classify):
//
//   - ClassStopped: the chain holds context.Canceled, or context.DeadlineExceeded
//     that nobody classified explicitly. The caller asked to stop: do not
//     retry, do not poison, just return.
//   - ClassRetryable: marked with Retryable (or a Code whose default is
//     retryable). A retry with backoff can help: the broker, the target
//     cluster or the disk may come back.
//   - ClassPermanent: marked with Permanent (or a permanent Code), an
//     *events.DecodeError, or a recovered panic. Retrying the same input gives
//     the same answer: the message goes to the poison topic, or the shard or
//     sync stops with the error's Code.
//   - ClassUnknown: nobody classified it. The retry middleware does not retry it
//     and the poison middleware does not poison it: the router nacks the
//     message and the subscriber redelivers it, so nothing is lost, but the
//     place the error entered our code should classify it.
//
// The outermost classification in an error chain wins, so a caller that knows
// better can re-classify: failure.Permanent(failure.Retryable(err)) is
// permanent. Markers are checked with errors.Is/errors.As, never by text.
//
// # Codes
//
// Every error kind that stops a shard or a sync, or sends a message to the
// poison topic, has a stable Code (DC2DC-Ennnn) with a short name and a fix
// text for the operator, kept in one list (codes.go). Codes never change
// meaning and are never reused; operators alert on them. WithCode attaches a
// code (and, unless the error is already classified, the code's default
// class); CodeOf finds it again.
package failure
