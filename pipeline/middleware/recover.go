package middleware

import (
	"fmt"
	"runtime/debug"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// PanicError is what Recover turns a panic into. It is always wrapped as a
// permanent failure with code failure.CodeHandlerPanic.
type PanicError struct {
	Value any    // what was passed to panic
	Stack []byte // the panicking goroutine's stack
}

func (e *PanicError) Error() string { return fmt.Sprintf("handler panicked: %v", e.Value) }

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	if err, ok := e.Value.(error); ok {
		return err
	}
	return nil
}

// Recover turns a panic in the wrapped handler into a permanent error
// carrying the stack, so the worker never crashes and the poison middleware
// can park the message.
func Recover(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) (out []*message.Message, err error) {
		defer func() {
			if r := recover(); r != nil {
				out = nil
				err = failure.WithCode(failure.CodeHandlerPanic, failure.Permanent(&PanicError{Value: r, Stack: debug.Stack()}))
			}
		}()
		return h(msg)
	}
}
