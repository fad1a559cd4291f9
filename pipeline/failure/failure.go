package failure

import (
	"context"
	"errors"

	"github.com/dc2dc/dc2dc/events"
)

// Class says what to do with an error.
type Class int

const (
	// ClassUnknown: nobody classified the error (see the package doc).
	ClassUnknown Class = iota
	// ClassStopped: the context was cancelled; stop, neither retry nor poison.
	ClassStopped
	// ClassRetryable: a retry with backoff can help.
	ClassRetryable
	// ClassPermanent: a retry cannot help.
	ClassPermanent
)

func (c Class) String() string {
	switch c {
	case ClassStopped:
		return "stopped"
	case ClassRetryable:
		return "retryable"
	case ClassPermanent:
		return "permanent"
	}
	return "unknown"
}

// Markers for errors.Is: errors.Is(err, failure.ErrRetryable) is true exactly
// when IsRetryable(err) would be true for the *Error that carries it. Prefer
// IsRetryable/IsPermanent, which also handle cancellation and decode errors.
var (
	ErrRetryable = errors.New("retryable")
	ErrPermanent = errors.New("permanent")
)

// Error is a classified error: a class, an optional code, and the cause.
// Its text is the cause's text, prefixed with the code when it has one.
type Error struct {
	Class Class // ClassRetryable or ClassPermanent
	Code  Code  // "" when only a class was given
	Err   error
}

func (e *Error) Error() string {
	if e.Code == "" {
		return e.Err.Error()
	}
	// Do not repeat a code an inner error already shows.
	var inner *Error
	if errors.As(e.Err, &inner) && inner.Code == e.Code {
		return e.Err.Error()
	}
	return e.Code.String() + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches the class markers.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrRetryable:
		return e.Class == ClassRetryable
	case ErrPermanent:
		return e.Class == ClassPermanent
	}
	return false
}

// Permanent marks err as permanent. It returns nil for nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Class: ClassPermanent, Code: CodeOf(err), Err: err}
}

// Retryable marks err as retryable. It returns nil for nil.
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Class: ClassRetryable, Code: CodeOf(err), Err: err}
}

// WithCode attaches a code to err. The class is err's own when it already
// has one (an explicit marker, a decode error) and otherwise the code's
// default (Info.Retryable). It returns nil for nil.
func WithCode(code Code, err error) error {
	if err == nil {
		return nil
	}
	class := explicitClass(err)
	if class == ClassUnknown {
		class = ClassPermanent
		if byCode[code].Retryable {
			class = ClassRetryable
		}
	}
	return &Error{Class: class, Code: code, Err: err}
}

// New returns a classified error with a code and a message.
func New(code Code, msg string) error { return WithCode(code, errors.New(msg)) }

// Classify returns err's class: ClassStopped if the chain holds context.Canceled
// (always) or context.DeadlineExceeded (unless classified explicitly),
// otherwise the outermost explicit classification, ClassPermanent for an
// *events.DecodeError, and ClassUnknown for anything else (and for nil).
func Classify(err error) Class {
	if err == nil {
		return ClassUnknown
	}
	if errors.Is(err, context.Canceled) {
		return ClassStopped
	}
	c := explicitClass(err)
	if c == ClassUnknown && errors.Is(err, context.DeadlineExceeded) {
		return ClassStopped
	}
	return c
}

func explicitClass(err error) Class {
	var fe *Error
	if errors.As(err, &fe) && fe.Class != ClassUnknown {
		return fe.Class
	}
	var de *events.DecodeError
	if errors.As(err, &de) {
		return ClassPermanent
	}
	return ClassUnknown
}

// IsRetryable reports whether a retry can help (class ClassRetryable).
func IsRetryable(err error) bool { return Classify(err) == ClassRetryable }

// IsPermanent reports whether a retry cannot help (class ClassPermanent).
func IsPermanent(err error) bool { return Classify(err) == ClassPermanent }

// IsStopped reports whether err means the caller asked to stop.
func IsStopped(err error) bool { return Classify(err) == ClassStopped }

// CodeOf returns the outermost code in err's chain; for an
// *events.DecodeError without one, the code of its Reason; "" otherwise.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	for e := err; e != nil; {
		// Walk manually so that the outermost *Error with a code wins even
		// when an outer *Error carries only a class.
		if fe, ok := e.(*Error); ok && fe.Code != "" {
			return fe.Code
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			e = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, inner := range u.Unwrap() {
				if c := CodeOf(inner); c != "" {
					return c
				}
			}
			e = nil
		default:
			e = nil
		}
	}
	var de *events.DecodeError
	if errors.As(err, &de) {
		return DecodeCode(de)
	}
	return ""
}

// DecodeCode maps a decode error's Reason to its code.
func DecodeCode(de *events.DecodeError) Code {
	switch de.Reason {
	case "unsupported-version":
		return CodeUnsupportedVersion
	case "unknown-kind":
		return CodeUnknownKind
	}
	return CodeMalformed
}
