package main

// `dc2dc reset failed shard`.

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/dc2dc/dc2dc/handlers/control/api"
)

func init() { register(newResetCmd) }

func newResetCmd(*globalOptions) *cobra.Command {
	return groupCmd("reset", "Reset a failed shard of a sync",
		groupCmd("failed", "Reset a failed shard of a sync", newResetFailedShardCmd()))
}

func newResetFailedShardCmd() *cobra.Command {
	var (
		m       masterFlags
		syncID  string
		shard   string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "shard --shard DATABASE/COLLECTION/INDEX [--sync-id ID]",
		Short: "Make a failed shard start over (a new epoch: snapshot, then tailing)",
		Long: `Make a shard in phase failed start over: a new epoch with a snapshot of the source shard
(only the differences are sent when the target already holds data), then tailing. Fix the
cause first (` + "`dc2dc get status -v`" + ` shows the shard's error and its code; ` + "`dc2dc events decode`" + `
reads a poison message). The shard is named database/collection/index (0-based index; the
collection by name or id), e.g. --shard shop/orders/0.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := api.CheckShardName(shard); err != nil {
				return usageError(fmt.Errorf("--shard: %w", err))
			}
			return withClient(cmd, &m, timeout, timeout, func(ctx context.Context, cl *api.Client) error {
				if err := cl.ResetFailedShard(ctx, syncID, shard); err != nil {
					return err
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "shard %s of %s reset: it starts over (snapshot, then tailing); watch it with `dc2dc get status -v`\n", shard, theSync(syncID))
				return err
			})
		},
	}
	f := cmd.Flags()
	m.bind(f)
	syncFlag(f, &syncID)
	f.StringVar(&shard, "shard", "", "the failed shard: database/collection/index, e.g. shop/orders/0")
	f.DurationVar(&timeout, "timeout", 30*time.Second, "give up after this long")
	return operatorCmd(cmd)
}
