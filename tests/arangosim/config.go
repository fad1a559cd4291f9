package arangosim

import (
	"errors"
	"fmt"
	"log/slog"
)

// Config describes a simulated cluster. The zero value is usable: 1 Coordinator,
// 3 DB-Servers, free ports, authentication off, everything in memory.
type Config struct {
	// Coordinators and DBServers are the number of servers of each role (defaults 1 and 3).
	Coordinators int
	DBServers    int
	// Host is the address servers listen on (default 127.0.0.1).
	Host string
	// Port is the first server's port; further servers use the following ports.
	// 0 picks free ports.
	Port int
	// JWTSecret enables authentication: superuser tokens signed with it (HS256,
	// iss=arangodb) are accepted everywhere.
	JWTSecret string
	// RootPassword is root's password. A non-empty password (or a JWT secret) turns
	// authentication on.
	RootPassword string
	// DataDir keeps everything in Pebble under this folder across restarts; empty = memory.
	DataDir string
	// MaxWALMarkers bounds each DB-Server's WAL: once it holds 25% more markers, the
	// oldest are pruned (tailers behind get frompresent=false). 0 = keep everything.
	MaxWALMarkers int
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// withDefaults returns cfg with every unset field filled in.
func (cfg Config) withDefaults() Config {
	if cfg.Coordinators == 0 {
		cfg.Coordinators = 1
	}
	if cfg.DBServers == 0 {
		cfg.DBServers = 3
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// Validate reports every problem of the (defaulted) configuration at once.
func (cfg Config) Validate() error {
	var errs []error
	if cfg.Coordinators < 0 || cfg.Coordinators > 64 {
		errs = append(errs, fmt.Errorf("arangosim: Coordinators = %d: use 1 to 64", cfg.Coordinators))
	}
	if cfg.DBServers < 0 || cfg.DBServers > 64 {
		errs = append(errs, fmt.Errorf("arangosim: DBServers = %d: use 1 to 64", cfg.DBServers))
	}
	if cfg.MaxWALMarkers < 0 {
		errs = append(errs, fmt.Errorf("arangosim: MaxWALMarkers = %d: use 0 (unbounded) or a positive count", cfg.MaxWALMarkers))
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		errs = append(errs, fmt.Errorf("arangosim: Port = %d: use 0 (free ports) or 1..65535", cfg.Port))
	}
	n := cfg.Coordinators + cfg.DBServers
	if cfg.Port > 0 && cfg.Port+n-1 > 65535 {
		errs = append(errs, fmt.Errorf("arangosim: Port %d + %d servers runs past 65535: choose a lower port", cfg.Port, n))
	}
	return errors.Join(errs...)
}

// authEnabled reports whether requests must authenticate.
func (cfg Config) authEnabled() bool { return cfg.JWTSecret != "" || cfg.RootPassword != "" }
