package main

// `dc2dc stop sync`: stop a sync cleanly and wait until it has stopped.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/dc2dc/dc2dc/handlers/control/api"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
)

func init() { register(newStopCmd) }

func newStopCmd(*globalOptions) *cobra.Command {
	return groupCmd("stop", "Stop a sync cleanly (run against the target's masters)", newStopSyncCmd())
}

// stopProgress summarises a stopping sync for the progress lines.
func stopProgress(s plan.SyncStatus) string {
	if s.State == plan.StateStopped {
		// The shards' phases read "stopped" now: counting them says nothing.
		return fmt.Sprintf("%s: %d shards", s.State, len(s.Shards))
	}
	inSync := 0
	for _, sh := range s.Shards {
		if sh.Phase == plan.ShardRunning && sh.LagTicks == 0 {
			inSync++
		}
	}
	return fmt.Sprintf("%s: %d of %d shards in sync, max lag %.1fs", s.State, inSync, len(s.Shards), s.MaxLagSeconds)
}

func newStopSyncCmd() *cobra.Command {
	var (
		m       masterFlags
		syncID  string
		ensure  bool
		timeout time.Duration
		every   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "sync [--sync-id ID] [--ensure-in-sync=true] [--timeout 2m]",
		Short: "Stop a sync cleanly and wait until it has stopped",
		Long: `Stop a sync of this (the target) datacenter and wait until it has stopped.

With --ensure-in-sync (the default) the source cluster is read-only until every shard
is in sync, then the sync stops and the source is writable again: the target then holds
exactly the source's data. With --ensure-in-sync=false the sync stops at once where it is.

The command prints the progress and exits 0 once the sync is stopped, 1 when it did not
stop within --timeout (the masters give up the stop at the same deadline; run
` + "`dc2dc abort sync`" + ` to end it regardless) or the stop failed.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout <= 0 {
				return usageError(fmt.Errorf("--timeout %v: use a positive duration, e.g. 2m", timeout))
			}
			out := cmd.OutOrStdout()
			// The masters give the stop up at the deadline (the sync runs
			// again, with the reason as its error): wait a little longer
			// to report their reason rather than our own timeout.
			grace := min(10*time.Second, timeout/2)
			return withClient(cmd, &m, 15*time.Second, timeout+grace, func(ctx context.Context, cl *api.Client) error {
				if err := cl.Stop(ctx, plan.StopRequest{Sync: syncID, EnsureInSync: ensure, TimeoutMillis: timeout.Milliseconds()}); err != nil {
					return err
				}
				if _, err := fmt.Fprintf(out, "stopping %s (ensure in sync: %v, timeout %v)\n", theSync(syncID), ensure, timeout); err != nil {
					return err
				}
				last := ""
				var cur plan.SyncStatus
				_, err := pollStatus(ctx, cl, every, cmd.ErrOrStderr(), func(st plan.Status) (bool, error) {
					s, err := findSync(st, syncID, plan.RoleTarget)
					if err != nil {
						return false, err
					}
					cur = s
					if p := stopProgress(s); p != last {
						last = p
						if _, err := fmt.Fprintf(out, "%s %s\n", time.Now().Format("15:04:05"), p); err != nil {
							return false, err
						}
					}
					switch s.State {
					case plan.StateStopped:
						return true, nil
					case plan.StateAborted:
						return false, failedError(fmt.Errorf("sync %s was aborted while stopping%s", s.ID, because(s.Error)))
					case plan.StateRunning:
						return false, failedError(fmt.Errorf("sync %s is running again: the stop was given up%s; retry, or end it with `dc2dc abort sync`", s.ID, because(s.Error)))
					}
					return false, nil
				})
				if errors.Is(err, context.DeadlineExceeded) {
					return failedError(fmt.Errorf("sync %s did not stop within %v (%s)%s: look at `dc2dc get status -v`, retry with a longer --timeout, or end it with `dc2dc abort sync`",
						cur.ID, timeout, stopProgress(cur), because(cur.Error)))
				}
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(out, "sync %s stopped\n", cur.ID)
				return err
			})
		},
	}
	f := cmd.Flags()
	m.bind(f)
	syncFlag(f, &syncID)
	f.BoolVar(&ensure, "ensure-in-sync", true, "make the source read-only until every shard is in sync before stopping")
	f.DurationVar(&timeout, "timeout", 2*time.Minute, "give up waiting after this long")
	f.DurationVar(&every, "poll-interval", time.Second, "how often to look at the status")
	_ = f.MarkHidden("poll-interval")
	return operatorCmd(cmd)
}

func because(e string) string {
	if e == "" {
		return ""
	}
	return ": " + e
}
