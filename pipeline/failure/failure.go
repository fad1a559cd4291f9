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

// Classifier lets an error type of another package classify itself without
// being wrapped: explicit classification (see Classify) includes any error in
// the chain with a FailureClass method returning other than ClassUnknown.
// *Error implements it.
type Classifier interface {
	FailureClass() Class
}

// Coder lets an error type carry a code without being wrapped (see CodeOf).
// *Error implements it.
type Coder interface {
	FailureCode() Code
}

// FailureClass implements Classifier.
func (e *Error) FailureClass() Class { return e.Class }

// FailureCode implements Coder.
func (e *Error) FailureCode() Code { return e.Code }

// walk visits err's chain depth-first, outermost first, until visit
// returns true.
func walk(err error, visit func(error) bool) bool {
	for err != nil {
		if visit(err) {
			return true
		}
		switch u := err.(type) { //nolint:errorlint // walk is the unwrapping itself: it steps through each link
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, inner := range u.Unwrap() {
				if walk(inner, visit) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}

func explicitClass(err error) Class {
	class := ClassUnknown
	walk(err, func(e error) bool {
		if c, ok := e.(Classifier); ok && c.FailureClass() != ClassUnknown {
			class = c.FailureClass()
			return true
		}
		if _, ok := e.(*events.DecodeError); ok { //nolint:errorlint // walk visits each link in order; errors.As would jump past outer classifiers
			class = ClassPermanent
			return true
		}
		return false
	})
	return class
}

// IsRetryable reports whether a retry can help (class ClassRetryable).
func IsRetryable(err error) bool { return Classify(err) == ClassRetryable }

// IsPermanent reports whether a retry cannot help (class ClassPermanent).
func IsPermanent(err error) bool { return Classify(err) == ClassPermanent }

// IsStopped reports whether err means the caller asked to stop.
func IsStopped(err error) bool { return Classify(err) == ClassStopped }

// CodeOf returns the outermost code in err's chain (an *Error or any Coder
// with a non-empty code); for an *events.DecodeError without one, the code
// of its Reason; "" otherwise.
func CodeOf(err error) Code {
	var code Code
	walk(err, func(e error) bool {
		if c, ok := e.(Coder); ok && c.FailureCode() != "" {
			code = c.FailureCode()
			return true
		}
		if de, ok := e.(*events.DecodeError); ok { //nolint:errorlint // walk visits each link in order; errors.As would jump past outer coders
			code = DecodeCode(de)
			return true
		}
		return false
	})
	return code
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

// FixOf returns what the operator should do about err: the fix text of its
// code, or "" when it has no (known) code.
func FixOf(err error) string { return CodeOf(err).Fix() }
