package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// RetryConfig configures Retry. Zero fields take the defaults.
type RetryConfig struct {
	// InitialInterval is the wait before the first retry (default 100ms).
	InitialInterval time.Duration
	// MaxInterval caps the wait between two attempts (default 10s).
	MaxInterval time.Duration
	// Multiplier grows the wait after every attempt (default 2).
	Multiplier float64
	// Jitter is the fraction of every wait that is randomized: a wait w
	// becomes uniform in [w*(1-Jitter), w] (default 0.2, 0 <= Jitter <= 1).
	Jitter float64
	// MaxAttempts bounds the handler calls per delivery (0 = until it
	// succeeds, fails otherwise or the message's context ends). When they
	// are used up the retryable error is returned: the router nacks and the
	// subscriber redelivers, so nothing is lost.
	MaxAttempts int
}

// Defaults of RetryConfig.
const (
	DefaultRetryInitial    = 100 * time.Millisecond
	DefaultRetryMax        = 10 * time.Second
	DefaultRetryMultiplier = 2.0
	DefaultRetryJitter     = 0.2
)

// EnsureDefaults fills the zero fields.
func (c *RetryConfig) EnsureDefaults() {
	if c.InitialInterval == 0 {
		c.InitialInterval = DefaultRetryInitial
	}
	if c.MaxInterval == 0 {
		c.MaxInterval = DefaultRetryMax
	}
	if c.Multiplier == 0 {
		c.Multiplier = DefaultRetryMultiplier
	}
	if c.Jitter == 0 {
		c.Jitter = DefaultRetryJitter
	}
}

// Validate reports every problem at once.
func (c RetryConfig) Validate() error {
	var errs []error
	if c.InitialInterval < 0 {
		errs = append(errs, errors.New("retry: InitialInterval is negative: use a positive duration such as 100ms"))
	}
	if c.MaxInterval < c.InitialInterval {
		errs = append(errs, errors.New("retry: MaxInterval is below InitialInterval: raise MaxInterval"))
	}
	if c.Multiplier < 1 {
		errs = append(errs, errors.New("retry: Multiplier is below 1: use 1 (constant) or more"))
	}
	if c.Jitter < 0 || c.Jitter > 1 {
		errs = append(errs, errors.New("retry: Jitter must be within [0, 1]"))
	}
	if c.MaxAttempts < 0 {
		errs = append(errs, errors.New("retry: MaxAttempts is negative: use 0 for unlimited"))
	}
	return errors.Join(errs...)
}

// Retry calls the handler again, with exponential backoff and jitter, as
// long as it fails with a failure.IsRetryable error. Any other error
// (permanent, unclassified, cancellation) passes straight through. The wait
// ends early when the message's context ends; the last error is returned
// then, joined with the context's error (class failure.ClassStopped).
type Retry struct {
	cfg     RetryConfig
	logger  *slog.Logger
	metrics *Metrics
	// wait sleeps for d or until ctx ends; tests replace it.
	wait func(ctx context.Context, d time.Duration) error
}

// NewRetry returns the retry middleware. logger and m may be nil.
func NewRetry(cfg RetryConfig, logger *slog.Logger, m *Metrics) (*Retry, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Retry{cfg: cfg, logger: logger, metrics: m, wait: sleepCtx}, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backoff returns the wait before retry n (n >= 1), jittered.
func (r *Retry) backoff(n int) time.Duration {
	d := float64(r.cfg.InitialInterval)
	for i := 1; i < n && d < float64(r.cfg.MaxInterval); i++ {
		d *= r.cfg.Multiplier
	}
	d = min(d, float64(r.cfg.MaxInterval))
	if r.cfg.Jitter > 0 {
		d -= d * r.cfg.Jitter * rand.Float64()
	}
	return time.Duration(d)
}

// Middleware is the message.HandlerMiddleware.
func (r *Retry) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		for attempt := 1; ; attempt++ {
			out, err := h(msg)
			if err == nil || !failure.IsRetryable(err) {
				return out, err
			}
			if r.cfg.MaxAttempts > 0 && attempt >= r.cfg.MaxAttempts {
				return out, err
			}
			d := r.backoff(attempt)
			r.metrics.retry(msg, err)
			r.logger.Warn("retrying message", "uuid", msg.UUID, "attempt", attempt, "wait", d,
				"code", failure.CodeOf(err), "err", err)
			if werr := r.wait(msg.Context(), d); werr != nil {
				// Stopped, not retryable: neither retried nor poisoned.
				return out, fmt.Errorf("%w (retry stopped: %w)", err, werr)
			}
		}
	}
}
