package failure

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/dc2dc/dc2dc/events"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func decodeErr(t *testing.T, payload []byte) error {
	t.Helper()
	_, err := events.Decode(payload)
	if err == nil {
		t.Fatalf("decode of %q succeeded", payload)
	}
	return err
}

func TestClassify(t *testing.T) {
	plain := errors.New("boom")
	malformed := decodeErr(t, []byte("garbage"))
	version := decodeErr(t, []byte{'d', '2', 9})
	tests := []struct {
		name string
		err  error
		want Class
		code Code
	}{
		{"nil", nil, ClassUnknown, ""},
		{"plain", plain, ClassUnknown, ""},
		{"wrapped plain", fmt.Errorf("x: %w", plain), ClassUnknown, ""},
		{"permanent", Permanent(plain), ClassPermanent, ""},
		{"retryable", Retryable(plain), ClassRetryable, ""},
		{"wrapped retryable", fmt.Errorf("apply: %w", Retryable(plain)), ClassRetryable, ""},
		{"outermost wins: permanent over retryable", Permanent(Retryable(plain)), ClassPermanent, ""},
		{"outermost wins: retryable over permanent", Retryable(fmt.Errorf("x: %w", Permanent(plain))), ClassRetryable, ""},
		{"decode malformed", malformed, ClassPermanent, CodeMalformed},
		{"decode version", version, ClassPermanent, CodeUnsupportedVersion},
		{"wrapped decode", fmt.Errorf("batch: %w", malformed), ClassPermanent, CodeMalformed},
		{"retryable decode (explicit wins)", Retryable(malformed), ClassRetryable, CodeMalformed},
		{"canceled", context.Canceled, ClassStopped, ""},
		{"wrapped canceled", fmt.Errorf("tail: %w", context.Canceled), ClassStopped, ""},
		{"retryable canceled still stops", Retryable(context.Canceled), ClassStopped, ""},
		{"permanent canceled still stops", Permanent(fmt.Errorf("x: %w", context.Canceled)), ClassStopped, ""},
		{"deadline", context.DeadlineExceeded, ClassStopped, ""},
		{"deadline classified retryable", Retryable(fmt.Errorf("request: %w", context.DeadlineExceeded)), ClassRetryable, ""},
		{"code default retryable", WithCode(CodeKafkaUnreachable, plain), ClassRetryable, CodeKafkaUnreachable},
		{"code default permanent", WithCode(CodeKafkaAuth, plain), ClassPermanent, CodeKafkaAuth},
		{"code keeps explicit class", WithCode(CodeKafkaAuth, Retryable(plain)), ClassRetryable, CodeKafkaAuth},
		{"code on decode error", WithCode(CodeForeignMessage, malformed), ClassPermanent, CodeForeignMessage},
		{"unknown code is permanent", WithCode("DC2DC-E0000", plain), ClassPermanent, "DC2DC-E0000"},
		{"marker keeps inner code", Permanent(WithCode(CodeWALPruned, plain)), ClassPermanent, CodeWALPruned},
		{"outer code wins", WithCode(CodeApplyRejected, WithCode(CodeArangoUnavailable, plain)), ClassRetryable, CodeApplyRejected},
		{"joined", errors.Join(plain, WithCode(CodeCheckpointIO, plain)), ClassPermanent, CodeCheckpointIO},
		{"new", New(CodeInternal, "invariant broke"), ClassPermanent, CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.err); got != tt.want {
				t.Errorf("Classify = %v, want %v", got, tt.want)
			}
			if got := CodeOf(tt.err); got != tt.code {
				t.Errorf("CodeOf = %q, want %q", got, tt.code)
			}
			if IsRetryable(tt.err) != (tt.want == ClassRetryable) || IsPermanent(tt.err) != (tt.want == ClassPermanent) || IsStopped(tt.err) != (tt.want == ClassStopped) {
				t.Errorf("IsRetryable/IsPermanent/IsStopped disagree with class %v", tt.want)
			}
			if tt.err != nil && !errors.Is(tt.err, tt.err) {
				t.Error("errors.Is(err, err) is false")
			}
		})
	}
}

// transportErr classifies itself, as another package's error type may.
type transportErr struct{ retry bool }

func (e *transportErr) Error() string { return "transport" }
func (e *transportErr) FailureClass() Class {
	if e.retry {
		return ClassRetryable
	}
	return ClassPermanent
}
func (e *transportErr) FailureCode() Code { return CodeKafkaUnreachable }

func TestSelfClassifyingErrors(t *testing.T) {
	err := fmt.Errorf("publish: %w", &transportErr{retry: true})
	if !IsRetryable(err) || CodeOf(err) != CodeKafkaUnreachable {
		t.Errorf("class %v code %q", Classify(err), CodeOf(err))
	}
	if !IsPermanent(Permanent(err)) {
		t.Error("outer marker must win over an inner self-classified error")
	}
	if !IsPermanent(&transportErr{}) {
		t.Error("permanent self-classification ignored")
	}
	if c := CodeOf(WithCode(CodeKafkaAuth, err)); c != CodeKafkaAuth {
		t.Errorf("outer code must win: %s", c)
	}
}

func TestMarkersAndUnwrap(t *testing.T) {
	base := errors.New("base")
	err := fmt.Errorf("ctx: %w", Retryable(base))
	if !errors.Is(err, ErrRetryable) || errors.Is(err, ErrPermanent) {
		t.Error("retryable markers wrong")
	}
	if !errors.Is(err, base) {
		t.Error("cause lost")
	}
	if Permanent(nil) != nil || Retryable(nil) != nil || WithCode(CodeInternal, nil) != nil {
		t.Error("nil must stay nil")
	}
	var fe *Error
	if !errors.As(WithCode(CodeKafkaTLS, base), &fe) || fe.Code != CodeKafkaTLS || fe.Class != ClassPermanent {
		t.Errorf("As: %+v", fe)
	}
	de := decodeErr(t, []byte("x"))
	if !errors.Is(Permanent(de), events.ErrMalformed) {
		t.Error("decode marker lost through ClassPermanent")
	}
}

func TestErrorText(t *testing.T) {
	base := errors.New("connection refused")
	if got, want := Retryable(base).Error(), "connection refused"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
	got := WithCode(CodeKafkaUnreachable, base).Error()
	if want := "DC2DC-E1001 kafka-unreachable: connection refused"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
	// A marker over a coded error does not repeat the code.
	got = Permanent(WithCode(CodeKafkaUnreachable, base)).Error()
	if strings.Count(got, "DC2DC-E1001") != 1 {
		t.Errorf("code repeated or lost: %q", got)
	}
}

func TestCatalog(t *testing.T) {
	re := regexp.MustCompile(`^DC2DC-E[1-9][0-9]{3}$`)
	name := regexp.MustCompile(`^[a-z][a-z0-9-]+$`)
	seenName := map[string]Code{}
	all := All()
	if len(all) != len(catalog) || len(byCode) != len(catalog) {
		t.Fatalf("duplicate codes: %d entries, %d distinct", len(catalog), len(byCode))
	}
	for i, info := range all {
		if !re.MatchString(string(info.Code)) {
			t.Errorf("%q: not DC2DC-Ennnn", info.Code)
		}
		if !name.MatchString(info.Name) {
			t.Errorf("%s: name %q is not a lower-case label", info.Code, info.Name)
		}
		if prev, dup := seenName[info.Name]; dup {
			t.Errorf("%s and %s share the name %q", prev, info.Code, info.Name)
		}
		seenName[info.Name] = info.Code
		if info.Summary == "" || info.Fix == "" {
			t.Errorf("%s: summary and fix text are required", info.Code)
		}
		if i > 0 && all[i-1].Code >= info.Code {
			t.Errorf("All not sorted at %s", info.Code)
		}
		if got, ok := Lookup(info.Code); !ok || got != info {
			t.Errorf("Lookup(%s) = %+v, %v", info.Code, got, ok)
		}
		if info.Code.Fix() != info.Fix || info.Code.Name() != info.Name {
			t.Errorf("%s: Name/Fix accessors disagree", info.Code)
		}
	}
	if Code("DC2DC-E0000").Name() != "unknown" {
		t.Error("unknown code name")
	}
}

func TestFixOf(t *testing.T) {
	err := fmt.Errorf("tail: %w", WithCode(CodeWALPruned, errors.New("tick 5 is gone")))
	if FixOf(err) == "" || FixOf(err) != CodeWALPruned.Fix() {
		t.Errorf("FixOf = %q", FixOf(err))
	}
	if FixOf(errors.New("plain")) != "" || FixOf(nil) != "" {
		t.Error("FixOf of an uncoded error must be empty")
	}
}

func TestDecodeCodes(t *testing.T) {
	for reason, want := range map[string]Code{
		"malformed": CodeMalformed, "unsupported-version": CodeUnsupportedVersion,
		"unknown-kind": CodeUnknownKind, "something-new": CodeMalformed,
	} {
		if got := DecodeCode(&events.DecodeError{Reason: reason}); got != want {
			t.Errorf("%s: got %s want %s", reason, got, want)
		}
	}
}
