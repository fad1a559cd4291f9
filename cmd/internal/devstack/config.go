package devstack

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/dc2dc/dc2dc/pipeline/kafka"
)

// Config configures a Stack. Zero fields take defaults (WithDefaults).
type Config struct {
	// StateDir holds data, logs, ports, secrets, pids and the endpoints
	// file (default ".dev" in the working directory).
	StateDir string
	// EndpointsFile is where the endpoints are written (default
	// <StateDir>/endpoints.json).
	EndpointsFile string
	// Fresh wipes StateDir before starting.
	Fresh bool
	// DC2DC is the dc2dc binary (subcommands kafka, mirror, master, worker);
	// Arangosim the arangosim binary. Both required.
	DC2DC     string
	Arangosim string
	// SyncID names the sync and its topics (default "a-to-b").
	SyncID string
	// ControlPlane starts one master and one worker in each datacenter.
	ControlPlane bool
	// DataPartitions of the data topic (default 12).
	DataPartitions int32
	// StartTimeout bounds the wait for each child's ready line (default
	// 60s); StopTimeout the wait between SIGTERM and SIGKILL (default 10s).
	StartTimeout time.Duration
	StopTimeout  time.Duration
	// LogLevel is passed to the dc2dc children (default "info").
	LogLevel string
	Logger   *slog.Logger
}

// WithDefaults fills the zero fields.
func (c Config) WithDefaults() Config {
	if c.StateDir == "" {
		c.StateDir = ".dev"
	}
	if abs, err := filepath.Abs(c.StateDir); err == nil {
		c.StateDir = abs
	}
	if c.EndpointsFile == "" {
		c.EndpointsFile = filepath.Join(c.StateDir, "endpoints.json")
	}
	if abs, err := filepath.Abs(c.EndpointsFile); err == nil {
		c.EndpointsFile = abs
	}
	if c.SyncID == "" {
		c.SyncID = "a-to-b"
	}
	if c.DataPartitions == 0 {
		c.DataPartitions = 12
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 60 * time.Second
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = 10 * time.Second
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every problem at once (call it after WithDefaults).
func (c Config) Validate() error {
	var errs []error
	for _, b := range []struct{ name, path, fix string }{
		{"dc2dc binary", c.DC2DC, "build it with `make build`"},
		{"arangosim binary", c.Arangosim, "build it with `make build` (it goes next to dc2dc in ./bin) or put it on PATH"},
	} {
		if b.path == "" {
			errs = append(errs, fmt.Errorf("devstack: no %s: %s", b.name, b.fix))
			continue
		}
		if st, err := os.Stat(b.path); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			errs = append(errs, fmt.Errorf("devstack: %s %s is not an executable file: %s", b.name, b.path, b.fix))
		}
	}
	if err := kafka.ValidateSyncID(c.SyncID); err != nil {
		errs = append(errs, fmt.Errorf("devstack: sync id: %w", err))
	}
	if c.DataPartitions < 1 {
		errs = append(errs, fmt.Errorf("devstack: data topic partitions %d: use at least 1", c.DataPartitions))
	}
	if c.StartTimeout < 0 || c.StopTimeout < 0 {
		errs = append(errs, errors.New("devstack: start and stop timeouts must not be negative"))
	}
	if c.StateDir == "/" {
		errs = append(errs, errors.New("devstack: state dir is /: give a directory of its own, e.g. .dev"))
	}
	return errors.Join(errs...)
}
