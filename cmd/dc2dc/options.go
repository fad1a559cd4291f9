package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// globalOptions are the flags every subcommand shares.
type globalOptions struct {
	logLevel  string
	logFormat string
	logger    *slog.Logger
}

func (o *globalOptions) bindFlags(root *cobra.Command) {
	root.PersistentFlags().StringVar(&o.logLevel, "log.level", envOr("DC2DC_LOG_LEVEL", "info"),
		"log level: debug, info, warn or error (env DC2DC_LOG_LEVEL)")
	root.PersistentFlags().StringVar(&o.logFormat, "log.format", envOr("DC2DC_LOG_FORMAT", "text"),
		"log format: text or json (env DC2DC_LOG_FORMAT)")
}

// setupLogging builds the process logger from the flags. Packages receive it
// through their Config; there is no global logger.
func (o *globalOptions) setupLogging(w io.Writer) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log.level %q is not a log level: use debug, info, warn or error", o.logLevel)
	}
	hopts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(o.logFormat) {
	case "text":
		o.logger = slog.New(slog.NewTextHandler(w, hopts))
	case "json":
		o.logger = slog.New(slog.NewJSONHandler(w, hopts))
	default:
		return fmt.Errorf("--log.format %q is not a log format: use text or json", o.logFormat)
	}
	return nil
}

// Logger returns the configured logger (a discarding one before setup).
func (o *globalOptions) Logger() *slog.Logger {
	if o.logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.logger
}

// envOr returns the environment variable's value, or def when it is unset.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}
