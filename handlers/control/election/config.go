package election

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// Defaults.
const (
	DefaultLeaseDuration = 5 * time.Second
	DefaultRenewInterval = 1500 * time.Millisecond
)

// Config of an Elector.
type Config struct {
	// ID names this master (stable across restarts, e.g. host:port).
	ID string
	// Endpoint is this master's admin API URL, published in the lease so
	// followers can forward to the leader.
	Endpoint string
	// LeaseDuration (default 5s), RenewInterval (default 1.5s) and
	// SafetyMargin (default LeaseDuration/5): see the package doc.
	LeaseDuration time.Duration
	RenewInterval time.Duration
	SafetyMargin  time.Duration
	// RequestTimeout bounds one request to the cluster (default
	// RenewInterval); a leader's requests never outlive its lease.
	RequestTimeout time.Duration
	// KeepLeaseOnStop: do not release the lease when Run ends (the others
	// then wait for it to expire). Default: release, so a clean stop hands
	// over at once.
	KeepLeaseOnStop bool
	// OnElected and OnLost are called from Run's goroutine (optional).
	OnElected func(epoch uint64)
	OnLost    func(epoch uint64)
	// Logger (nil: discard) and MeterProvider (nil: no metrics).
	Logger        *slog.Logger
	MeterProvider metric.MeterProvider
}

// WithDefaults returns cfg with every unset field filled in.
func (cfg Config) WithDefaults() Config {
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration = DefaultLeaseDuration
	}
	if cfg.RenewInterval == 0 {
		cfg.RenewInterval = DefaultRenewInterval
	}
	if cfg.SafetyMargin == 0 {
		cfg.SafetyMargin = cfg.LeaseDuration / 5
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = cfg.RenewInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// Validate reports every problem of the (defaulted) configuration at once.
func (cfg Config) Validate() error {
	var errs []error
	if strings.TrimSpace(cfg.ID) == "" {
		errs = append(errs, errors.New("election: the master id is empty: give each master a stable id (e.g. its host:port)"))
	}
	if cfg.LeaseDuration <= 0 {
		errs = append(errs, fmt.Errorf("election: lease duration %v: must be positive (default 5s)", cfg.LeaseDuration))
	}
	if cfg.RenewInterval <= 0 {
		errs = append(errs, fmt.Errorf("election: renew interval %v: must be positive (default 1.5s)", cfg.RenewInterval))
	}
	if cfg.SafetyMargin <= 0 || cfg.SafetyMargin >= cfg.LeaseDuration {
		errs = append(errs, fmt.Errorf("election: safety margin %v: must be positive and below the lease duration %v (default lease/5)", cfg.SafetyMargin, cfg.LeaseDuration))
	}
	if cfg.RenewInterval > 0 && cfg.LeaseDuration > 0 && cfg.SafetyMargin > 0 && cfg.RenewInterval*2 > cfg.LeaseDuration-cfg.SafetyMargin {
		errs = append(errs, fmt.Errorf("election: renew interval %v leaves less than two renewals per lease (%v − margin %v): renew more often or lengthen the lease",
			cfg.RenewInterval, cfg.LeaseDuration, cfg.SafetyMargin))
	}
	if cfg.RequestTimeout < 0 {
		errs = append(errs, fmt.Errorf("election: request timeout %v: must be positive", cfg.RequestTimeout))
	}
	return errors.Join(errs...)
}
