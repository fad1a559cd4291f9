package middleware

import (
	"errors"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/dc2dc/dc2dc/pipeline/failure"
)

func TestRecover(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name      string
		h         message.HandlerFunc
		wantErr   bool
		wantCause error
		wantText  string
	}{
		{"no panic", func(*message.Message) ([]*message.Message, error) { return nil, nil }, false, nil, ""},
		{"plain error passes", func(*message.Message) ([]*message.Message, error) { return nil, boom }, true, boom, "boom"},
		{"panic string", func(*message.Message) ([]*message.Message, error) { panic("bad state") }, true, nil, "handler panicked: bad state"},
		{"panic error", func(*message.Message) ([]*message.Message, error) { panic(boom) }, true, boom, "handler panicked: boom"},
		{"nil map write", func(*message.Message) ([]*message.Message, error) {
			var m map[string]int
			m["x"] = 1 //nolint:staticcheck // the panic under test: write to a nil map
			return nil, nil
		}, true, nil, "assignment to entry in nil map"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Recover(tt.h)(message.NewMessage("u", nil))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if out != nil {
				t.Errorf("out = %v", out)
			}
			if err == nil {
				return
			}
			if tt.wantCause != nil && !errors.Is(err, tt.wantCause) {
				t.Errorf("cause lost: %v", err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("text %q does not contain %q", err, tt.wantText)
			}
			var pe *PanicError
			if !errors.As(err, &pe) {
				if tt.name != "plain error passes" {
					t.Fatalf("no PanicError in %v", err)
				}
				return
			}
			if !failure.IsPermanent(err) || failure.CodeOf(err) != failure.CodeHandlerPanic {
				t.Errorf("class %v code %q", failure.Classify(err), failure.CodeOf(err))
			}
			if !strings.Contains(string(pe.Stack), "recover_test.go") {
				t.Errorf("stack does not show the panicking frame:\n%s", pe.Stack)
			}
		})
	}
}
