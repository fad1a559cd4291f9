package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// subcommands holds the constructors registered by the files of this package.
var subcommands []func(*globalOptions) *cobra.Command

// register adds a subcommand constructor. Call it from an init function.
func register(newCmd func(*globalOptions) *cobra.Command) {
	subcommands = append(subcommands, newCmd)
}

// exitCodeError lets a command choose its process exit code.
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string { return e.err.Error() }
func (e *exitCodeError) Unwrap() error { return e.err }

func main() { os.Exit(run()) }

// run executes the command line and returns the process exit code.
func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRootCmd().ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(os.Stderr, "dc2dc: %v\n", err)
	var ec *exitCodeError
	if errors.As(err, &ec) {
		return ec.code
	}
	return 1
}

func newRootCmd() *cobra.Command {
	opts := &globalOptions{}
	root := &cobra.Command{
		Use:   "dc2dc",
		Short: "Asynchronous datacenter-to-datacenter replication for ArangoDB clusters over Kafka",
		Long: `dc2dc replicates an ArangoDB cluster in datacenter A to a read-only replica
cluster in datacenter B through Kafka. See README.md and ARCHITECTURE.md.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return opts.setupLogging(cmd.ErrOrStderr())
		},
	}
	opts.bindFlags(root)
	cmds := make([]*cobra.Command, 0, len(subcommands))
	for _, newCmd := range subcommands {
		cmds = append(cmds, newCmd(opts))
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name() < cmds[j].Name() })
	root.AddCommand(cmds...)
	return root
}
