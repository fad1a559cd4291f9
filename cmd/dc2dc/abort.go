package main

// `dc2dc abort sync` and `dc2dc abort outgoing sync`.

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/dc2dc/dc2dc/handlers/control/api"
)

func init() { register(newAbortCmd) }

func newAbortCmd(*globalOptions) *cobra.Command {
	return groupCmd("abort", "End a sync at once (abort sync: target side; abort outgoing sync: source side)",
		newAbortSyncCmd(false),
		groupCmd("outgoing", "End a sync on its source side", newAbortSyncCmd(true)))
}

func newAbortSyncCmd(outgoing bool) *cobra.Command {
	var (
		m       masterFlags
		syncID  string
		timeout time.Duration
	)
	short := "End a sync of this (the target) datacenter at once, even when the source is unreachable"
	long := `End a sync at once: its tasks are removed, nothing is drained, and the target keeps the
data applied so far (it may lag the source). The source side keeps its part of the sync
until ` + "`dc2dc abort outgoing sync`" + ` runs against the source's masters (once reachable).
Use ` + "`dc2dc stop sync`" + ` for a clean stop.`
	if outgoing {
		short = "End a sync on this (the source) datacenter: its send tasks stop and its state is cleaned up"
		long = `Run against the masters of the source datacenter after ` + "`dc2dc abort sync`" + ` (or when
the target is gone): the sync's send tasks stop and the source forgets the sync.`
	}
	cmd := &cobra.Command{
		Use:   "sync [--sync-id ID]",
		Short: short,
		Long:  long,
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withClient(cmd, &m, timeout, timeout, func(ctx context.Context, cl *api.Client) error {
				var err error
				if outgoing {
					err = cl.AbortOutgoing(ctx, syncID)
				} else {
					err = cl.Abort(ctx, syncID)
				}
				if err != nil {
					return err
				}
				msg := "%s aborted: its tasks are removed; the target keeps the data applied so far.\n" +
					"Clean up the source with `dc2dc abort outgoing sync` against the source's masters once they are reachable.\n"
				if outgoing {
					msg = "outgoing %s aborted: this datacenter no longer sends it.\n"
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), msg, theSync(syncID))
				return err
			})
		},
	}
	f := cmd.Flags()
	m.bind(f)
	syncFlag(f, &syncID)
	f.DurationVar(&timeout, "timeout", 30*time.Second, "give up after this long")
	return operatorCmd(cmd)
}
