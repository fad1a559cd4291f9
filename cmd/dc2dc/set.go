package main

// `dc2dc set message timeout`.

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/dc2dc/dc2dc/handlers/control/api"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
)

func init() { register(newSetCmd) }

func newSetCmd(*globalOptions) *cobra.Command {
	return groupCmd("set", "Change a setting of a sync",
		groupCmd("message", "Change the message timeout of a sync", newSetMessageTimeoutCmd()))
}

func newSetMessageTimeoutCmd() *cobra.Command {
	var (
		m      masterFlags
		syncID string
		value  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "timeout (DURATION | --timeout DURATION) [--sync-id ID]",
		Short: "Set how long a silent shard stream may pause before it is resynchronised",
		Long: fmt.Sprintf(`Set the message timeout of a sync: a shard stream silent longer than this (no batches,
no heartbeats) is resynchronised when it resumes. Raise it before a planned outage of the
link between the datacenters (e.g. 3h) and set it back afterwards (default %v).`, plan.DefaultMessageTimeout),
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if cmd.Flags().Changed("timeout") {
					return usageError(fmt.Errorf("the timeout is given twice (%s and --timeout): give it once", args[0]))
				}
				d, err := time.ParseDuration(args[0])
				if err != nil {
					return usageError(fmt.Errorf("%q is not a duration: use e.g. 3h or 90m", args[0]))
				}
				value = d
			}
			if value == 0 && !cmd.Flags().Changed("timeout") && len(args) == 0 {
				return usageError(fmt.Errorf("the timeout is missing: give it with --timeout, e.g. --timeout 3h (default of a sync: %v)", plan.DefaultMessageTimeout))
			}
			if value < time.Second || value > api.MaxMessageTimeout {
				return usageError(fmt.Errorf("timeout %v: use 1s to %v (default of a sync: %v)", value, api.MaxMessageTimeout, plan.DefaultMessageTimeout))
			}
			return withClient(cmd, &m, 30*time.Second, 30*time.Second, func(ctx context.Context, cl *api.Client) error {
				if err := cl.SetMessageTimeout(ctx, syncID, value); err != nil {
					return err
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "message timeout of %s set to %v\n", theSync(syncID), value)
				return err
			})
		},
	}
	f := cmd.Flags()
	m.bind(f)
	syncFlag(f, &syncID)
	f.DurationVar(&value, "timeout", 0, "the message timeout, e.g. 3h")
	return operatorCmd(cmd)
}
