package events

import (
	"errors"
	"fmt"
)

// Markers for decode failures; test with errors.Is. All of them are
// permanent: retrying the same bytes gives the same answer, so the consumer
// sends the message to the poison topic and goes on.
var (
	// ErrMalformed: the payload or its headers are not a dc2dc batch.
	ErrMalformed = errors.New("malformed dc2dc message")
	// ErrUnsupportedVersion: the envelope's major version is newer (or older)
	// than this binary understands. Upgrade the receiving side.
	ErrUnsupportedVersion = errors.New("unsupported dc2dc message version")
	// ErrUnknownKind: an event kind this binary does not know.
	ErrUnknownKind = errors.New("unknown dc2dc event kind")
)

// DecodeError describes why a message could not be decoded. Reason is a short
// stable code for metrics and the poison topic's metadata.
type DecodeError struct {
	Reason string // "malformed", "unsupported-version" or "unknown-kind"
	Detail string
	err    error
}

func (e *DecodeError) Error() string {
	if e.err == nil {
		return "dc2dc decode error (" + e.Reason + "): " + e.Detail
	}
	return e.err.Error() + ": " + e.Detail
}
func (e *DecodeError) Unwrap() error { return e.err }

func decodeErr(marker error, format string, args ...any) error {
	reason := "malformed"
	switch {
	case errors.Is(marker, ErrUnsupportedVersion):
		reason = "unsupported-version"
	case errors.Is(marker, ErrUnknownKind):
		reason = "unknown-kind"
	}
	return &DecodeError{Reason: reason, Detail: fmt.Sprintf(format, args...), err: marker}
}
