package middleware

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/dc2dc/dc2dc/pipeline/failure"
)

func newTestRetry(t *testing.T, cfg RetryConfig) (*Retry, *noWait) {
	t.Helper()
	r, err := NewRetry(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &noWait{}
	r.wait = w.wait
	return r, w
}

func TestRetry(t *testing.T) {
	transient := failure.Retryable(errors.New("503"))
	permanent := failure.Permanent(errors.New("schema violation"))
	plain := errors.New("who knows")
	tests := []struct {
		name      string
		errs      []error // returned by successive calls; then nil
		max       int
		wantCalls int
		wantErr   error
	}{
		{"success", nil, 0, 1, nil},
		{"heals after two", []error{transient, transient}, 0, 3, nil},
		{"permanent not retried", []error{permanent}, 0, 1, permanent},
		{"unclassified not retried", []error{plain}, 0, 1, plain},
		{"retryable then permanent", []error{transient, permanent}, 0, 2, permanent},
		{"max attempts", []error{transient, transient, transient, transient}, 3, 3, transient},
		{"stopped not retried", []error{context.Canceled}, 0, 1, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, w := newTestRetry(t, RetryConfig{MaxAttempts: tt.max})
			calls := 0
			_, err := r.Middleware(func(*message.Message) ([]*message.Message, error) {
				calls++
				if calls <= len(tt.errs) {
					return nil, tt.errs[calls-1]
				}
				return nil, nil
			})(message.NewMessage("u", nil))
			if calls != tt.wantCalls {
				t.Errorf("calls %d, want %d", calls, tt.wantCalls)
			}
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("err %v, want %v", err, tt.wantErr)
			}
			if len(w.waits) != calls-1 && tt.max == 0 && failure.IsRetryable(tt.errs[0]) {
				t.Errorf("%d waits for %d calls", len(w.waits), calls)
			}
		})
	}
}

func TestRetryBackoff(t *testing.T) {
	r, _ := newTestRetry(t, RetryConfig{InitialInterval: 10 * time.Millisecond, MaxInterval: 100 * time.Millisecond, Multiplier: 2, Jitter: 0.5})
	for n, full := range []time.Duration{10, 20, 40, 80, 100, 100, 100} {
		full *= time.Millisecond
		for range 50 {
			d := r.backoff(n + 1)
			if d > full || d < full/2 {
				t.Fatalf("retry %d: wait %v outside [%v, %v]", n+1, d, full/2, full)
			}
		}
	}
	// Huge attempt numbers stay capped and do not overflow.
	if d := r.backoff(1 << 20); d > 100*time.Millisecond || d <= 0 {
		t.Fatalf("capped wait %v", d)
	}
	// Jitter actually varies the waits.
	seen := map[time.Duration]bool{}
	for range 50 {
		seen[r.backoff(3)] = true
	}
	if len(seen) < 5 {
		t.Errorf("jitter produced only %d distinct waits", len(seen))
	}
}

func TestRetryHonoursContext(t *testing.T) {
	r, err := NewRetry(RetryConfig{InitialInterval: time.Hour, MaxInterval: time.Hour}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	msg := message.NewMessageWithContext(ctx, "u", nil)
	calls := 0
	done := make(chan error, 1)
	go func() {
		_, err := r.Middleware(func(*message.Message) ([]*message.Message, error) {
			calls++
			return nil, failure.Retryable(errors.New("down"))
		})(msg)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !failure.IsStopped(err) || !strings.Contains(err.Error(), "down") {
			t.Fatalf("err %v (class %v)", err, failure.Classify(err))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("retry ignored the cancelled context")
	}
	if calls != 1 {
		t.Errorf("calls %d", calls)
	}
}

func TestRetryConfigValidate(t *testing.T) {
	err := RetryConfig{InitialInterval: -1, MaxInterval: -2, Multiplier: 0.5, Jitter: 2, MaxAttempts: -1}.Validate()
	for _, want := range []string{"InitialInterval", "MaxInterval", "Multiplier", "Jitter", "MaxAttempts"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate does not report %s: %v", want, err)
		}
	}
	var c RetryConfig
	c.EnsureDefaults()
	if err := c.Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
	if _, err := NewRetry(RetryConfig{Multiplier: 0.1}, nil, nil); err == nil {
		t.Error("NewRetry accepted an invalid config")
	}
}
